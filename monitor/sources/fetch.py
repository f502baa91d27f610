"""The safe HTTP fetcher for feeds and article pages.

``Fetcher.fetch(url, validators)`` makes one conditional GET and returns a
``FetchResult`` (decoded body, lower-case headers) or raises a ``FetchError`` subclass:

- every URL (the first and each redirect hop) passes ``URLGuard.check_url``; the
  connection pool's network backend resolves and checks addresses at connect time
  (see guard.py: no DNS rebinding);
- redirects are followed here, not by httpx: at most ``max_redirects`` hops, a loop
  is an error at once (``RedirectError``);
- one whole-request deadline (``asyncio.timeout``) covers connect, headers and body of
  all hops, so a 1 byte/s drip or a server that never answers ends in
  ``DeadlineError`` at the deadline; waiting for a per-host slot is not counted;
- the body cap applies to decoded bytes: raw bytes are read with ``aiter_raw`` and
  decompressed here with a maximum output length, so a gzip bomb never allocates
  more than the cap (``TooLargeError``); only ``gzip`` and ``deflate`` are asked for;
- at most ``per_host`` requests in flight per host (an ``asyncio.Semaphore`` each);
- 304 returns ``FetchResult(status=304, body=b"")``; 4xx/5xx raise ``HTTPStatusError``
  carrying ``retry_after`` (seconds) when the server sent Retry-After;
- httpx/httpcore/zlib exceptions never leave this module: they become ``FetchError``
  with a message naming the URL (without its query string) and the cause.

Because the body is returned decoded, ``content-encoding`` and ``content-length`` are
dropped from the returned headers. This module must not parse feeds, log URLs with
query strings, or follow redirects to anything the guard refuses.
"""

from __future__ import annotations

import asyncio
import errno
import http.cookiejar
import socket
import ssl
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType

import httpcore
import httpx

