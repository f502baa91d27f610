"""Feed leases: several instances share one database without polling a feed twice."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from monitor.core.models import Feed, Validators
from monitor.store import feeds as feed_store
from monitor.store.database import Database
from monitor.store.feeds import PollRecord

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def make_feeds(db: Database, n: int) -> list[str]:
    feeds = [Feed(url=f"https://f{i}.example/rss", name=f"F{i}") for i in range(n)]
    with db.writing() as conn:
        feed_store.sync_feeds(conn, feeds, NOW)
    return [f.url for f in feeds]


def test_a_leased_feed_is_not_claimed_again_until_polled_or_expired(db: Database) -> None:
    (url,) = make_feeds(db, 1)
    with db.writing() as conn:
        assert feed_store.claim_due_feeds(conn, NOW, "a", lease_s=60) == [url]
        assert feed_store.claim_due_feeds(conn, NOW, "b", lease_s=60) == []
        # instance a died: its lease lapses and b takes the feed over
        assert feed_store.claim_due_feeds(conn, NOW + timedelta(seconds=61), "b") == [url]
        state = feed_store.load_feed(conn, url)
        assert state is not None
        record = PollRecord("ok", NOW, NOW + timedelta(minutes=10), Validators())
        feed_store.record_poll(conn, state.id, record)  # polling ends the lease
        assert feed_store.claim_due_feeds(conn, NOW + timedelta(minutes=10), "c") == [url]
        feed_store.release_feeds(conn, "c")
        assert feed_store.claim_due_feeds(conn, NOW + timedelta(minutes=10), "d") == [url]


def test_concurrent_claimers_share_the_feeds_without_overlap(db: Database) -> None:
    urls = make_feeds(db, 300)
    claimed: dict[str, list[str]] = {}

    def instance(name: str) -> None:
        mine: list[str] = []
        while True:
            with db.writing() as conn:
                got = feed_store.claim_due_feeds(conn, NOW, name, limit=7)
            if not got:
                break
            mine.extend(got)
        claimed[name] = mine

    threads = [threading.Thread(target=instance, args=(f"i{n}",)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [u for mine in claimed.values() for u in mine]
    assert sorted(every) == sorted(urls)  # each feed claimed exactly once
    if not db.is_sqlite:  # on SQLite one process serialises its writers anyway
        assert all(claimed.values())  # the work was shared
