"""The bot's queries on SQLite and PostgreSQL: claims, offset, chats, mutes, feedback, access."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, text

from monitor.core.models import Entry, PlannedDelivery
from monitor.core.plan import Muting
from monitor.store import bot as bot_store
from monitor.store import bot_tables
from monitor.store import items as item_store
from monitor.store import outbox as outbox_store
from monitor.store.database import Database

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def story(conn: Connection, recipient: str) -> tuple[int, int, int]:
    """A feed, an item, its story and one sent delivery: (feed id, story id, delivery id)."""
    feed_id = conn.execute(
        text("INSERT INTO feed (url, name, active, baseline_done, error_streak) "
             "VALUES ('http://f.test/rss', 'Coast Times', true, true, 0) RETURNING id")
    ).scalar_one()  # fmt: skip
    entry = Entry(
        guid="g1", url="http://f.test/a", link="http://f.test/a", title="Quay opens",
        text="The new quay opens.", published=NOW, content_hash="h1",
    )  # fmt: skip
    item_id = item_store.insert_items(conn, feed_id, [entry], NOW)[entry.key]
    story_id = item_store.start_story(conn, item_id, entry, NOW)
    outbox_store.add_deliveries(
        conn, story_id, [PlannedDelivery(recipient, "telegram", ("Quays",))], NOW
    )
    delivery = conn.execute(text("SELECT id FROM delivery")).scalar_one()
    outbox_store.mark_sent(conn, [delivery], "42:1", NOW)
    return feed_id, story_id, delivery


def test_claims_offsets_and_the_directory_version(db: Database) -> None:
    with db.writing() as conn:
        assert bot_tables.claim_update(conn, 100, NOW)
        assert not bot_tables.claim_update(conn, 100, NOW)
        assert bot_tables.load_offset(conn) is None
        bot_tables.save_offset(conn, 120, NOW)
        bot_tables.save_offset(conn, 110, NOW)  # never goes back
        assert bot_tables.load_offset(conn) == 120
        bot_tables.save_offset(conn, 130, NOW + timedelta(days=3))  # old claims forgotten
        assert conn.execute(text("SELECT count(*) FROM bot_update")).scalar_one() == 0
        assert bot_tables.directory_version(conn) == 0
        assert bot_store.register_chat(conn, 42, "private", "Ann", NOW)
        assert not bot_store.register_chat(conn, 42, "private", "Ann", NOW)
        assert bot_store.subscribe(conn, 42, "Quays", NOW)
        assert not bot_store.subscribe(conn, 42, "Quays", NOW)
        assert bot_tables.directory_version(conn) == 2
        chat = bot_store.get_chat(conn, 42)
        assert chat is not None and chat.subscriptions == ("Quays",)
        bot_store.update_chat(conn, 42, NOW, quiet_start="22:00", quiet_end="07:00")
        assert bot_store.load_chats(conn)[0].quiet_hours == ("22:00", "07:00")
        assert bot_store.deactivate_chat(conn, 42, NOW)
        assert bot_store.load_chats(conn) == []


def test_mutes_feedback_and_access(db: Database) -> None:
    key = "telegram:42"
    with db.writing() as conn:
        feed_id, story_id, delivery = story(conn, key)
        info = bot_store.delivery_info(conn, delivery)
        assert info is not None and (info.feed_name, info.watchlists) == ("Coast Times", ("Quays",))
        assert bot_store.muting_for(conn, feed_id, story_id, ["Quays"], NOW) == Muting()
        bot_store.add_mute(conn, key, bot_store.STORY, str(story_id), "Quay opens", None, NOW)
        later = NOW + timedelta(hours=1)
        bot_store.add_mute(conn, "telegram:43", bot_store.WATCHLIST, "Quays", "Quays", later, NOW)
        muting = bot_store.muting_for(conn, feed_id, story_id, ["Quays"], NOW)
        assert muting.recipients == {key}
        assert muting.watchlists == {("telegram:43", "Quays")}
        expired = bot_store.muting_for(conn, feed_id, story_id, ["Quays"], later)
        assert expired.watchlists == frozenset()
        outbox_store.note_story_changed(conn, story_id, NOW, interval_s=0)
        assert bot_store.drop_muted_updates(conn, story_id, NOW) == 1
        assert conn.execute(text("SELECT update_due_at FROM delivery")).scalar() is None
        assert bot_store.count_mutes(conn, key, NOW) == 1

        assert bot_store.add_feedback(conn, story_id, ["Quays"], key, 7, "Quay opens", NOW) == 1
        assert bot_store.add_feedback(conn, story_id, ["Quays"], key, 7, "Quay opens", NOW) == 0
        assert bot_store.feedback_stories(conn, "Quays", NOW) == {story_id: "Quay opens"}

        assert bot_store.request_access(conn, 7, "Ann", NOW)
        assert not bot_store.request_access(conn, 7, "Ann", NOW)
        assert bot_store.decide_access(conn, 7, "approved", 1, NOW) == "pending"
        assert bot_store.access_status(conn, 7) == "approved"
        assert bot_store.decide_access(conn, 8, "denied", 1, NOW) is None  # a ban, unasked
        assert bot_store.story_items(conn, story_id)[0].feed == "Coast Times"
        assert bot_store.recent_stories(conn, "Quays", 5) == []  # no match row stored here
