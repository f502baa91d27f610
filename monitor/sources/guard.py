"""The URL and address policy for everything monitor fetches (feeds, article pages).

Two layers, both raising ``BlockedURLError`` with a message that says what was refused:

1. ``URLGuard.check_url`` (no I/O): the URL must be ``http``/``https`` with a host and a
   valid port; no credentials in it (``user:pw@`` tricks), no whitespace, control
   characters or backslashes, no ambiguous numeric hosts (``2130706433``, ``0x7f.1``,
   ``127.1``, ``0177.0.0.1``), and - unless private networks are allowed - no
   ``localhost`` names and no IP literal outside the public internet.
2. ``URLGuard.resolve`` (DNS): the host's addresses, every one of which must be public
   (loopback, private, link-local such as 169.254.169.254, unspecified, multicast,
   reserved, shared CGNAT space, documentation ranges, and IPv4 addresses hidden in
   IPv6 forms - ``::ffff:127.0.0.1``, 6to4, Teredo, NAT64 - are refused). If any answer
   is refused the host is refused. ``allowed_networks`` lists networks to treat as
   public anyway (an operator's intranet feed server; 127.0.0.2 in tests).

DNS rebinding is defeated by pinning at the socket layer: ``GuardedNetworkBackend`` is
the httpcore network backend of the fetcher's connection pool. httpcore calls its
``connect_tcp`` with the host name of every connection it opens (first request and
every redirect hop alike); the backend resolves the name once through the guard, checks
every answer, and opens the socket to a checked IP literal. There is no second lookup
to rebind. TLS is untouched: httpcore still sends the URL's host name as SNI and
verifies the certificate against it, and connections are pooled by host name.

``URLGuard.check`` runs both layers; use it when a user subscribes to a URL, so a bad
URL is refused at once rather than at the first poll. ``safe_url`` renders a URL
for messages and logs without its query string (which may carry secrets).

This module must not fetch anything: it only parses, resolves and decides.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence

import httpcore
import httpx

from monitor.errors import BlockedURLError, FetchError

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""An async DNS resolver: ``(host, port) -> IP address strings``."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_SCHEMES = frozenset({"http", "https"})
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_HOST_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Ranges Python's ``is_global`` lets through but nobody should fetch feeds from.
_EXTRA_BLOCKED: tuple[IPNetwork, ...] = (
    ipaddress.IPv4Network("192.0.0.0/24"),  # IETF protocol assignments
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # local-use NAT64
)


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the event loop's ``getaddrinfo`` (the default resolver)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def safe_url(url: str | httpx.URL) -> str:
    """``scheme://host[:port]/path`` without userinfo, query or fragment, for messages."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "<invalid URL>"
    if not parsed.scheme:
        return parsed.path[:200] or "<invalid URL>"
    if not parsed.host:
        return f"{parsed.scheme}:{parsed.path}"[:200]
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{host}{port}{parsed.path}"[:300]


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(ip: IPAddress) -> bool:
    """True when ``ip`` is a unicast address on the public internet."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return is_public_address(inner)
    return not (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or any(ip in net for net in _EXTRA_BLOCKED if net.version == ip.version)
    )


def _parse_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


class URLGuard:
    """Decides which URLs and addresses monitor may connect to.

    ``allow_private_networks=True`` lifts the address checks (a self-hosted setup, the
    tests' 127.0.0.1 servers); the URL shape checks always apply.
    """

    def __init__(
        self,
        *,
        allow_private_networks: bool = False,
        allowed_networks: Iterable[str] = (),
        resolver: Resolver | None = None,
    ) -> None:
        self.allow_private_networks = allow_private_networks
        self.allowed_networks: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in allowed_networks
        )
        self._resolver: Resolver = resolver or system_resolver

    def check_url(self, url: str | httpx.URL) -> httpx.URL:
        """Parse and check ``url`` without any I/O; return it parsed, or raise."""
        text = str(url)
        if _BAD_CHARS.search(text.strip()):
            raise BlockedURLError(f"refused URL {safe_url(text)}: whitespace or backslash in it")
        try:
            parsed = httpx.URL(text.strip())
        except httpx.InvalidURL as exc:
            raise BlockedURLError(f"refused URL {safe_url(text)}: {exc}") from exc
        if parsed.scheme not in _SCHEMES:
            scheme = parsed.scheme or "no scheme"
            raise BlockedURLError(
                f"refused URL {safe_url(parsed)}: {scheme!s} is not http or https"
            )
        if parsed.userinfo:
            raise BlockedURLError(
                f"refused URL {safe_url(parsed)}: credentials in URLs are not accepted"
            )
        port = parsed.port
        if port is not None and not 0 < port < 65536:
            raise BlockedURLError(f"refused URL {safe_url(parsed)}: port {port} out of range")
        self._check_host(parsed.raw_host.decode("ascii", "replace").lower(), parsed)
        return parsed

    def _check_host(self, host: str, parsed: httpx.URL) -> None:
        where = safe_url(parsed)
        if not host:
            raise BlockedURLError(f"refused URL {where}: it has no host")
        ip = _parse_ip(host)
        if ip is None:
            name = host.rstrip(".")
            if not _HOST_NAME.match(name):
                raise BlockedURLError(f"refused URL {where}: {host!r} is not a valid host name")
            if _NUMERIC_LABEL.match(name.rsplit(".", 1)[-1]):
                raise BlockedURLError(
                    f"refused URL {where}: {host!r} is an ambiguous numeric address; "
                    "write it as a dotted quad"
                )
            if not self.allow_private_networks and (
                name == "localhost" or name.endswith(".localhost")
            ):
                raise BlockedURLError(f"refused URL {where}: localhost is not allowed")
            return
        if not self.address_allowed(ip):
            raise BlockedURLError(f"refused URL {where}: {ip} is not a public address")

    def address_allowed(self, ip: IPAddress) -> bool:
        """Whether a connection to ``ip`` is allowed under this policy."""
        if self.allow_private_networks:
            return True
        if any(ip.version == net.version and ip in net for net in self.allowed_networks):
            return True
        return is_public_address(ip)

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``, all checked; raise if any is refused.

        With private networks allowed the name is returned as is (the socket layer
        resolves it). IP literals are checked without a lookup.
        """
        host = host.strip("[]")
        literal = _parse_ip(host)
        if literal is not None:
            if not self.address_allowed(literal):
                raise BlockedURLError(f"refused {host}: not a public address")
            return [host]
        if self.allow_private_networks:
            return [host]
        name = host.rstrip(".").lower()
        if name == "localhost" or name.endswith(".localhost"):
            raise BlockedURLError(f"refused {host}: localhost is not allowed")
        try:
            answers = list(await self._resolver(host, port))
        except OSError as exc:
            raise FetchError(f"DNS lookup failed for {host}: {exc}") from exc
        addresses = [_parse_ip(a) for a in answers]
        if not addresses:
            raise FetchError(f"DNS lookup failed for {host}: no addresses")
        refused = [a for a, ip in zip(answers, addresses, strict=True) if ip is None]
        refused += [str(ip) for ip in addresses if ip is not None and not self.address_allowed(ip)]
        if refused:
            raise BlockedURLError(
                f"refused {host}: resolves to non-public address(es) {', '.join(refused)}"
            )
        return answers

    async def check(self, url: str | httpx.URL) -> httpx.URL:
        """Both layers: the URL shape, then every address its host resolves to."""
        parsed = self.check_url(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        await self.resolve(parsed.raw_host.decode("ascii"), port)
        return parsed


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend that connects only to addresses the guard approved.

    Every TCP connection goes: guard.resolve(host) -> connect to one of the checked IP
    literals (tried in order). The name is never handed to the socket layer when the
    address checks are on, so a second DNS answer cannot redirect the connection.
    """

    def __init__(self, guard: URLGuard, inner: httpcore.AsyncNetworkBackend | None = None):
        self._guard = guard
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._guard.resolve(host, port)
        except BlockedURLError:
            raise
        except FetchError as exc:  # DNS failure: report it like any connect failure
            raise httpcore.ConnectError(str(exc)) from exc.__cause__
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedURLError("refused: unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
