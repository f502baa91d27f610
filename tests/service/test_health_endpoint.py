"""/metrics and /healthz over real HTTP on 127.0.0.1, parsed with prometheus_client's parser."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.clock import FixedClock
from monitor.core.models import Entry, Feed, PlannedDelivery
from monitor.service.health import HealthServer, Heartbeat
from monitor.service.metrics import Metrics
from monitor.store import feeds as feed_store
from monitor.store import items as item_store
from monitor.store import outbox as outbox_store
from monitor.store.database import Database
from monitor.store.feeds import PollRecord
from monitor.store.migrate import upgrade

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@dataclass
class Endpoint:
    server: HealthServer
    metrics: Metrics
    heartbeat: Heartbeat
    mono: list[float]
    db: Database


def fill(db: Database) -> None:
    """Two feeds (one failing five times), three items and stories, two alerts (one sent)."""
    feeds = [
        Feed(url="https://a.example/rss", name="A"),
        Feed(url="https://b.example/rss", name="B"),
    ]
    with db.writing() as conn:
        ids = feed_store.sync_feeds(conn, feeds, NOW)
        bad = PollRecord("error", NOW, NOW + timedelta(hours=1), error="DeadlineError: slow")
        for _ in range(5):
            feed_store.record_poll(conn, ids["https://b.example/rss"], bad)
        for n in range(3):
            e = Entry(f"g{n}", f"https://a.example/{n}", None, f"T{n}", "x", NOW, f"h{n}")
            item_id = item_store.insert_items(conn, ids["https://a.example/rss"], [e], NOW)[e.key]
            story = item_store.start_story(conn, item_id, e, NOW)
            if n < 2:
                planned = [PlannedDelivery("console:desk", "console", ("W",))]
                outbox_store.add_deliveries(conn, story, planned, NOW - timedelta(minutes=3))
        conn.exec_driver_sql("UPDATE delivery SET state = 'sent' WHERE id = 1")


@pytest.fixture
async def endpoint(sqlite_url: str) -> AsyncIterator[Endpoint]:
    db = Database(sqlite_url)
    upgrade(db)
    fill(db)
    mono = [100.0]
    heartbeat = Heartbeat(lambda: mono[0])
    metrics = Metrics(failures_before_alert=5, min_refresh_s=0, tick_age=heartbeat.age)
    server = HealthServer(
        metrics=metrics,
        db=db,
        heartbeat=heartbeat,
        clock=FixedClock(NOW),
        port=0,
        tick_timeout_s=30,
    )
    await server.start()
    yield Endpoint(server, metrics, heartbeat, mono, db)
    await server.aclose()
    db.dispose()


def families(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """metric family name -> {sorted labels -> value} for every sample."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


