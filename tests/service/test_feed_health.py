"""The feed-health check on real databases and real polls: one notice per incident, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection

from monitor.clock import FixedClock, SystemClock
from monitor.core.feed_health import HealthPolicy
from monitor.core.models import Feed, Recipient
from monitor.service.feed_health import FeedHealthChecker, policy_from_settings
from monitor.service.runtime import Runtime
from monitor.store import feeds as feed_store
from monitor.store import health as health_store
from monitor.store.database import Database
from monitor.store.delivery_tables import notices
from monitor.store.feeds import PollRecord
from tests.support.configs import item, rss, write_config
from tests.support.feed_server import FeedServer, Response, sequence

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ADMINS = (
    Recipient("telegram:111", "telegram", "111"),
    Recipient("email:ops@example.org", "email", "ops@example.org"),
)
POLICY = HealthPolicy(failures_before_alert=3)


def feeds(n: int) -> list[Feed]:
    return [Feed(url=f"https://f{i}.example/rss", name=f"Feed {i}") for i in range(1, n + 1)]


def poll(conn: Connection, feed_id: int, ok: bool, at: datetime) -> None:
    record = (
        PollRecord("ok", at, at + timedelta(minutes=10))
        if ok
        else PollRecord("error", at, at + timedelta(minutes=10), error="HTTPStatusError: 503")
    )
    feed_store.record_poll(conn, feed_id, record)


def subjects(db: Database) -> list[str]:
    with db.reading() as conn:
        rows = notices(conn)
    by_key: dict[str, str] = {}
    for r in rows:
        by_key.setdefault(str(r["key"]), str(r["title"]))
    return list(by_key.values())


async def test_one_notice_per_incident_and_one_recovery_across_restarts(db: Database) -> None:
    clock = FixedClock(NOW)
    with db.writing() as conn:
        found = feed_store.sync_feeds(conn, feeds(4), NOW)
        ids = [found[f.url] for f in feeds(4)]
        for feed_id in ids:
            poll(conn, feed_id, True, NOW)
    checker = FeedHealthChecker(db, clock, POLICY, ADMINS)
    for step in range(1, 8):  # feed 1 fails on and on; the check runs after every poll
        clock.advance(600)
        with db.writing() as conn:
            poll(conn, ids[0], False, clock.now())
        await checker.check()
        expected = [] if step < 3 else ["monitor: feed Feed 1 failing"]
        assert subjects(db) == expected
    restarted = FeedHealthChecker(db, clock, POLICY, ADMINS)  # a new process: nothing repeats
    assert (await restarted.check()).empty
    clock.advance(600)
    with db.writing() as conn:
        poll(conn, ids[0], True, clock.now())
    await restarted.check()
    await restarted.check()
    assert subjects(db) == ["monitor: feed Feed 1 failing", "monitor: feed Feed 1 recovered"]
    with db.reading() as conn:
        rows = notices(conn)
        assert health_store.open_incidents(conn) == []
    assert len(rows) == 4  # two notices, each for both admins
    assert {r["recipient"] for r in rows} == {a.key for a in ADMINS}
    assert "HTTPStatusError: 503" in str(rows[0]["text"])


async def test_a_global_outage_is_one_notice_and_one_recovery(db: Database) -> None:
    clock = FixedClock(NOW)
    with db.writing() as conn:
        found = feed_store.sync_feeds(conn, feeds(40), NOW)
        ids = [found[f.url] for f in feeds(40)]
    checker = FeedHealthChecker(db, clock, POLICY, ADMINS)
    for _ in range(10):  # the network is down: every poll of every feed fails
        clock.advance(600)
        with db.writing() as conn:
            for feed_id in ids:
                poll(conn, feed_id, False, clock.now())
        await checker.check()
    assert subjects(db) == ["monitor: feeds failing everywhere (40 of 40)"]
    clock.advance(600)
    with db.writing() as conn:
        for feed_id in ids[:-1]:
            poll(conn, feed_id, True, clock.now())
    await checker.check()
    assert subjects(db)[1:] == ["monitor: feeds polling again"]
    clock.advance(600)
    with db.writing() as conn:
        poll(conn, ids[-1], False, clock.now())  # this one really is broken
    await checker.check()
    assert subjects(db)[2:] == ["monitor: feed Feed 40 failing"]


async def test_real_polls_of_a_failing_server(feed_server: FeedServer, tmp_path: Path) -> None:
    body = rss([item(1), item(2)])
    flaky = sequence(*[Response(status=503)] * 3, Response(body))
    feed_server.route("/flaky.xml", flaky)
    feed_server.route("/fine.xml", Response(body))
    config = write_config(
        tmp_path,
        feeds=[
            {"url": feed_server.url("/flaky.xml"), "name": "Flaky"},
            {"url": feed_server.url("/fine.xml"), "name": "Fine"},
        ],
        monitor={"health": {"failures_before_alert": 3}},
    )
    runtime = await Runtime.open(config, stream=open(tmp_path / "out.txt", "w"))  # noqa: SIM115
    try:
        checker = FeedHealthChecker(
            runtime.db, SystemClock(), policy_from_settings(config.monitor.health), ADMINS
        )
        for _ in range(3):
            await runtime.poller.poll_all()
            await checker.check()
        assert subjects(runtime.db) == ["monitor: feed Flaky failing"]
        summary = await runtime.poller.poll_all()
        assert summary.failed == 0
        await checker.check()
        assert subjects(runtime.db) == [
            "monitor: feed Flaky failing",
            "monitor: feed Flaky recovered",
        ]
        assert len(feed_server.requests("/flaky.xml")) == 4
    finally:
        await runtime.aclose()


async def test_a_check_of_300_feeds_is_quick(sqlite_url: str) -> None:
    """300 feeds with 50 items each: one assessment (all reads and writes) in well under 1 s."""
    import time

    from monitor.core.models import Entry
    from monitor.store import items as item_store
    from monitor.store.migrate import upgrade

    db = Database(sqlite_url)
    upgrade(db)
    many = feeds(300)
    with db.writing() as conn:
        found = feed_store.sync_feeds(conn, many, NOW)
        for f in many:
            fid = found[f.url]
            entries = [
                Entry(
                    f"g{n}", f"{f.url}/{n}", None, "t", "x", NOW - n * timedelta(hours=2), f"h{n}"
                )
                for n in range(50)
            ]
            item_store.insert_items(conn, fid, entries, NOW - timedelta(days=1))
            poll(conn, fid, fid % 10 != 0, NOW)  # every tenth feed failing
    checker = FeedHealthChecker(db, FixedClock(NOW), HealthPolicy(failures_before_alert=1), ADMINS)
    started = time.perf_counter()
    plan = await checker.check()
    first = time.perf_counter() - started
    started = time.perf_counter()
    assert (await checker.check()).empty
    again = time.perf_counter() - started
    db.dispose()
    print(f"health check of 300 feeds: first {first * 1e3:.0f} ms, again {again * 1e3:.0f} ms")
    assert len(plan.opened) == 30 and len(plan.notices) == 1
    assert first < 2.0 and again < 2.0
