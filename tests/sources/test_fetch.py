"""The fetcher against real HTTP servers on loopback (tests/support/feed_server.py)."""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import subprocess
import time
import tracemalloc
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from monitor.clock import FixedClock
from monitor.core.models import Validators
from monitor.errors import (
    BlockedURLError,
    DeadlineError,
    FetchError,
    HTTPStatusError,
    RedirectError,
    TooLargeError,
)
from monitor.sources.fetch import Fetcher, FetchSettings
from tests.support.feed_server import (
    FeedServer,
    Request,
    Response,
    closed_port,
    gzip_bomb,
    redirect,
    retry_after,
    sequence,
)

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Test desk</title>
<item><title>First report</title><link>https://news.example/1</link></item>
</channel></rss>"""
LOCAL = FetchSettings(allow_private_networks=True)
MiB = 2**20


@pytest.fixture
async def fetcher():
    async with Fetcher(LOCAL) as f:
        yield f


async def test_ok_returns_body_and_lower_case_headers(fetcher, feed_server) -> None:
    url = feed_server.route(
        "/feed.xml", Response(RSS, headers={"X-Feed-Generator": "Hand", "ETag": '"v1"'})
    )
    result = await fetcher.fetch(url)
    assert result.status == 200
    assert result.body == RSS
    assert result.url == url
    assert all(k == k.lower() for k in result.headers)
    assert result.headers["x-feed-generator"] == "Hand"
    assert result.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert result.headers["etag"] == '"v1"'
    assert result.elapsed_ms > 0
    sent = feed_server.requests("/feed.xml")[0].headers
    assert sent["user-agent"].startswith("monitor/")
    assert sent["accept-encoding"] == "gzip, deflate"
    assert "application/rss+xml" in sent["accept"]


async def test_html_and_empty_bodies_come_back_as_they_are(fetcher, feed_server) -> None:
    html = feed_server.route("/page", Response("<html>hi</html>", content_type="text/html"))
    empty = feed_server.route("/empty", Response(b""))
    assert (await fetcher.fetch(html)).headers["content-type"] == "text/html"
    assert (await fetcher.fetch(empty)).body == b""


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_compressed_bodies_are_decoded(fetcher, feed_server, encoding) -> None:
    url = feed_server.route("/z", Response(RSS * 50, encoding=encoding))
    result = await fetcher.fetch(url)
    assert result.body == RSS * 50
    assert "content-encoding" not in result.headers


async def test_raw_deflate_and_multi_member_gzip(fetcher, feed_server) -> None:
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = raw.compress(RSS) + raw.flush()
    url = feed_server.route("/raw", Response(body, headers={"Content-Encoding": "deflate"}))
    assert (await fetcher.fetch(url)).body == RSS
    two = gzip.compress(RSS[:50]) + gzip.compress(RSS[50:])
    url = feed_server.route("/two", Response(two, headers={"Content-Encoding": "gzip"}))
    assert (await fetcher.fetch(url)).body == RSS


async def test_unasked_encodings_and_corrupt_gzip_are_errors(fetcher, feed_server) -> None:
    br = feed_server.route("/br", Response(b"xx", headers={"Content-Encoding": "br"}))
    with pytest.raises(FetchError, match="unsupported content-encoding"):
        await fetcher.fetch(br)
    bad = feed_server.route("/bad", Response(b"not gzip", headers={"Content-Encoding": "gzip"}))
    with pytest.raises(FetchError, match="corrupt"):
        await fetcher.fetch(bad)


async def test_conditional_get_every_repeat_poll(fetcher, feed_server) -> None:
    """F01: every repeat poll carries the validators; an unchanged feed answers 304."""
    stamp = "Sun, 01 Mar 2026 10:00:00 GMT"
    url = feed_server.route("/feed.xml", Response(RSS, etag='"abc"', last_modified=stamp))
    validators: Validators | None = None
    statuses = []
    for _ in range(5):
        result = await fetcher.fetch(url, validators)
        statuses.append(result.status)
        if result.status == 200:
            validators = Validators(result.headers.get("etag"), result.headers.get("last-modified"))
        else:
            assert result.not_modified and result.body == b""
    repeats = feed_server.requests("/feed.xml")[1:]
    conditional = sum(r.conditional for r in repeats) / len(repeats)
    print(f"conditional repeat polls: {conditional:.0%}")
    assert conditional == 1.0
    assert statuses == [200, 304, 304, 304, 304]
    assert repeats[0].headers["if-none-match"] == '"abc"'
    assert repeats[0].headers["if-modified-since"] == stamp


async def test_last_modified_alone_gives_304(fetcher, feed_server) -> None:
    stamp = "Sun, 01 Mar 2026 10:00:00 GMT"
    url = feed_server.route("/lm", Response(RSS, last_modified=stamp))
    result = await fetcher.fetch(url, Validators(last_modified=stamp))
    assert result.status == 304


async def test_a_hook_changes_the_feed_between_polls(fetcher, feed_server) -> None:
    def cycle(request: Request) -> Response:
        items = "".join(f"<item><guid>{i}</guid></item>" for i in range(request.index + 1))
        return Response(f"<rss><channel>{items}</channel></rss>")

    url = feed_server.route("/grow", cycle)
    bodies = [(await fetcher.fetch(url)).body for _ in range(3)]
    assert [b.count(b"<item>") for b in bodies] == [1, 2, 3]


async def test_retry_after_in_seconds(fetcher, feed_server) -> None:
    url = feed_server.route("/limited", retry_after(120))
    with pytest.raises(HTTPStatusError) as info:
        await fetcher.fetch(url)
    assert info.value.status == 429
    assert info.value.retry_after == 120.0
    assert info.value.reason == "http_status"


async def test_retry_after_as_an_http_date(feed_server) -> None:
    clock = FixedClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    when = format_datetime(clock.now() + timedelta(seconds=90), usegmt=True)
    url = feed_server.route("/busy", retry_after(when, status=503))
    async with Fetcher(LOCAL, clock=clock) as fetcher:
        with pytest.raises(HTTPStatusError) as info:
            await fetcher.fetch(url)
    assert info.value.status == 503
    assert info.value.retry_after == 90.0


@pytest.mark.parametrize("status", [404, 410, 500])
async def test_error_statuses(fetcher, feed_server, status) -> None:
    url = feed_server.url("/x") + "?token=SECRET"
    feed_server.route("/x", Response(b"no", status=status))
    with pytest.raises(HTTPStatusError) as info:
        await fetcher.fetch(url)
    assert info.value.status == status
    assert info.value.retry_after is None
    assert f"HTTP {status}" in str(info.value)
    assert "SECRET" not in str(info.value)  # messages get logged: no query strings


async def test_error_streak_then_recovery(fetcher, feed_server) -> None:
    url = feed_server.route("/flaky", sequence(*[Response(status=503)] * 3, Response(RSS)))
    for _ in range(3):
        with pytest.raises(HTTPStatusError):
            await fetcher.fetch(url)
    assert (await fetcher.fetch(url)).body == RSS


async def test_connection_refused(fetcher) -> None:
    url = f"http://127.0.0.1:{closed_port()}/feed?key=SECRET"
    with pytest.raises(FetchError, match="connection refused") as info:
        await fetcher.fetch(url)
    assert "127.0.0.1" in str(info.value)
    assert "SECRET" not in str(info.value)
    assert isinstance(info.value.__cause__, Exception)  # raised from the library error


@pytest.mark.parametrize(
    "response", [Response(RSS * 100, drip_s=1.0), Response(hang=True)], ids=["drip", "hang"]
)
async def test_whole_request_deadline(feed_server, response) -> None:
    """F05: a 1 byte/s drip and a server that never answers both end at the deadline."""
    url = feed_server.route("/slow", response)
    fast = feed_server.route("/fast", Response(RSS))
    async with Fetcher(FetchSettings(allow_private_networks=True, deadline_s=1.5)) as fetcher:
        started = time.monotonic()
        slow_task = asyncio.create_task(fetcher.fetch(url))
        await asyncio.sleep(0.2)
        assert (await fetcher.fetch(fast)).status == 200  # other fetches go on meanwhile
        fast_done = time.monotonic() - started
        with pytest.raises(DeadlineError, match=r"1\.5 s"):
            await slow_task
        wall = time.monotonic() - started
    print(f"deadline 1.5 s, wall time {wall:.2f} s, parallel fetch done at {fast_done:.2f} s")
    assert 1.5 <= wall < 2.5
    assert fast_done < 1.0


async def test_announced_oversize_body_is_refused_at_the_headers(feed_server) -> None:
    """F03: 50 MiB with Content-Length: refused before reading the body."""
    url = feed_server.route("/huge", Response(stream_size=50 * MiB))
    async with Fetcher(LOCAL) as fetcher:
        started = time.monotonic()
        with pytest.raises(TooLargeError, match="52428800 bytes"):
            await fetcher.fetch(url)
        elapsed = time.monotonic() - started
    print(f"50 MiB announced: refused in {elapsed * 1e3:.0f} ms")
    assert elapsed < 1.0


async def test_unannounced_oversize_body_stops_at_the_cap(feed_server) -> None:
    """F03: 50 MiB without Content-Length: reading stops at the cap, not at 50 MiB."""
    url = feed_server.route("/huge", Response(stream_size=50 * MiB, content_length=False))
    async with Fetcher(LOCAL) as fetcher:
        with pytest.raises(TooLargeError, match="larger than 10485760"):
            await fetcher.fetch(url)
    await asyncio.sleep(0.2)
    sent = feed_server.requests("/huge")[0].bytes_sent
    print(f"50 MiB unannounced: server wrote {sent / MiB:.1f} MiB before the client hung up")
    assert sent < 30 * MiB


async def test_gzip_bomb_is_stopped_with_bounded_memory(feed_server) -> None:
    """F04: 200 KiB of gzip inflating to 200 MiB: TooLargeError, peak memory < 2x cap."""
    url = feed_server.route("/bomb", gzip_bomb())  # built before measuring
    cap = 10 * MiB
    async with Fetcher(LOCAL) as fetcher:
        tracemalloc.start()
        try:
            with pytest.raises(TooLargeError, match="decoded"):
                await fetcher.fetch(url)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    print(f"gzip bomb: peak traced memory {peak / MiB:.1f} MiB for a {cap / MiB:.0f} MiB cap")
    assert peak < 2 * cap


async def test_body_at_the_cap_is_accepted(feed_server) -> None:
    url = feed_server.route("/exact", Response(b"x" * 1000, encoding="gzip"))
    async with Fetcher(FetchSettings(allow_private_networks=True, max_bytes=1000)) as fetcher:
        assert len((await fetcher.fetch(url)).body) == 1000
    url = feed_server.route("/over", Response(b"x" * 1001, encoding="gzip"))
    async with Fetcher(FetchSettings(allow_private_networks=True, max_bytes=1000)) as fetcher:
        with pytest.raises(TooLargeError):
            await fetcher.fetch(url)


async def test_redirects_are_followed_and_relative_locations_resolved(fetcher, feed_server):
    feed_server.route("/old", redirect("/middle", status=301))
    feed_server.route("/middle", redirect(feed_server.url("/new"), status=308))
    new = feed_server.route("/new", Response(RSS))
    result = await fetcher.fetch(feed_server.url("/old"))
    assert result.url == new
    assert result.body == RSS


async def test_redirect_loop_fails_fast(fetcher, feed_server) -> None:
    """F06: a loop is an error at the first repeated URL."""
    feed_server.route("/a", redirect("/b"))
    feed_server.route("/b", redirect("/a"))
    started = time.monotonic()
    with pytest.raises(RedirectError, match="loop"):
        await fetcher.fetch(feed_server.url("/a"))
    elapsed = time.monotonic() - started
    print(f"redirect loop: error after {elapsed * 1e3:.0f} ms, {feed_server.hits} requests")
    assert elapsed < 1.0
    assert feed_server.hits == 2


async def test_long_redirect_chain_fails_after_max_redirects(fetcher, feed_server) -> None:
    """F06: a 25-hop chain stops after max_redirects (5) hops."""
    for i in range(25):
        feed_server.route(f"/hop{i}", redirect(f"/hop{i + 1}"))
    feed_server.route("/hop25", Response(RSS))
    started = time.monotonic()
    with pytest.raises(RedirectError, match="more than 5 redirects"):
        await fetcher.fetch(feed_server.url("/hop0"))
    elapsed = time.monotonic() - started
    print(f"25-hop chain: error after {elapsed * 1e3:.0f} ms, {feed_server.hits} requests")
    assert elapsed < 1.0
    assert feed_server.hits == 6


async def test_per_host_concurrency_cap_seen_at_the_server(feed_server) -> None:
    """F13: 8 feeds on one host, per_host=2: the server never sees more than 2 at once."""
    urls = [feed_server.route(f"/f{i}", Response(RSS, delay_s=0.2)) for i in range(8)]
    async with Fetcher(FetchSettings(allow_private_networks=True, per_host=2)) as fetcher:
        started = time.monotonic()
        results = await asyncio.gather(*(fetcher.fetch(u) for u in urls))
        elapsed = time.monotonic() - started
    print(f"per-host cap 2: max concurrent at server {feed_server.max_concurrent}")
    assert all(r.status == 200 for r in results)
    assert feed_server.max_concurrent == 2
    assert elapsed >= 0.8  # 4 rounds of 0.2 s


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="per_host"):
        FetchSettings(per_host=0)
    with pytest.raises(ValueError, match="positive"):
        FetchSettings(max_bytes=0)


# -- SSRF: the canary on 127.0.0.1 must never be reached --------------------------------


class TableResolver:
    def __init__(self, table: dict[str, Sequence[str]]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append(host)
        return self.table[host]


class FlippingResolver:
    """A rebinding DNS server: the first answer differs from all later ones."""

    def __init__(self, first: str, later: str) -> None:
        self.answers = [first, later]
        self.calls = 0

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls += 1
        return [self.answers[min(self.calls - 1, 1)]]


def canary_urls(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/",
        f"http://localhost:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        f"http://[::1]:{port}/",
        f"http://0.0.0.0:{port}/",
        f"http://2130706433:{port}/",
        f"http://0x7f000001:{port}/",
        f"http://127.1:{port}/",
        f"http://evil.test:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        f"file:///etc/passwd#{port}",
        "/etc/passwd",
        f"ftp://127.0.0.1:{port}/",
        f"gopher://127.0.0.1:{port}/",
        f"feed://127.0.0.1:{port}/",
        "javascript:alert(1)",
    ]


async def test_ssrf_targets_are_refused_and_the_canary_sees_nothing(canary) -> None:
    """F07/F09: private addresses, odd IP forms, names resolving to loopback, schemes."""
    resolver = TableResolver({"evil.test": ["127.0.0.1"]})
    urls = canary_urls(canary.port)
    async with Fetcher(FetchSettings(), resolver=resolver) as fetcher:
        for url in urls:
            with pytest.raises(BlockedURLError, match="refused"):
                await fetcher.fetch(url)
    print(f"SSRF: canary hits {canary.hits} / {len(urls)} attempts")
    assert canary.hits == 0
    assert resolver.calls == ["evil.test"]  # the only name needing DNS; the rest: no I/O


async def test_redirect_to_a_private_address_is_refused(canary) -> None:
    """F08: a 'public' server (127.0.0.2, allowed for the test) redirects to 127.0.0.1."""
    settings = FetchSettings(allowed_networks=("127.0.0.2/32",))
    resolver = TableResolver({"evil.test": ["127.0.0.1"]})
    with FeedServer(host="127.0.0.2") as public:
        public.route("/feed", Response(RSS))
        public.route("/to-canary", redirect(canary.url("/")))
        public.route("/to-name", redirect(f"http://evil.test:{canary.port}/"))
        async with Fetcher(settings, resolver=resolver) as fetcher:
            assert (await fetcher.fetch(public.url("/feed"))).body == RSS
            for path in ("/to-canary", "/to-name"):
                with pytest.raises(BlockedURLError):
                    await fetcher.fetch(public.url(path))
    assert canary.hits == 0


async def test_dns_rebinding_is_refused_at_connect_time() -> None:
    """F08: the name resolves to a public address when checked, to loopback afterwards.

    The connection uses the address checked at connect time, so the second answer is
    refused there; a fetcher that checked first and let the socket layer resolve again
    would reach the canary.
    """
    with FeedServer(host="127.0.0.2") as public:
        try:
            canary = FeedServer(host="127.0.0.1", port=public.port).start()
        except OSError:
            pytest.skip("port taken on 127.0.0.1")
        try:
            resolver = FlippingResolver(first="127.0.0.2", later="127.0.0.1")
            settings = FetchSettings(allowed_networks=("127.0.0.2/32",))
            async with Fetcher(settings, resolver=resolver) as fetcher:
                url = f"http://rebind.test:{public.port}/feed"
                await fetcher.guard.check(url)  # subscribe-time check: answer 1, passes
                with pytest.raises(BlockedURLError, match=r"127\.0\.0\.1"):
                    await fetcher.fetch(url)  # connect-time: answer 2, refused
            assert resolver.calls == 2
            assert canary.hits == 0
            assert public.hits == 0
        finally:
            canary.stop()


async def test_names_are_pinned_to_the_checked_address(feed_server) -> None:
    """With checks on, a name is connected by its checked IP and keeps its Host header."""
    with FeedServer(host="127.0.0.2") as public:
        public.route("/feed", Response(RSS))
        resolver = TableResolver({"feeds.test": ["127.0.0.2"]})
        settings = FetchSettings(allowed_networks=("127.0.0.2/32",))
        async with Fetcher(settings, resolver=resolver) as fetcher:
            result = await fetcher.fetch(f"http://feeds.test:{public.port}/feed")
        assert result.body == RSS
        assert public.requests("/feed")[0].headers["host"] == f"feeds.test:{public.port}"


async def test_dns_failure_names_the_host(feed_server) -> None:
    async def nxdomain(host: str, port: int) -> Sequence[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async with Fetcher(FetchSettings(), resolver=nxdomain) as fetcher:
        with pytest.raises(FetchError, match=r"nowhere\.test.*DNS lookup failed") as info:
            await fetcher.fetch("http://nowhere.test/feed")
    assert not isinstance(info.value, BlockedURLError)


# -- TLS through the pinned connection: SNI and certificate checks use the host name ----


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for feeds.test (made with the openssl command)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=feeds.test",
         "-addext", "subjectAltName=DNS:feeds.test"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _tls_server(cert: str, key: str) -> FeedServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return FeedServer(host="127.0.0.2", tls=context)


@pytest.mark.parametrize("name", ["feeds.test", "other.test"])
async def test_https_to_a_pinned_address_verifies_the_host_name(tls_cert, name) -> None:
    """The socket goes to the checked IP; TLS still sends and verifies the host name."""
    cert, key = tls_cert
    client_context = ssl.create_default_context(cafile=cert)
    resolver = TableResolver({name: ["127.0.0.2"]})
    settings = FetchSettings(allowed_networks=("127.0.0.2/32",))
    with _tls_server(cert, key) as server:
        server.route("/feed", Response(RSS))
        url = f"https://{name}:{server.port}/feed"
        async with Fetcher(settings, resolver=resolver, ssl_context=client_context) as fetcher:
            if name == "feeds.test":
                assert (await fetcher.fetch(url)).body == RSS
                assert server.requests("/feed")[0].headers["host"] == f"feeds.test:{server.port}"
            else:  # the certificate is for feeds.test, not for the name we asked
                with pytest.raises(FetchError, match="TLS certificate verification failed"):
                    await fetcher.fetch(url)
                assert server.hits == 0
        assert server.sni_names[0] == name
