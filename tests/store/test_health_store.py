"""Feed health queries on real SQLite and PostgreSQL: signals, incidents, cadence, status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, update

from monitor.core.feed_health import FAILING, OUTAGE, Closing, HealthPlan, Opening
from monitor.core.models import Entry, Feed, Match, PlannedDelivery, Recipient
from monitor.store import feeds as feed_store
from monitor.store import health as health_store
from monitor.store import items as item_store
from monitor.store import outbox as outbox_store
from monitor.store.database import Database
from monitor.store.delivery_tables import add_notice
from monitor.store.feeds import PollRecord
from monitor.store.tables import DeliveryRow

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FEEDS = [Feed(url=f"https://f{i}.example/rss", name=f"Feed {i}") for i in (1, 2, 3)]
_delivery = DeliveryRow.__table__  # type: ignore[attr-defined]


def entry(n: int, published: datetime) -> Entry:
    return Entry(
        guid=f"g{n}",
        url=f"https://news.example/{n}",
        link=None,
        title=f"Title {n}",
        text=f"Body {n}",
        published=published,
        content_hash=f"h{n}",
    )


def sync(conn: Connection) -> dict[str, int]:
    return feed_store.sync_feeds(conn, FEEDS, NOW - timedelta(days=30))


def store_item(conn: Connection, feed_id: int, n: int, published: datetime, seen: datetime) -> int:
    e = entry(n, published)
    item_id = item_store.insert_items(conn, feed_id, [e], seen)[e.key]
    return item_store.start_story(conn, item_id, e, seen)


def test_feed_signals_read_poll_state_and_recent_item_times(db: Database) -> None:
    with db.writing() as conn:
        ids = sync(conn)
        f1 = ids[FEEDS[0].url]
        # Baseline on day 1 (items published over the previous days), then one a day.
        for n in range(5):
            store_item(conn, f1, n, NOW - timedelta(days=10 + n), NOW - timedelta(days=9))
        for n in range(5, 8):
            published = NOW - timedelta(days=8 - n) + timedelta(hours=2)  # future-dated
            store_item(conn, f1, n, published, NOW - timedelta(days=8 - n))
        failed = PollRecord("error", NOW, NOW + timedelta(hours=1), error="FetchError: boom")
        for _ in range(3):
            feed_store.record_poll(conn, ids[FEEDS[1].url], failed)
        feed_store.sync_feeds(conn, FEEDS[:2], NOW)  # feed 3 removed: inactive
    with db.reading() as conn:
        signals = {s.name: s for s in health_store.feed_signals(conn, recent=6)}
    assert set(signals) == {"Feed 1", "Feed 2"}
    one = signals["Feed 1"]
    assert len(one.item_times) == 6
    # Future publication dates are clamped to when the item was first seen.
    assert max(one.item_times) == NOW - timedelta(days=1)
    two = signals["Feed 2"]
    assert two.error_streak == 3 and two.last_error == "FetchError: boom"
    assert two.last_polled_at == NOW and two.item_times == ()


def test_incidents_open_announce_close_and_outage_end(db: Database) -> None:
    with db.writing() as conn:
        ids = sync(conn)
        f1, f2 = ids[FEEDS[0].url], ids[FEEDS[1].url]
        plan = HealthPlan(
            opened=(
                Opening(None, OUTAGE, "3 of 3", True),
                Opening(f1, FAILING, "Feed 1 down", False),
                Opening(f2, FAILING, "Feed 2 down", True),
            )
        )
        opened = health_store.apply_health_plan(conn, plan, NOW)
    with db.reading() as conn:
        found = health_store.open_incidents(conn)
        assert [(i.feed_id, i.kind, i.announced) for i in found] == [
            (None, OUTAGE, True),
            (f1, FAILING, False),
            (f2, FAILING, True),
        ]
        assert health_store.last_outage_end(conn) is None
    later = NOW + timedelta(hours=2)
    with db.writing() as conn:
        health_store.apply_health_plan(
            conn, HealthPlan(closed=(Closing(opened[0], True),), announced=(opened[1],)), later
        )
    with db.reading() as conn:
        found = health_store.open_incidents(conn)
        assert [(i.feed_id, i.announced) for i in found] == [(f1, True), (f2, True)]
        assert health_store.last_outage_end(conn) == later
        listed = health_store.incidents(conn, open_only=False)
        assert [i.feed for i in listed][-1] is None  # the outage: every feed
        assert {i.detail for i in listed} == {"3 of 3", "Feed 1 down", "Feed 2 down"}


def test_cadence_is_remembered_and_missed_polls_counted(db: Database) -> None:
    with db.writing() as conn:
        f1 = sync(conn)[FEEDS[0].url]
        assert health_store.load_cadence(conn, f1) is None
        health_store.save_cadence(conn, f1, 480.0, missed=False, now=NOW)
        health_store.save_cadence(conn, f1, 240.0, missed=True, now=NOW)
        health_store.save_cadence(conn, f1, 300.0, missed=True, now=NOW)
    with db.reading() as conn:
        assert health_store.load_cadence(conn, f1) == health_store.Cadence(300.0, 2)


def test_feed_status_outbox_status_and_counts(db: Database) -> None:
    with db.writing() as conn:
        ids = sync(conn)
        f1 = ids[FEEDS[0].url]
        # 14 items first seen over the last 78 h; the feed's first item was seen 83 h ago
        # (published long before: it does not count as recent).
        stories = [
            store_item(conn, f1, n, NOW - timedelta(hours=6 * n), NOW - timedelta(hours=6 * n))
            for n in range(14)
        ]
        store_item(conn, f1, 99, NOW - timedelta(days=20), NOW - timedelta(hours=83))
        item_store.insert_matches(conn, stories[0], 1, [Match("W", ("w",), "w")], NOW)
        planned = [PlannedDelivery("console:a", "console", ("W",))]
        for n, story in enumerate(stories[:4]):
            outbox_store.add_deliveries(conn, story, planned, NOW - timedelta(minutes=10 - n))
        conn.execute(
            update(_delivery).where(_delivery.c.story_id == stories[3]).values(state="sent")
        )
        admin = Recipient("console:admin", "console", "admin")
        add_notice(conn, "k1", [admin], "title", "text", NOW)
        health_store.save_cadence(conn, f1, 900.0, missed=True, now=NOW)
        feed_store.record_poll(conn, f1, PollRecord("ok", NOW, NOW + timedelta(minutes=15)))
        bad = PollRecord("error", NOW, NOW + timedelta(hours=1), error="HTTPStatusError: 503")
        for _ in range(5):
            feed_store.record_poll(conn, ids[FEEDS[1].url], bad)
        health_store.apply_health_plan(
            conn, HealthPlan(opened=(Opening(ids[FEEDS[2].url], "stale", "quiet", True),)), NOW
        )
    with db.reading() as conn:
        status = {f.name: f for f in health_store.feed_status(conn, NOW)}
        outbox = health_store.outbox_status(conn, NOW)
        counts = health_store.store_counts(conn, NOW, failures_before_alert=5)
    one = status["Feed 1"]
    assert one.items_per_day is not None and abs(one.items_per_day - 14 / (83 / 24)) < 0.01
    assert (one.interval_s, one.missed_polls) == (900.0, 1)
    assert one.next_poll_at == NOW + timedelta(minutes=15) and one.last_success_at == NOW
    assert status["Feed 2"].error_streak == 5 and status["Feed 2"].items_per_day is None
    assert outbox.deliveries == {"pending": 3, "sent": 1}
    assert outbox.notices == {"pending": 1}
    assert outbox.oldest_due_at == NOW - timedelta(minutes=10)
    assert outbox.oldest_age_s(NOW) == 600
    assert (counts.feeds, counts.feeds_erroring, counts.feeds_failing) == (3, 1, 1)
    assert (counts.feeds_stale, counts.outage) == (1, False)
    assert (counts.items, counts.stories, counts.matches, counts.missed_polls) == (15, 15, 1, 1)


def test_probe_answers(db: Database) -> None:
    with db.reading() as conn:
        health_store.probe(conn)
