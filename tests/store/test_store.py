"""Items, stories, matches and the outbox on real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.core.models import Entry, Feed
from monitor.store import feeds as feed_store
from monitor.store import items as item_store
from monitor.store.database import Database

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def entry(n: int, **kw: object) -> Entry:
    values: dict[str, object] = {
        "guid": f"g{n}",
        "url": f"https://news.example/a/{n}",
        "link": f"https://news.example/a/{n}?utm_source=rss",
        "title": f"Title {n} \u2013 ünïcode",
        "text": f"Body {n}",
        "published": NOW - timedelta(minutes=n),
        "content_hash": f"h{n}",
    }
    values.update(kw)
    return Entry(**values)  # type: ignore[arg-type]


def setup_feed(db: Database) -> int:
    with db.writing() as conn:
        ids = feed_store.sync_feeds(conn, [Feed(url="https://news.example/rss", name="News")], NOW)
    return ids["https://news.example/rss"]


def test_sync_feeds_adds_reactivates_and_deactivates(db: Database) -> None:
    a, b = Feed(url="https://a.example/rss", name="A"), Feed(url="https://b.example/rss", name="B")
    with db.writing() as conn:
        feed_store.sync_feeds(conn, [a, b], NOW)
        feed_store.sync_feeds(conn, [a], NOW)
        assert feed_store.due_feeds(conn, NOW) == [a.url]
        feed_store.sync_feeds(conn, [a, b], NOW)
        assert sorted(feed_store.due_feeds(conn, NOW)) == [a.url, b.url]


def test_insert_items_is_idempotent_and_lookup_finds_them(db: Database) -> None:
    feed_id = setup_feed(db)
    batch = [entry(1), entry(2), entry(3, url=None), entry(4, url=None, guid=None)]
    with db.writing() as conn:
        first = item_store.insert_items(conn, feed_id, batch, NOW)
        again = item_store.insert_items(conn, feed_id, batch, NOW)
    assert len(first) == 4 and again == {}
    with db.reading() as conn:
        urls, guids, hashes = item_store.known_identities(
            conn, feed_id, ["https://news.example/a/1", "x"], ["g3", "g9"], ["h4", "h8"]
        )
    assert urls == {"https://news.example/a/1"}
    assert guids == {"g3": None}
    assert hashes == {"h4"}


def test_nul_free_unicode_round_trip(db: Database) -> None:
    feed_id = setup_feed(db)
    with db.writing() as conn:
        item_store.insert_items(conn, feed_id, [entry(1, title="Кириенко — «цитата» 🚀")], NOW)
    with db.reading() as conn:
        title = conn.exec_driver_sql("SELECT title FROM item").scalar()
    assert title == "Кириенко — «цитата» 🚀"
