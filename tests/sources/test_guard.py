"""The URL/address policy on its own: shapes, addresses, resolution (no fetching)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

import pytest

from monitor.errors import BlockedURLError, FetchError
from monitor.sources.guard import URLGuard, is_public_address, safe_url


class TableResolver:
    """Answers from a dict; counts lookups; unknown names fail like DNS does."""

    def __init__(self, table: dict[str, Sequence[str]]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "/etc/passwd",
        "etc/passwd",
        "ftp://example.com/feed.xml",
        "gopher://example.com/",
        "feed://example.com/rss",
        "javascript:alert(1)",
        "data:text/xml,<rss/>",
        "http:///no-host",
        "http://",
        "http://user:pw@example.com/feed",
        "http://example.com@127.0.0.1/",
        "http://127.0.0.1\\@example.com/",
        "http://exa mple.com/",
        "http://example.com/\x00",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://1.2.3/",
        "http://%31%32%37.0.0.1/",
        "http://example.com:99999/",
    ],
)
def test_bad_url_shapes_are_refused_even_with_private_networks_allowed(url: str) -> None:
    for guard in (URLGuard(), URLGuard(allow_private_networks=True)):
        with pytest.raises(BlockedURLError, match="refused"):
            guard.check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.0.0.1:8080/feed",
        "http://localhost/",
        "http://LOCALHOST./",
        "http://api.localhost/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/",
        "http://10.1.2.3/",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[ff02::1]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[2002:7f00:1::]/",
    ],
)
def test_private_literals_are_refused_without_any_lookup(url: str) -> None:
    resolver = TableResolver({})
    with pytest.raises(BlockedURLError):
        URLGuard(resolver=resolver).check_url(url)
    assert resolver.calls == []
    URLGuard(allow_private_networks=True).check_url(url)  # allowed when configured


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/feed.xml",
        "http://Example.COM:8080/rss?x=1",
        "https://example.com./feed",
        "https://пример.рф/лента",
        "https://123.example/",
        "http://8.8.8.8/",
        "http://[2606:4700::1111]/",
    ],
)
def test_good_urls_pass(url: str) -> None:
    parsed = URLGuard().check_url(url)
    assert parsed.scheme in ("http", "https")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        ("0.0.0.0", False),
        ("192.0.0.8", False),
        ("198.18.0.1", False),
        ("240.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("::ffff:192.168.0.1", False),
        ("64:ff9b::a00:1", False),
        ("2001:db8::1", False),
        ("::", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


async def test_names_resolving_to_private_addresses_are_refused() -> None:
    resolver = TableResolver(
        {
            "evil.test": ["127.0.0.1"],
            "mixed.test": ["93.184.215.14", "10.0.0.5"],
            "good.test": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
        }
    )
    guard = URLGuard(resolver=resolver)
    with pytest.raises(BlockedURLError, match=r"evil\.test.*127\.0\.0\.1"):
        await guard.check("http://evil.test/feed")
    with pytest.raises(BlockedURLError, match=r"10\.0\.0\.5"):
        await guard.check("http://mixed.test/feed")  # one bad answer refuses the host
    parsed = await guard.check("https://good.test/feed")
    assert parsed.host == "good.test"
    assert await guard.resolve("good.test", 443) == resolver.table["good.test"]


async def test_dns_failure_is_a_fetch_error_not_a_block() -> None:
    guard = URLGuard(resolver=TableResolver({}))
    with pytest.raises(FetchError, match=r"DNS lookup failed for nowhere\.test") as info:
        await guard.check("http://nowhere.test/")
    assert not isinstance(info.value, BlockedURLError)


async def test_allowed_networks_count_as_public() -> None:
    resolver = TableResolver({"intranet.test": ["10.1.2.3"]})
    guard = URLGuard(resolver=resolver, allowed_networks=["10.1.0.0/16"])
    await guard.check("http://intranet.test/feed")
    guard.check_url("http://10.1.9.9/feed")
    with pytest.raises(BlockedURLError):
        guard.check_url("http://10.2.0.1/feed")


async def test_private_networks_allowed_skips_the_lookup() -> None:
    resolver = TableResolver({})
    guard = URLGuard(allow_private_networks=True, resolver=resolver)
    assert await guard.resolve("anything.test", 80) == ["anything.test"]
    assert resolver.calls == []


def test_safe_url_drops_query_and_credentials() -> None:
    assert safe_url("https://u:p@example.com:8443/feed?token=SECRET#x") == (
        "https://example.com:8443/feed"
    )
    assert safe_url("http://[::1]:81/a") == "http://[::1]:81/a"