async def test_metrics_are_scraped_and_parsed(endpoint: Endpoint) -> None:
    m = endpoint.metrics
    m.observe_poll("ok", 0.3, new_items=4, alerts=1)
    m.observe_poll("ok", 1.7, new_items=2, missed=True)
    m.observe_poll("error", 30.0)
    m.observe_send("telegram", "sent", 0.2)
    m.observe_send("telegram", "retry", 4.0)
    endpoint.heartbeat.beat()
    endpoint.mono[0] += 7
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{endpoint.server.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    f = families(response.text)
    assert f["monitor_polls_total"][(("status", "ok"),)] == 2
    assert f["monitor_polls_total"][(("status", "error"),)] == 1
    assert f["monitor_polls_total"][(("status", "not_modified"),)] == 0  # present from the start
    assert f["monitor_items_ingested_total"][()] == 6
    assert f["monitor_alerts_planned_total"][()] == 1
    assert f["monitor_missed_polls_total"][()] == 1
    assert f["monitor_poll_duration_seconds_count"][()] == 3
    assert f["monitor_poll_duration_seconds_bucket"][(("le", "0.5"),)] == 1
    assert f["monitor_poll_duration_seconds_bucket"][(("le", "+Inf"),)] == 3
    assert f["monitor_sends_total"][(("channel", "telegram"), ("outcome", "retry"))] == 1
    assert f["monitor_send_duration_seconds_count"][(("channel", "telegram"),)] == 2
    assert f["monitor_feeds"][()] == 2
    assert f["monitor_feeds_failing"][()] == 1 and f["monitor_feeds_erroring"][()] == 1
    assert f["monitor_feeds_stale"][()] == 0 and f["monitor_outage"][()] == 0
    assert (f["monitor_items"][()], f["monitor_stories"][()], f["monitor_matches"][()]) == (3, 3, 0)
    assert f["monitor_deliveries"][(("state", "pending"),)] == 1
    assert f["monitor_deliveries"][(("state", "sent"),)] == 1
    assert f["monitor_deliveries"][(("state", "failed"),)] == 0
    assert f["monitor_oldest_pending_delivery_seconds"][()] == 180
    assert f["monitor_database_up"][()] == 1
    assert f["monitor_scheduler_last_tick_age_seconds"][()] == 7


async def test_healthz_needs_a_recent_tick_and_an_answering_database(endpoint: Endpoint) -> None:
    url = f"{endpoint.server.url}/healthz"
    async with httpx.AsyncClient() as client:
        before = await client.get(url)
        endpoint.heartbeat.beat()
        ok = await client.get(url)
        endpoint.mono[0] += 31  # the scheduler has not ticked for 31 s
        wedged = await client.get(url)
    assert before.status_code == 503
    assert before.json()["checks"]["scheduler"] == {
        "ok": False,
        "ticks": 0,
        "last_tick_age_s": None,
    }
    assert ok.status_code == 200 and ok.json()["status"] == "ok"
    assert ok.json()["checks"]["database"]["ok"] is True
    assert wedged.status_code == 503 and wedged.json()["checks"]["scheduler"]["ok"] is False


async def test_a_broken_database_is_unhealthy_and_metrics_still_answer(tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not an SQLite database, just bytes" * 100)
    db = Database(f"sqlite:///{broken}")
    heartbeat = Heartbeat()
    heartbeat.beat()
    metrics = Metrics(min_refresh_s=0)
    server = HealthServer(metrics=metrics, db=db, heartbeat=heartbeat, clock=FixedClock(NOW))
    await server.start()
    try:
        async with httpx.AsyncClient() as client:
            health = await client.get(f"{server.url}/healthz")
            scrape = await client.get(f"{server.url}/metrics")
    finally:
        await server.aclose()
        db.dispose()
    assert health.status_code == 503
    database = health.json()["checks"]["database"]
    assert database["ok"] is False and "not a database" in database["error"]
    assert scrape.status_code == 200
    assert families(scrape.text)["monitor_database_up"][()] == 0


async def test_other_paths_methods_and_garbage(endpoint: Endpoint) -> None:
    base = endpoint.server.url
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{base}/")).status_code == 404
        assert (await client.get(f"{base}/metrics/../../etc/passwd")).status_code == 404
        assert (await client.post(f"{base}/metrics")).status_code == 405
        head = await client.head(f"{base}/metrics")
        assert head.status_code == 200 and head.content == b""
    reader, writer = await asyncio.open_connection("127.0.0.1", endpoint.server.port)
    writer.write(b"NONSENSE\r\n\r\n")
    await writer.drain()
    assert (await reader.read()).startswith(b"HTTP/1.1 400")
    writer.close()
    # A header line over the limit: the server hangs up rather than buffering it.
    reader, writer = await asyncio.open_connection("127.0.0.1", endpoint.server.port)
    writer.write(b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    await writer.drain()
    assert await reader.read() == b""
    writer.close()


async def test_refresh_is_rate_limited(endpoint: Endpoint) -> None:
    metrics = Metrics(min_refresh_s=3600)
    assert await metrics.refresh(endpoint.db, NOW)
    with endpoint.db.writing() as conn:
        conn.exec_driver_sql("DELETE FROM delivery")
    await metrics.refresh(endpoint.db, NOW)  # too soon: the last figures stay
    assert families(metrics.render().decode())["monitor_deliveries"][(("state", "sent"),)] == 1
    await metrics.refresh(endpoint.db, NOW, force=True)
    assert families(metrics.render().decode())["monitor_deliveries"][(("state", "sent"),)] == 0
