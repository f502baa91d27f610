"""Retention on real SQLite and PostgreSQL: what goes, what never goes, and bounded growth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select, update

from monitor.core.feed_health import Closing, HealthPlan, Opening
from monitor.core.models import Entry, Feed, Match, PlannedDelivery, Recipient
from monitor.store import feeds as feed_store
from monitor.store import health as health_store
from monitor.store import items as item_store
from monitor.store import outbox as outbox_store
from monitor.store.database import Database
from monitor.store.delivery_tables import NoticeRow, add_notice
from monitor.store.migrate import upgrade
from monitor.store.retention import PurgeReport, RetentionPolicy, purge, purge_all
from monitor.store.stories import key_time
from monitor.store.story_tables import StoryKeyRow, StoryLinkRow
from monitor.store.tables import DeliveryRow, ItemRow, MatchRow, StoryRow

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
POLICY = RetentionPolicy(items_s=30 * 86400, deliveries_s=10 * 86400, window_s=3 * 86400)
PLANNED = [PlannedDelivery("console:desk", "console", ("W",))]

_story = StoryRow.__table__  # type: ignore[attr-defined]
_item = ItemRow.__table__  # type: ignore[attr-defined]
_match = MatchRow.__table__  # type: ignore[attr-defined]
_delivery = DeliveryRow.__table__  # type: ignore[attr-defined]
_link = StoryLinkRow.__table__  # type: ignore[attr-defined]
_key = StoryKeyRow.__table__  # type: ignore[attr-defined]
_notice = NoticeRow.__table__  # type: ignore[attr-defined]


class Newsroom:
    """Writes items, stories, matches, links, index keys and deliveries as the pipeline does."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.feed_id = feed_store.sync_feeds(
            conn, [Feed(url="https://news.example/rss", name="News")], NOW - 400 * DAY
        )["https://news.example/rss"]
        self.n = 0

    def story(
        self, at: datetime, *, items: int = 1, delivery: str | None = "sent", text: str = ""
    ) -> int:
        first = self._item(at, text)
        story_id = item_store.start_story(self.conn, first[0], first[1], at)
        self._link(first[0], story_id, at)
        item_store.insert_matches(self.conn, story_id, first[0], [Match("W", ("w",), "w")], at)
        for k in range(1, items):
            self.join(story_id, at + timedelta(hours=k), text)
        if delivery is not None:
            outbox_store.add_deliveries(self.conn, story_id, PLANNED, at)
            if delivery != "pending":
                self.conn.execute(
                    update(_delivery)
                    .where(_delivery.c.story_id == story_id)
                    .values(state=delivery, sent_at=at + timedelta(minutes=1))
                )
        return story_id

    def join(self, story_id: int, at: datetime, text: str = "") -> int:
        """Another outlet's item joins the story at ``at``."""
        item_id, _ = self._item(at, text)
        self.conn.execute(update(_item).where(_item.c.id == item_id).values(story_id=story_id))
        self.conn.execute(update(_story).where(_story.c.id == story_id).values(last_seen_at=at))
        self._link(item_id, story_id, at)
        return item_id

    def orphan(self, at: datetime) -> int:
        return self._item(at, "")[0]

    def _item(self, at: datetime, text: str) -> tuple[int, Entry]:
        self.n += 1
        e = Entry(
            guid=f"g{self.n}",
            url=f"https://news.example/{self.n}",
            link=None,
            title=f"Story {self.n}",
            text=text or f"Body {self.n}",
            published=at,
            content_hash=f"h{self.n}",
        )
        return item_store.insert_items(self.conn, self.feed_id, [e], at)[e.key], e

    def _link(self, item_id: int, story_id: int, at: datetime) -> None:
        self.conn.execute(
            _link.insert(),
            {
                "item_id": item_id,
                "story_id": story_id,
                "signal": "none",
                "score": 1.0,
                "linked_at": at,
            },
        )
        self.conn.execute(
            _key.insert(),
            {"key": f"u:{item_id}", "at": key_time(at), "item_id": item_id, "story_id": story_id},
        )


def count(conn: Connection, table: object, *where: object) -> int:
    q = select(func.count()).select_from(table)  # type: ignore[arg-type]
    return int(conn.execute(q.where(*where) if where else q).scalar_one())  # type: ignore[arg-type]


