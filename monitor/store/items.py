"""Items, stories and matches in the database: known-item lookup and batch inserts.

Inserts are idempotent (``ON CONFLICT DO NOTHING`` on the unique keys) so two
writers racing on the same item both end well. Functions take a ``Connection``
inside a transaction and return plain values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, select, update
from sqlalchemy.sql.dml import Insert

from monitor.core.models import Entry, Match, full_text
from monitor.store.delivery_tables import upsert_insert as upsert_insert
from monitor.store.tables import FeedRow, ItemRow, MatchRow, StoryRow

_item: Table = ItemRow.__table__  # type: ignore[attr-defined]
_story: Table = StoryRow.__table__  # type: ignore[attr-defined]
_match: Table = MatchRow.__table__  # type: ignore[attr-defined]

_CHUNK = 500


def chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def known_identities(
    conn: Connection,
    feed_id: int,
    urls: Iterable[str],
    guids: Iterable[str],
    hashes: Iterable[str],
) -> tuple[frozenset[str], dict[str, str | None], frozenset[str]]:
    """What the feed already holds among the given URLs, GUIDs (-> their URL) and hashes."""
    found_urls: set[str] = set()
    found_guids: dict[str, str | None] = {}
    found_hashes: set[str] = set()
    for part in chunks(sorted(set(urls))):
        q = select(_item.c.url).where(_item.c.feed_id == feed_id, _item.c.url.in_(part))
        found_urls.update(r.url for r in conn.execute(q))
    for part in chunks(sorted(set(guids))):
        q = select(_item.c.guid, _item.c.url).where(
            _item.c.feed_id == feed_id, _item.c.guid.in_(part)
        )
        for r in conn.execute(q):
            found_guids[r.guid] = r.url
    for part in chunks(sorted(set(hashes))):
        q = select(_item.c.content_hash).where(
            _item.c.feed_id == feed_id, _item.c.content_hash.in_(part)
        )
        found_hashes.update(r.content_hash for r in conn.execute(q))
    return frozenset(found_urls), found_guids, frozenset(found_hashes)


def insert_items(
    conn: Connection, feed_id: int, entries: Sequence[Entry], fetched_at: datetime
) -> dict[str, int]:
    """Insert entries not yet stored; return identity key -> item id for those inserted."""
    inserted: dict[str, int] = {}
    for part in chunks(entries):
        rows = [
            {
                "feed_id": feed_id,
                "key": e.key,
                "guid": e.guid,
                "url": e.url,
                "link": e.link,
                "content_hash": e.content_hash,
                "title": e.title,
                "text": e.text,
                "article_text": e.article_text,
                "article_problem": e.article_problem,
                "language": e.language,
                "author": e.author,
                "published_at": e.published,
                "fetched_at": fetched_at,
            }
            for e in part
        ]
        stmt: Insert = upsert_insert(conn, _item).on_conflict_do_nothing(
            index_elements=["feed_id", "key"]
        )
        for r in conn.execute(stmt.returning(_item.c.id, _item.c.key), rows):
            inserted[r.key] = r.id
    return inserted


def start_story(conn: Connection, item_id: int, entry: Entry, now: datetime) -> int:
    """Create a story whose headline is this item, and link the item to it."""
    story_id = conn.execute(
        _story.insert().returning(_story.c.id),
        {
            "title": entry.title,
            "url": entry.link or entry.url,
            "headline_item_id": item_id,
            "item_count": 1,
            "first_seen_at": now,
            "last_seen_at": now,
        },
    ).scalar_one()
    conn.execute(update(_item).where(_item.c.id == item_id).values(story_id=story_id))
    return int(story_id)


def insert_matches(
    conn: Connection, story_id: int, item_id: int, matches: Sequence[Match], now: datetime
) -> list[str]:
    """Record matches; return the watchlists that are new for this story."""
    if not matches:
        return []
    stmt = upsert_insert(conn, _match).on_conflict_do_nothing(
        index_elements=["story_id", "watchlist"]
    )
    rows = [
        {
            "story_id": story_id,
            "item_id": item_id,
            "watchlist": m.watchlist,
            "terms": list(m.terms),
            "snippet": m.snippet,
            "highlights": [list(h) for h in m.highlights],
            "created_at": now,
        }
        for m in matches
    ]
    return [r.watchlist for r in conn.execute(stmt.returning(_match.c.watchlist), rows)]


def story_matches(conn: Connection, story_ids: Sequence[int]) -> Mapping[int, list[Any]]:
    """Match rows per story (watchlist, terms, snippet), oldest first."""
    out: dict[int, list[Any]] = {}
    for part in chunks(list(story_ids)):
        q = (
            select(
                _match.c.story_id,
                _match.c.watchlist,
                _match.c.terms,
                _match.c.snippet,
                _match.c.highlights,
            )
            .where(_match.c.story_id.in_(part))
            .order_by(_match.c.id)
        )
        for r in conn.execute(q):
            out.setdefault(r.story_id, []).append(r)
    return out


@dataclass(frozen=True, slots=True)
class StoredItem:
    """An item as stored, with its story and outlet, for replays and evaluations."""

    id: int
    story_id: int | None
    feed: str
    title: str
    text: str  # feed text and article text, as matching reads them
    language: str | None
    link: str | None
    published: datetime


def stored_items(conn: Connection, since: datetime, batch: int = 1000) -> Iterator[StoredItem]:
    """Items fetched since ``since``, oldest first, streamed in batches."""
    feed: Table = FeedRow.__table__  # type: ignore[attr-defined]
    q = (
        select(
            _item.c.id,
            _item.c.story_id,
            feed.c.name,
            _item.c.title,
            _item.c.text,
            _item.c.article_text,
            _item.c.language,
            _item.c.link,
            _item.c.published_at,
        )
        .join(feed, feed.c.id == _item.c.feed_id)
        .where(_item.c.fetched_at >= since)
        .order_by(_item.c.id)
        .execution_options(yield_per=batch)
    )
    for r in conn.execute(q):
        text = full_text(r.text, r.article_text)
        yield StoredItem(
            r.id, r.story_id, r.name, r.title, text, r.language, r.link, r.published_at
        )


def matched_stories(conn: Connection, watchlist: str, since: datetime) -> set[int]:
    """Stories the stored matches say ``watchlist`` matched since ``since``."""
    q = select(_match.c.story_id).where(
        _match.c.watchlist == watchlist, _match.c.created_at >= since
    )
    return {r.story_id for r in conn.execute(q)}