from monitor import __version__
from monitor.clock import Clock, SystemClock
from monitor.core.models import FetchResult, Validators
from monitor.core.schedule import parse_retry_after
from monitor.errors import (
    DeadlineError,
    FetchError,
    HTTPStatusError,
    RedirectError,
    TooLargeError,
)
from monitor.sources.guard import GuardedNetworkBackend, Resolver, URLGuard, safe_url

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, "
    "application/json;q=0.8, text/html;q=0.5, */*;q=0.3"
)
HTML_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
DEFAULT_USER_AGENT = f"monitor/{__version__} (+https://github.com/monitor; media monitoring)"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_INFLATE_STEP = 256 * 1024


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """Limits for every fetch; ``allowed_networks`` are CIDRs treated as public."""

    deadline_s: float = 30.0
    max_bytes: int = 10 * 2**20
    max_redirects: int = 5
    per_host: int = 2
    user_agent: str = DEFAULT_USER_AGENT
    allow_private_networks: bool = False
    connect_timeout_s: float = 10.0
    allowed_networks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if min(self.deadline_s, self.connect_timeout_s) <= 0 or self.max_bytes <= 0:
            raise ValueError("deadline_s, connect_timeout_s and max_bytes must be positive")
        if self.per_host < 1 or self.max_redirects < 0:
            raise ValueError("per_host must be >= 1 and max_redirects >= 0")


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with a connection pool whose sockets go through the guard."""

    def __init__(
        self, guard: URLGuard, *, limits: httpx.Limits, ssl_context: ssl.SSLContext | None
    ) -> None:
        super().__init__(trust_env=False, limits=limits)
        # httpx builds its pool without a way to pass a network backend; replace it with
        # an identical pool that has one. Covered by the SSRF tests in test_fetch.py.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            retries=0,
            network_backend=GuardedNetworkBackend(guard),
        )


class _BodyDecoder:
    """Collects a response body, decompressing gzip/deflate, never past ``limit`` bytes."""

    def __init__(self, encoding: str, limit: int, where: str) -> None:
        self._limit = limit
        self._where = where
        self._buf = bytearray()
        self._gzip = encoding in ("gzip", "x-gzip")
        self._deflate = encoding == "deflate"
        if encoding not in ("", "identity") and not (self._gzip or self._deflate):
            raise FetchError(f"{where}: unsupported content-encoding {encoding!r}")
        self._wbits = 16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS
        self._z = zlib.decompressobj(self._wbits) if (self._gzip or self._deflate) else None
        self._started = False

    def _append(self, data: bytes) -> None:
        if len(self._buf) + len(data) > self._limit:
            raise TooLargeError(f"{self._where}: body larger than {self._limit} bytes (decoded)")
        self._buf += data

    def feed(self, data: bytes) -> None:
        if self._z is None:
            self._append(data)
            return
        while data:
            if self._z.eof:
                if not (self._gzip and data.startswith(b"\x1f\x8b")):
                    return  # trailing bytes after the stream: ignored, like httpx does
                self._z = zlib.decompressobj(self._wbits)  # next gzip member
            # Small steps: zlib joins its output blocks at the end of a call, so one
            # call producing n bytes briefly holds 2n. Bounded steps keep that small.
            room = min(self._limit - len(self._buf) + 1, _INFLATE_STEP)
            try:
                out = self._z.decompress(data, room)
            except zlib.error as exc:
                if self._deflate and not self._started:  # raw deflate without zlib header
                    self._wbits = -zlib.MAX_WBITS
                    self._z = zlib.decompressobj(self._wbits)
                    self._started = True
                    continue
                raise FetchError(f"{self._where}: corrupt compressed body ({exc})") from exc
            self._started = True
            self._append(out)
            data = self._z.unused_data if self._z.eof else self._z.unconsumed_tail

    def finish(self) -> bytes:
        if self._z is not None and not self._z.eof:
            try:
                self._append(self._z.flush())  # a truncated stream keeps what arrived
            except zlib.error as exc:
                raise FetchError(f"{self._where}: corrupt compressed body ({exc})") from exc
        return bytes(self._buf)


def _cause(exc: BaseException) -> str:
    """A short human cause for a network exception, from its chain of causes."""
    chain: list[BaseException] = []
    node: BaseException | None = exc
    while node is not None and node not in chain:
        chain.append(node)
        node = node.__cause__ or node.__context__
    for item in chain:
        if isinstance(item, ssl.SSLCertVerificationError):
            return f"TLS certificate verification failed ({item.verify_message})"
        if isinstance(item, ssl.SSLError):
            return f"TLS error ({item.reason or item})"
        if isinstance(item, socket.gaierror):
            return f"DNS lookup failed ({item.strerror or item})"
        if isinstance(item, OSError) and item.errno == errno.ECONNREFUSED:
            return "connection refused"
        if isinstance(item, OSError) and item.errno == errno.ECONNRESET:
            return "connection reset"
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"protocol error ({exc})"
    return f"{type(exc).__name__} ({exc})" if str(exc) else type(exc).__name__


class Fetcher:
    """One shared httpx client with the limits of ``FetchSettings``; use ``async with``."""

    def __init__(
        self,
        settings: FetchSettings | None = None,
        *,
        resolver: Resolver | None = None,
        clock: Clock | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``resolver`` and ``clock`` are for tests; ``ssl_context`` replaces the default
        (certifi roots, hostname verification) - e.g. to trust a private CA."""
        self.settings = settings or FetchSettings()
        self.guard = URLGuard(
            allow_private_networks=self.settings.allow_private_networks,
            allowed_networks=self.settings.allowed_networks,
            resolver=resolver,
        )
        self._clock: Clock = clock or SystemClock()
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self._client = httpx.AsyncClient(
            transport=_GuardedTransport(self.guard, limits=limits, ssl_context=ssl_context),
            follow_redirects=False,
            trust_env=False,
            # No cookies kept between requests: no state across feeds, no growth over months.
            cookies=http.cookiejar.CookieJar(
                http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
            ),
            timeout=httpx.Timeout(
                self.settings.deadline_s, connect=self.settings.connect_timeout_s, pool=None
            ),
            headers={
                "User-Agent": self.settings.user_agent,
                "Accept-Encoding": "gzip, deflate",
            },
        )
        self._slots: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def _slot(self, host: str) -> asyncio.Semaphore:
        slot = self._slots.get(host)
        if slot is None:
            slot = self._slots[host] = asyncio.Semaphore(self.settings.per_host)
        return slot

    async def fetch(
        self, url: str, validators: Validators | None = None, *, accept: str = FEED_ACCEPT
    ) -> FetchResult:
        """GET ``url`` (conditional when ``validators`` are given) within the limits."""
        started = time.perf_counter()
        current = self.guard.check_url(url)
        headers = {"Accept": accept}
        if validators is not None and validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators is not None and validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        seen = {str(current)}
        deadline: float | None = None
        for _ in range(self.settings.max_redirects + 1):
            async with self._slot(current.host):
                if deadline is None:
                    deadline = asyncio.get_running_loop().time() + self.settings.deadline_s
                budget = asyncio.timeout_at(deadline)
                try:
                    async with budget:
                        outcome = await self._exchange(current, headers)
                except TimeoutError as exc:
                    if not budget.expired():
                        raise FetchError(f"{safe_url(current)}: timeout") from exc
                    raise DeadlineError(
                        f"{safe_url(current)}: no complete response within "
                        f"{self.settings.deadline_s:g} s"
                    ) from exc
            if isinstance(outcome, FetchResult):
                elapsed_ms = (time.perf_counter() - started) * 1e3
                return FetchResult(
                    outcome.url, outcome.status, outcome.headers, outcome.body, elapsed_ms
                )
            target = self.guard.check_url(outcome)
            if str(target) in seen:
                raise RedirectError(f"{safe_url(url)}: redirect loop at {safe_url(target)}")
            seen.add(str(target))
            current = target
        raise RedirectError(f"{safe_url(url)}: more than {self.settings.max_redirects} redirects")

    async def _exchange(
        self, url: httpx.URL, headers: Mapping[str, str]
    ) -> FetchResult | httpx.URL:
        """One request: a result, or the next URL when the answer is a redirect."""
        where = safe_url(url)
        try:
            request = self._client.build_request("GET", url, headers=headers)
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise FetchError(f"{where}: {_cause(exc)}") from exc
        try:
            return await self._handle(url, response)
        except httpx.HTTPError as exc:
            raise FetchError(f"{where}: {_cause(exc)}") from exc
        finally:
            await response.aclose()

    async def _handle(self, url: httpx.URL, response: httpx.Response) -> FetchResult | httpx.URL:
        where = safe_url(url)
        status = response.status_code
        location = response.headers.get("location")
        if status in _REDIRECTS and location:
            try:
                return url.join(location.strip())
            except httpx.InvalidURL as exc:
                raise RedirectError(f"{where}: invalid redirect target ({exc})") from exc
        headers = {k.lower(): v for k, v in response.headers.items()}
        if status == 304:
            return FetchResult(str(url), status, headers, b"")
        if status >= 300:
            retry_after = parse_retry_after(headers.get("retry-after"), self._clock.now())
            reason = response.reason_phrase or "error"
            raise HTTPStatusError(
                status, f"{where}: HTTP {status} {reason}", retry_after=retry_after
            )
        body = await self._read_body(response, headers, where)
        headers.pop("content-encoding", None)
        headers.pop("content-length", None)
        return FetchResult(str(url), status, headers, body)

    async def _read_body(
        self, response: httpx.Response, headers: Mapping[str, str], where: str
    ) -> bytes:
        limit = self.settings.max_bytes
        encoding = headers.get("content-encoding", "").strip().lower()
        declared = headers.get("content-length", "").strip()
        if encoding in ("", "identity") and declared.isdigit() and int(declared) > limit:
            raise TooLargeError(f"{where}: body of {declared} bytes is over {limit} bytes")
        decoder = _BodyDecoder(encoding, limit, where)
        received = 0
        async for chunk in response.aiter_raw():
            received += len(chunk)
            if received > limit:  # raw bytes too: endless empty deflate blocks
                raise TooLargeError(f"{where}: body larger than {limit} bytes")
            decoder.feed(chunk)
        return decoder.finish()
