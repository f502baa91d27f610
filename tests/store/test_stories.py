"""The story index in the database and story assignment, on real SQLite and PostgreSQL.

The written story sets (tests/fixtures/stories/, read here, shared with tests/core) go
through `assign_story` one item per write transaction, as the pipeline stores them: the
database index must give the same stories and signals as the in-memory index.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Table, func, inspect, select, text

from monitor.core.cluster import DEFAULT_SETTINGS, ClusterSettings, decide
from monitor.core.fingerprint import Fingerprint, fingerprint
from monitor.core.identity import canonical_url, content_hash
from monitor.core.models import Entry, Feed
from monitor.core.story_index import StoryIndex
from monitor.store import feeds as feed_store
from monitor.store import items as item_store
from monitor.store import migrate
from monitor.store.database import Database
from monitor.store.migrate import upgrade
from monitor.store.stories import (
    DOCUMENTS,
    SqlStoryIndex,
    StoryAssignment,
    assign_story,
    expire_stories,
    key_time,
    story_links,
)
from monitor.store.story_sql import RANKING_PG, ranking_sql
from monitor.store.story_tables import StoryFingerprintRow, StoryKeyRow, StoryTermRow
from monitor.store.tables import ItemRow, StoryRow

ITEM: Table = ItemRow.__table__  # type: ignore[attr-defined]
STORY: Table = StoryRow.__table__  # type: ignore[attr-defined]
KEYS: Table = StoryKeyRow.__table__  # type: ignore[attr-defined]
FINGERPRINTS: Table = StoryFingerprintRow.__table__  # type: ignore[attr-defined]
TERMS: Table = StoryTermRow.__table__  # type: ignore[attr-defined]

FIXTURES = Path(__file__).parent.parent / "fixtures" / "stories"
START = datetime(2026, 2, 17, 6, 0, tzinfo=UTC)
STEP = timedelta(minutes=10)

Labelled = tuple[str, str, Entry]  # (story name, variant, entry)


def load_sets() -> dict[str, list[Labelled]]:
    """File name -> [(story name, variant, entry)] in file order, as the normaliser gives."""
    sets: dict[str, list[Labelled]] = {}
    for path in sorted(FIXTURES.glob("*.yaml")):
        items = []
        for story in yaml.safe_load(path.read_text(encoding="utf-8"))["stories"]:
            for item in story["items"]:
                entry = Entry(
                    guid=None,
                    url=canonical_url(item["url"]),
                    link=item["url"],
                    title=item["title"],
                    text=item["text"],
                    published=START,
                    content_hash=content_hash(item["title"], item["text"]),
                    language=item["language"],
                )
                items.append((story["name"], item["variant"], entry))
        sets[path.stem] = items
    return sets


SETS = load_sets()
ALL_ITEMS = [item for items in SETS.values() for item in items]


def fp_of(entry: Entry) -> Fingerprint:
    return fingerprint(entry.title, entry.text, url=entry.url, language=entry.language)


class Outlets:
    """Stores entries as the pipeline does: each in its own feed and write transaction."""

    def __init__(self, db: Database, settings: ClusterSettings = DEFAULT_SETTINGS) -> None:
        self.db = db
        self.settings = settings
        self.serial = 0

    def feed(self) -> int:
        self.serial += 1
        url = f"https://outlet{self.serial}.example/rss"
        with self.db.writing() as conn:
            return feed_store.sync_feeds(conn, [Feed(url=url, name=url)], START)[url]

    def store(self, entry: Entry, now: datetime) -> tuple[int, StoryAssignment]:
        feed_id = self.feed()
        with self.db.writing() as conn:
            item_id = item_store.insert_items(conn, feed_id, [entry], now)[entry.key]
            found = assign_story(
                conn,
                item_id=item_id,
                entry=entry,
                fingerprint=fp_of(entry),
                now=now,
                settings=self.settings,
            )
        return item_id, found


def in_memory(items: list[Labelled]) -> tuple[list[int], list[str]]:
    """Story numbers (by first appearance) and signals the in-memory index gives."""
    index = StoryIndex()
    stories, signals = [], []
    for i, (_, _, entry) in enumerate(items):
        now = START + STEP * i
        fp = fp_of(entry)
        decision = decide(fp, index.candidates(fp, now), index)
        story = decision.story_id if decision.story_id is not None else i
        index.add(story, fp, now)
        stories.append(story)
        signals.append(decision.signal)
    return stories, signals


def first_seen(ids: list[int]) -> list[int]:
    """Story ids renumbered by first appearance (comparable across indexes)."""
    order: dict[int, int] = {}
    return [order.setdefault(i, len(order)) for i in ids]


def table_rows(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.mark.parametrize("name", [*sorted(SETS), "all"])
def test_written_sets_cluster_as_labelled_and_as_in_memory(db: Database, name: str) -> None:
    items = ALL_ITEMS if name == "all" else SETS[name]
    outlets = Outlets(db)
    assigned = [outlets.store(entry, START + STEP * i)[1] for i, (_, _, entry) in enumerate(items)]
    story_of: dict[str, set[int]] = {}
    for (story, _, _), found in zip(items, assigned, strict=True):
        story_of.setdefault(story, set()).add(found.story_id)
    assert all(len(ids) == 1 for ids in story_of.values()), story_of  # variants land together
    firsts = [next(iter(ids)) for ids in story_of.values()]
    assert len(set(firsts)) == len(firsts), story_of  # different stories stay apart
    stories, signals = in_memory(items)
    assert first_seen([a.story_id for a in assigned]) == first_seen(stories)
    assert [a.decision.signal for a in assigned] == signals
    assert [a.is_new for a in assigned] == [s == "none" for s in signals]


def test_story_rows_and_links_explain_the_decisions(db: Database) -> None:
    outlets = Outlets(db)
    maritime = SETS["maritime"][:8]  # the Eastgate bridge story, in eight variants
    ids = [outlets.store(entry, START + STEP * i) for i, (_, _, entry) in enumerate(maritime)]
    story_id = ids[0][1].story_id
    with db.reading() as conn:
        links = story_links(conn, story_id)
        story = conn.execute(select(STORY).where(STORY.c.id == story_id)).one()
        item_stories = conn.execute(
            select(ITEM.c.story_id).where(ITEM.c.id.in_([i for i, _ in ids]))
        ).scalars()
        assert set(item_stories) == {story_id}
    assert [item for item, _, _ in links] == [i for i, _ in ids]
    assert [signal for _, signal, _ in links] == [
        "none", "url", "copy", "copy", "copy", "content", "content", "names",
    ]  # fmt: skip
    assert all(0.0 <= score <= 1.0 for _, _, score in links)
    assert links[1][2] == 1.0  # the same canonical URL
    assert story.item_count == 8
    assert story.headline_item_id == ids[0][0]  # the first item stays the headline
    assert story.title == maritime[0][2].title
    assert story.last_seen_at == START + STEP * 7


def test_the_window_is_respected(db: Database) -> None:
    outlets = Outlets(db)
    original = SETS["maritime"][0][2]
    copy = SETS["maritime"][2][2]  # wire copy under another title
    _, first = outlets.store(original, START)
    late = START + DEFAULT_SETTINGS.window + timedelta(minutes=1)
    _, after = outlets.store(copy, late)
    assert after.is_new and after.story_id != first.story_id
    _, within = outlets.store(replace(copy, url="https://x.example/1"), late + timedelta(hours=1))
    assert within.story_id == after.story_id and within.decision.signal == "copy"
    with db.reading() as conn:
        index = SqlStoryIndex(conn)
        found = index.candidates(fp_of(copy), START + timedelta(hours=1), window=timedelta(days=30))
        assert {c.story_id for c in found} == {first.story_id, after.story_id}
        recent = index.candidates(fp_of(copy), late + timedelta(hours=2))
        assert {c.story_id for c in recent} == {after.story_id}


def test_the_index_survives_a_restart(db_url: str) -> None:
    first_db = Database(db_url)
    upgrade(first_db)
    original = SETS["maritime"][0][2]
    rewrite = SETS["maritime"][5][2]  # rewrite by another outlet: needs the df table
    _, started = Outlets(first_db).store(original, START)
    first_db.dispose()
    restarted = Database(db_url)
    try:
        with restarted.reading() as conn:
            assert SqlStoryIndex(conn).documents == 1
        outlets = Outlets(restarted)
        outlets.serial = 100  # new feeds
        _, joined = outlets.store(rewrite, START + timedelta(hours=1))
    finally:
        restarted.dispose()
    assert joined.story_id == started.story_id and joined.decision.signal == "content"


def _race_once(url: str, entries: tuple[Entry, Entry], now: datetime) -> list[int]:
    """Two PostgreSQL writers, each on its own engine, assign copies at the same moment."""
    barrier = threading.Barrier(2, timeout=30)
    found: list[int] = []
    errors: list[BaseException] = []
    databases = [Database(url), Database(url)]
    feeds = []
    for n, database in enumerate(databases):
        feed = Feed(url=f"https://race{n}-{now.timestamp():.0f}.example/rss", name=f"r{n}")
        with database.writing() as conn:
            feeds.append(feed_store.sync_feeds(conn, [feed], now)[feed.url])

    def writer(database: Database, feed_id: int, entry: Entry) -> None:
        try:
            with database.writing() as conn:
                item_id = item_store.insert_items(conn, feed_id, [entry], now)[entry.key]
                barrier.wait()  # both transactions are open and have inserted their item
                fp = fp_of(entry)
                found.append(
                    assign_story(
                        conn, item_id=item_id, entry=entry, fingerprint=fp, now=now
                    ).story_id
                )
        except BaseException as exc:  # reported below
            errors.append(exc)
            barrier.abort()

    threads = [
        threading.Thread(target=writer, args=(d, f, e))
        for d, f, e in zip(databases, feeds, entries, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for database in databases:
        database.dispose()
    if errors:
        raise errors[0]
    return found


@pytest.mark.postgres
def test_racing_copies_end_in_one_story_on_postgresql(pg_url: str) -> None:
    upgrade_db = Database(pg_url)
    upgrade(upgrade_db)
    upgrade_db.dispose()
    original = SETS["maritime"][0][2]
    copy = SETS["maritime"][2][2]
    for round_ in range(4):
        now = START + timedelta(days=5 * round_)  # a fresh window each round
        a = replace(original, url=f"https://a.example/{round_}")
        b = replace(copy, url=f"https://b.example/{round_}")
        found = _race_once(pg_url, (a, b), now)
        assert len(found) == 2 and found[0] == found[1], found
    check = Database(pg_url)
    with check.reading() as conn:
        counts = conn.execute(select(STORY.c.item_count)).scalars().all()
    check.dispose()
    assert counts == [2, 2, 2, 2]


def test_racing_writers_on_sqlite_are_serialised(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    upgrade(database)
    database.dispose()
    original = SETS["maritime"][0][2]
    copy = SETS["maritime"][2][2]
    entries = (original, replace(copy, url="https://b.example/1"))
    found: list[int] = []
    threads = [
        threading.Thread(target=lambda n=n, e=e: found.extend(_one_writer(sqlite_url, n, e)))
        for n, e in enumerate(entries)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 2 and found[0] == found[1]


def _one_writer(url: str, number: int, entry: Entry) -> list[int]:
    database = Database(url)  # its own engine: only SQLite's BEGIN IMMEDIATE serialises
    try:
        outlets = Outlets(database)
        outlets.serial = 100 * number  # its own feeds
        return [outlets.store(entry, START)[1].story_id]
    finally:
        database.dispose()


def window_state(conn: Connection) -> tuple[Counter[str], Counter[str]]:
    """(stored document frequencies, frequencies recomputed from the stored fingerprints)."""
    stored: Counter[str] = Counter(dict(conn.execute(select(TERMS.c.term, TERMS.c.count)).all()))
    recomputed: Counter[str] = Counter()
    for terms in conn.execute(select(FINGERPRINTS.c.terms)).scalars():
        recomputed.update(terms.split())
        recomputed[DOCUMENTS] += 1
    return stored, recomputed


def test_expiry_keeps_document_frequencies_consistent(db: Database) -> None:
    outlets = Outlets(db)
    times = [START + timedelta(hours=6 * i) for i in range(len(ALL_ITEMS))]
    for (_, _, entry), now in zip(ALL_ITEMS, times, strict=True):
        outlets.store(entry, now)
    with db.reading() as conn:
        stored, recomputed = window_state(conn)
        assert stored == recomputed and stored[DOCUMENTS] == len(ALL_ITEMS)
    cut = len(ALL_ITEMS) // 2
    with db.writing() as conn:
        assert expire_stories(conn, times[cut]) == cut
    with db.reading() as conn:
        stored, recomputed = window_state(conn)
        assert stored == recomputed and stored[DOCUMENTS] == len(ALL_ITEMS) - cut
        assert min(stored.values()) > 0  # no zero counts left behind
        oldest = conn.execute(select(KEYS.c.at).order_by(KEYS.c.at).limit(1)).scalar()
        assert oldest == key_time(times[cut])
        assert (
            SqlStoryIndex(conn).candidates(fp_of(ALL_ITEMS[0][2]), times[-1], timedelta(days=99))
            == []
        )
    with db.writing() as conn:
        assert expire_stories(conn, times[-1] + timedelta(seconds=1)) == len(ALL_ITEMS) - cut
        assert expire_stories(conn, times[-1] + timedelta(seconds=1)) == 0
    with db.reading() as conn:
        for table in (KEYS, FINGERPRINTS, TERMS):
            assert table_rows(conn, table) == 0
        assert table_rows(conn, STORY) > 0  # stories and links outlive the window


def test_assign_story_is_idempotent_per_item(db: Database) -> None:
    outlets = Outlets(db)
    original = SETS["maritime"][0][2]
    item_id, first = outlets.store(original, START)
    with db.writing() as conn:
        again = assign_story(
            conn, item_id=item_id, entry=original, fingerprint=fp_of(original), now=START
        )
        assert again == first
        assert SqlStoryIndex(conn).documents == 1


def test_long_urls_are_keyed_by_digest_and_still_join(db: Database) -> None:
    outlets = Outlets(db)
    original = SETS["same_topic"][0][2]
    url = "https://long.example/" + "section/" * 40 + "story"
    _, first = outlets.store(replace(original, url=url), START)
    short = replace(original, url=url, title="Other", text="Short teaser only.")
    _, second = outlets.store(short, START + STEP)
    assert second.story_id == first.story_id and second.decision.signal == "url"
    with db.reading() as conn:
        longest = conn.execute(text("SELECT MAX(LENGTH(key)) FROM story_key")).scalar_one()
    assert longest <= 40


def test_candidates_are_bounded_and_read_through_the_key_index(db: Database) -> None:
    settings = replace(DEFAULT_SETTINGS, per_key=4, max_candidates=3)
    outlets = Outlets(db, settings)
    for n in range(40):
        text_ = f"Valmora harbour report number {n} about bridge traffic and ships"
        entry = replace(SETS["maritime"][0][2], url=f"https://r.example/{n}", text=text_)
        outlets.store(replace(entry, title=f"Report {n}"), START)
    query = fingerprint("", "Valmora harbour bridge traffic and ships", language="en")
    with db.reading() as conn:
        found = SqlStoryIndex(conn, settings).candidates(query, START)
        assert 1 <= len(found) <= 3
        assert found == sorted(found, key=lambda c: -c.evidence)
        plan = ranking_plan(conn, ["w:valmora", "w:bridge"])
    assert "story_key" in plan and ("pkey" in plan or "PRIMARY KEY" in plan), plan
    assert "SCAN story_key" not in plan and "Seq Scan" not in plan, plan


def ranking_plan(conn: Connection, keys: list[str]) -> str:
    """The query plan of the candidate lookup statement."""
    params: dict[str, Any] = {"since": 0, "per_key": 32, "limit": 4}
    if conn.dialect.name == "postgresql":
        conn.execute(text("ANALYZE story_key"))
        params |= {"keys": keys, "weights": [1.0] * len(keys)}
        sql = "EXPLAIN " + str(RANKING_PG)
    else:
        params |= {f"k{i}": k for i, k in enumerate(keys)}
        params |= {f"w{i}": 1.0 for i in range(len(keys))}
        sql = "EXPLAIN QUERY PLAN " + str(ranking_sql(len(keys)))
    return "\n".join(" ".join(map(str, row)) for row in conn.execute(text(sql), params))


def test_the_story_index_migration_goes_down_and_up(db: Database) -> None:
    scripts = Path(migrate.__file__).with_name("migrations")
    with db.engine.connect().execution_options(write=True) as conn:
        config = Config()
        config.set_main_option("script_location", str(scripts))
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
        conn.commit()
        assert "story_key" not in inspect(conn).get_table_names()
        assert "story" in inspect(conn).get_table_names()
    assert upgrade(db) == migrate.head_revision()
    with db.reading() as conn:
        assert {"story_key", "story_fingerprint", "story_term", "story_link"} <= set(
            inspect(conn).get_table_names()
        )