def test_purge_keeps_what_must_stay_and_deletes_the_rest(db: Database) -> None:
    with db.writing() as conn:
        news = Newsroom(conn)
        old_sent = news.story(NOW - 40 * DAY, items=3)
        old_pending = news.story(NOW - 40 * DAY, delivery="pending")
        old_failed = news.story(NOW - 50 * DAY, delivery="failed")
        no_delivery = news.story(NOW - 35 * DAY, delivery=None)
        # Started long ago, an item joined yesterday: still inside the clustering window.
        long_running = news.story(NOW - 60 * DAY)
        news.join(long_running, NOW - DAY)
        # Kept (20 days < 30), but its sent delivery is older than 10 days: delivery goes.
        recent = news.story(NOW - 20 * DAY)
        fresh = news.story(NOW - 5 * DAY)
        orphan_old, orphan_new = news.orphan(NOW - 31 * DAY), news.orphan(NOW - 2 * DAY)
        admin = Recipient("console:admin", "console", "admin")
        add_notice(conn, "old", [admin], "t", "x", NOW - 20 * DAY)
        add_notice(conn, "waiting", [admin], "t", "x", NOW - 20 * DAY)
        conn.execute(update(_notice).where(_notice.c.key == "old").values(state="sent"))
        ids = health_store.apply_health_plan(
            conn, HealthPlan(opened=(Opening(None, "outage", "", True),) * 2), NOW - 40 * DAY
        )
        health_store.apply_health_plan(
            conn, HealthPlan(closed=(Closing(ids[0], True),)), NOW - 39 * DAY
        )
    report = purge_all(db, NOW, POLICY)
    with db.reading() as conn:
        stories = {r.id for r in conn.execute(select(_story.c.id))}
        items = {r.id for r in conn.execute(select(_item.c.id))}
        deliveries = {r.story_id for r in conn.execute(select(_delivery.c.story_id))}
        notices = [r.key for r in conn.execute(select(_notice.c.key))]
        incidents = health_store.incidents(conn, open_only=False)
        keys = count(conn, _key)
    assert stories == {old_pending, long_running, recent, fresh}
    assert not stories & {old_sent, old_failed, no_delivery}
    assert orphan_old not in items and orphan_new in items
    # recent's sent delivery is past 10 days; long_running's too, but its story is open.
    assert deliveries == {old_pending, long_running, fresh}
    assert notices == ["waiting"]
    assert [i.id for i in incidents] == [ids[1]]  # the open one stays
    assert (report.stories, report.items, report.deliveries) == (3, 6, 3)
    assert report.links == 5 and report.matches == 3 and report.notices == 1
    assert keys == 1 and report.index_items == 0  # only the key filed yesterday is in the window
    with db.reading() as conn:  # nothing dangles
        assert count(conn, _match, ~_match.c.story_id.in_(select(_story.c.id))) == 0
        assert count(conn, _link, ~_link.c.item_id.in_(select(_item.c.id))) == 0


def test_purge_works_in_bounded_batches(db: Database) -> None:
    with db.writing() as conn:
        news = Newsroom(conn)
        for k in range(23):
            news.story(NOW - (40 + k) * DAY)
    with db.writing() as conn:
        first = purge(conn, NOW, POLICY, batch=10)
    assert (first.stories, first.more) == (10, True)
    report = purge_all(db, NOW, POLICY, batch=10)
    assert report.stories == 13 and not report.more
    with db.reading() as conn:
        assert count(conn, _story) == 0 and count(conn, _item) == 0


@pytest.mark.slow
def test_the_database_does_not_grow_without_bound(tmp_path: Path) -> None:
    """Eight simulated weeks of 40 stories (80 items) a day, items kept 14 days: sizes level off."""
    database = Database(f"sqlite:///{tmp_path / 'weeks.db'}")
    upgrade(database)
    policy = RetentionPolicy(items_s=14 * 86400, deliveries_s=7 * 86400, window_s=3 * 86400)
    days, per_day = 56, 40
    start = NOW - days * DAY
    body = "Words of a typical article body. " * 60
    pages: list[int] = []
    rows: list[int] = []
    total = PurgeReport()
    with database.writing() as conn:
        news = Newsroom(conn)
    for day in range(days):
        today = start + day * DAY
        with database.writing() as conn:
            news.conn = conn
            for k in range(per_day):
                news.story(today + timedelta(minutes=30 * k), items=1 + k % 3, text=body)
        total = total + purge_all(database, today + DAY, policy)
        with database.reading() as conn:
            rows.append(count(conn, _item))
            pages.append(int(conn.exec_driver_sql("PRAGMA page_count").scalar_one()))
    database.dispose()
    items_a_day = per_day * 2
    print(
        f"items kept: max {max(rows)}, last {rows[-1]}; pages: day 28 {pages[27]}, last {pages[-1]}"
    )
    assert max(rows) <= items_a_day * 15  # 14 days kept, plus the day being written
    assert rows[-1] == rows[-8]  # steady state: a week in, a week out
    assert pages[-1] <= pages[27] * 1.05, (pages[27], pages[-1])  # freed pages are reused
    assert total.stories > per_day * (days - 16) and total.deliveries > 0
