"""The webhook channel against a local stdlib HTTP server that verifies every signature.

The receiver below checks the HMAC the way the module docstring tells a bridge to (its
own code, not ours), records what arrived, and answers as a test scripts it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr

from monitor.channels.base import Digest
from monitor.channels.webhook import WebhookChannel, sign, verify_signature
from monitor.clock import FixedClock
from monitor.core.models import Recipient
from monitor.errors import PermanentDeliveryError, TransientDeliveryError
from tests.channels.conftest import PUBLISHED, MakeAlert, build_alert

SECRET = b"bridge-shared-secret"
NOW = PUBLISHED + timedelta(minutes=2)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool | None


@dataclass
class Receiver:
    """What the bridge saw, and the answers it gives next (status, headers, delay)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str], float]] = field(default_factory=list)


def verify_like_a_bridge(headers: dict[str, str], body: bytes) -> bool | None:
    signature = headers.get("x-monitor-signature")
    timestamp = headers.get("x-monitor-timestamp")
    if signature is None or timestamp is None:
        return None
    expected = hmac.new(SECRET, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest("sha256=" + expected, signature)


@pytest.fixture
def bridge() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            receiver.received.append(
                Received(self.path, headers, body, verify_like_a_bridge(headers, body))
            )
            status, extra, delay = receiver.answers.pop(0) if receiver.answers else (204, {}, 0)
            time.sleep(delay)
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/s3cret-path"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def hook(url: str) -> Recipient:
    return Recipient("webhook:bridge", "webhook", url)


@pytest.fixture
async def webhook() -> AsyncIterator[WebhookChannel]:
    channel = WebhookChannel(secret=SecretStr(SECRET.decode()), clock=FixedClock(NOW), timeout_s=1)
    yield channel
    await channel.aclose()


async def test_an_alert_is_posted_as_signed_json(
    bridge: Receiver, webhook: WebhookChannel, make_alert: MakeAlert
):
    ref = await webhook.send(make_alert(), hook(bridge.url))

    [got] = bridge.received
    assert got.signature_ok is True
    assert got.path == "/hooks/s3cret-path"
    assert got.headers["content-type"] == "application/json; charset=utf-8"
    assert got.headers["x-monitor-timestamp"] == str(int(NOW.timestamp()))
    assert got.headers["x-monitor-delivery"] == "42"
    assert got.headers["x-monitor-event"] == "alert"
    payload = json.loads(got.body)
    assert payload["event"] == "alert"
    assert payload["title"] == "Ferry line to Batam opens in March"
    assert payload["url"] == "https://news.example.org/2026/11/ferry-batam?ref=rss&x=1"
    assert payload["source"] == "Harbour Daily"
    assert payload["published"] == "2026-11-26T04:47:00+00:00"
    assert payload["watchlists"] == ["Ferries", "Batam"]
    assert payload["terms"] == ["ferry", "Batam"]
    assert payload["snippet"].startswith("The harbour authority")
    assert payload["also_reported_by"] == ["Coast Times", "Island Post"]
    assert payload["delivery_id"] == 42
    assert ref == "webhook:42"


async def test_a_tampered_or_stale_request_fails_verification():
    body = b'{"title":"x"}'
    stamp = str(int(NOW.timestamp()))
    good = sign(SECRET, stamp, body)
    assert verify_signature(SECRET, stamp, body, good, now=NOW)
    assert not verify_signature(SECRET, stamp, body + b" ", good, now=NOW)
    assert not verify_signature(b"other", stamp, body, good, now=NOW)
    assert not verify_signature(SECRET, stamp, body, good, now=NOW + timedelta(minutes=10))
    assert not verify_signature(SECRET, "yesterday", body, good, now=NOW)


async def test_hostile_text_travels_as_data(
    bridge: Receiver, webhook: WebhookChannel, make_alert: MakeAlert
):
    title = 'Quote " backslash \\ <script> \u202e \ud800 😀'
    await webhook.send(make_alert(title=title), hook(bridge.url))
    [got] = bridge.received
    assert got.signature_ok is True
    assert json.loads(got.body)["title"] == title.replace("\ud800", "?")


async def test_429_and_5xx_are_transient_and_honour_retry_after(
    bridge: Receiver, webhook: WebhookChannel, make_alert: MakeAlert
):
    bridge.answers += [
        (429, {"Retry-After": "30"}, 0),
        (503, {"Retry-After": "Thu, 26 Nov 2026 04:59:00 GMT"}, 0),
        (500, {}, 0),
    ]
    waits = []
    for _ in range(3):
        with pytest.raises(TransientDeliveryError) as deferred:
            await webhook.send(make_alert(), hook(bridge.url))
        waits.append(deferred.value.retry_after)
        assert "s3cret-path" not in str(deferred.value)
    await webhook.send(make_alert(), hook(bridge.url))

    assert waits == [30.0, 600.0, None]
    assert len(bridge.received) == 4


@pytest.mark.parametrize("status", [400, 401, 404, 410, 302])
async def test_other_answers_are_permanent(
    bridge: Receiver, webhook: WebhookChannel, make_alert: MakeAlert, status: int
):
    bridge.answers.append((status, {"Location": "http://127.0.0.1:1/elsewhere"}, 0))
    with pytest.raises(PermanentDeliveryError, match=str(status)):
        await webhook.send(make_alert(), hook(bridge.url))
    assert len(bridge.received) == 1  # a redirect is not followed


async def test_unreachable_or_slow_bridges_are_transient(bridge: Receiver, make_alert: MakeAlert):
    channel = WebhookChannel(clock=FixedClock(NOW), timeout_s=0.3)
    bridge.answers.append((204, {}, 1.0))
    try:
        with pytest.raises(TransientDeliveryError, match="unreachable"):
            await channel.send(make_alert(), hook("http://127.0.0.1:1/hook"))
        with pytest.raises(TransientDeliveryError, match="timed out"):
            await channel.send(make_alert(), hook(bridge.url))
    finally:
        await channel.aclose()


async def test_a_url_that_is_not_http_is_permanent(webhook: WebhookChannel, make_alert: MakeAlert):
    with pytest.raises(PermanentDeliveryError):
        await webhook.send(make_alert(), hook("ftp://127.0.0.1/x"))


async def test_updates_and_digests(bridge: Receiver, webhook: WebhookChannel):
    alerts = tuple(build_alert(delivery_id=n, title=f"Story {n}") for n in range(3))
    assert await webhook.update("webhook:0", alerts[0], hook(bridge.url)) == "webhook:0"
    digest = Digest("webhook:bridge", alerts, PUBLISHED, PUBLISHED + timedelta(hours=1), "hourly")
    refs = await webhook.send_digest(digest, hook(bridge.url))

    update, posted = bridge.received
    assert all(r.signature_ok for r in bridge.received)
    assert json.loads(update.body)["event"] == "update"
    payload = json.loads(posted.body)
    assert (payload["event"], payload["reason"]) == ("digest", "hourly")
    assert [a["title"] for a in payload["alerts"]] == ["Story 0", "Story 1", "Story 2"]
    assert posted.headers["x-monitor-delivery"] == "0,1,2"
    assert len(refs) == 1


async def test_without_a_secret_nothing_is_signed(bridge: Receiver, make_alert: MakeAlert):
    channel = WebhookChannel(clock=FixedClock(NOW))
    try:
        await channel.send(make_alert(), hook(bridge.url))
    finally:
        await channel.aclose()
    [got] = bridge.received
    assert got.signature_ok is None
    assert "x-monitor-signature" not in got.headers
