"""Per-item cost of `assign_stories` (the story index in the database) with 1k to 1M stories.

Usage: python -m bench.bench_cluster_db [--sizes 1000,100000,1000000] [--queries 1000]
       [--rounds 20] [--backends sqlite,postgresql] [--pg postgresql://postgres@127.0.0.1:5432/test]
       [--dir /tmp/bench_cluster_db]

No corpus: the window is filled with the synthetic fingerprints of bench.bench_cluster
(Zipf vocabulary of 400,000 terms, 90 terms per item, random signatures), filed under
the keys `SqlStoryIndex.add` would give them (document frequencies of the moment), and
bulk-loaded (SQLite: sorted insert into the clustered key table; PostgreSQL: COPY, then
the key table's indexes built), one single-item story per item. Then each query item
is stored as the pipeline stores it (`monitor.service.ingest`): ``insert_items``, then
one ``assign_stories`` call for the transaction's items, in write transactions of 10
items (a feed poll); the cost per item is that call's time divided by its items. Half
the queries rewrite a stored story (half its terms), half are new stories.

Every window is built first, then read through once (`warm`: the OS page cache holds
it, as it holds a running daemon's index); then the targets (backend and size) take
turns, in ``--rounds`` slices of their queries, rotating who goes first: a drift of the
machine's speed during the run (seen here: 3x within an hour) touches every size alike
instead of landing on whichever size ran last.

Figures per backend and size: build seconds (generation and SQLite load; PostgreSQL
adds its copy); bytes per story of the index tables (story_key + story_fingerprint +
story_term, indexes included) and of the story table; median and mean microseconds of
``assign_stories`` per item; median microseconds of ``candidates`` alone (200 items, read
transaction); median and mean milliseconds per item of the whole write transaction
(insert, assign, commit: the mean carries the WAL checkpoints, which come every few
transactions); candidates compared; share of queries that joined a story; the ratio
of the median ``assign_stories`` per item to the smallest window's, and to the previous
size's.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import psycopg

from bench.bench_cluster import START, Synth
from monitor.core.cluster import DEFAULT_SETTINGS
from monitor.core.fingerprint import (
    FINGERPRINT_VERSION,
    Fingerprint,
    TermCounts,
    key_terms,
    strong_keys,
    term_key,
    term_weights,
)
from monitor.core.models import Entry, Feed
from monitor.store import feeds as feed_store
from monitor.store import items as item_store
from monitor.store.database import Database
from monitor.store.migrate import upgrade
from monitor.store.stories import (
    DOCUMENTS,
    NewItem,
    SqlStoryIndex,
    assign_stories,
    key_time,
    stored_key,
)

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
BATCH = 10  # items per write transaction, as one feed poll stores them
INDEX_TABLES = ("story_key", "story_fingerprint", "story_term")
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"
NOW = START + DEFAULT_SETTINGS.window * 0.9  # when the queries arrive


@dataclass
class Window:
    """What a build leaves for the queries: stored fingerprints to rewrite, build seconds."""

    sample: list[Fingerprint]
    seconds: float


def window_rows(size: int, seed: int) -> Iterator[tuple[Fingerprint, int, list[str]]]:
    """(fingerprint, at seconds, stored keys) of ``size`` items spread over 90% of the window."""
    synth = Synth(seed)
    df: Counter[str] = Counter()
    span = DEFAULT_SETTINGS.window.total_seconds() * 0.9
    start = key_time(START)
    for i in range(size):
        fp = synth.item()
        weights = term_weights(fp, TermCounts(i, df))
        terms = key_terms(fp, weights, DEFAULT_SETTINGS.index_terms)
        keys = dict.fromkeys(map(stored_key, strong_keys(fp) + tuple(map(term_key, terms))))
        df.update(fp.terms)
        yield fp, start + int(span * i / size), list(keys)


def fingerprint_row(item: int, fp: Fingerprint, at: int) -> tuple[Any, ...]:
    return (
        item, item, at, FINGERPRINT_VERSION, fp.url, fp.language, fp.title,
        " ".join(fp.terms), fp.counts, " ".join(fp.names), fp.signature, fp.has_text,
    )  # fmt: skip


def build_sqlite(path: Path, size: int, seed: int) -> Window:
    """A migrated SQLite file holding ``size`` single-item stories, loaded in bulk."""
    path.unlink(missing_ok=True)
    database = Database(f"sqlite:///{path}")
    upgrade(database)
    database.dispose()
    started = time.perf_counter()
    raw = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-1000000"):
        raw.execute(f"PRAGMA {pragma}")
    raw.execute("BEGIN")
    raw.execute("DROP INDEX ix_story_key_at")
    raw.execute(
        "CREATE TEMP TABLE staging (key TEXT, at INTEGER, item_id INTEGER, story_id INTEGER)"
    )
    df: Counter[str] = Counter()
    sample: list[Fingerprint] = []
    rows = enumerate(window_rows(size, seed), start=1)
    while chunk := list(islice(rows, 10_000)):
        raw.executemany(
            "INSERT INTO staging VALUES (?, ?, ?, ?)",
            ((k, at, i, i) for i, (_, at, keys) in chunk for k in keys),
        )
        raw.executemany(
            "INSERT INTO story_fingerprint VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (fingerprint_row(i, fp, at) for i, (fp, at, _) in chunk),
        )
        raw.executemany(
            "INSERT INTO story (id, title, url, headline_item_id, item_count, first_seen_at, "
            "last_seen_at) VALUES (?, ?, NULL, ?, 1, ?, ?)",
            (
                (i, f"story {i}", i, seen, seen)
                for i, (_, at, _) in chunk
                for seen in [
                    (START + timedelta(seconds=at - key_time(START))).strftime(_SQLITE_TIME)
                ]
            ),
        )
        for i, (fp, _, _) in chunk:
            df.update(fp.terms)
            if i % max(1, size // 1000) == 0:
                sample.append(fp)
    raw.execute("INSERT INTO story_key SELECT * FROM staging ORDER BY key, at, item_id")
    raw.execute("DROP TABLE staging")
    raw.execute("CREATE INDEX ix_story_key_at ON story_key (at)")
    df[DOCUMENTS] = size
    raw.executemany("INSERT INTO story_term VALUES (?, ?)", sorted(df.items()))
    _placeholder_item(raw, size)
    raw.execute("COMMIT")
    raw.execute("PRAGMA journal_mode=WAL")
    raw.close()
    return Window(sample, time.perf_counter() - started)


def query_synth(size: int) -> Synth:
    """The generator of the query items: other seed, URLs that no window item has."""
    synth = Synth(size + 1)
    synth.serial = 10**9
    return synth


def _placeholder_item(raw: sqlite3.Connection, size: int) -> None:
    """New items get ids above the window's (their fingerprints are keyed by item id)."""
    raw.execute(
        "INSERT INTO feed (id, url, name, active, baseline_done, error_streak) "
        "VALUES (1, 'https://bench.example/rss', 'bench', 1, 1, 0)"
    )
    raw.execute(
        "INSERT INTO item (id, feed_id, key, content_hash, title, text, published_at, "
        "fetched_at) VALUES (?, 1, 'placeholder', 'x', 'x', 'x', ?, ?)",
        (size + 10, START.strftime(_SQLITE_TIME), START.strftime(_SQLITE_TIME)),
    )


def build_postgres(admin: str, name: str, source: Path, size: int) -> float:
    """A migrated PostgreSQL database with the same window, copied from the SQLite build."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg_url(admin, name)
    database = Database(url)
    upgrade(database)
    database.dispose()
    started = time.perf_counter()
    lite = sqlite3.connect(source)
    with psycopg.connect(admin.rsplit("/", 1)[0] + f"/{name}") as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("ALTER TABLE story_key DROP CONSTRAINT story_key_pkey")
        conn.execute("DROP INDEX ix_story_key_at")
        copies = {
            "story_key (key, at, item_id, story_id)": "SELECT * FROM story_key",
            "story_fingerprint": "SELECT * FROM story_fingerprint",
            "story_term (term, count)": "SELECT * FROM story_term",
            "story (id, title, headline_item_id, item_count, first_seen_at, last_seen_at)": (
                "SELECT id, title, headline_item_id, item_count, first_seen_at || '+00', "
                "last_seen_at || '+00' FROM story"
            ),
        }
        with conn.cursor() as cur:
            for target, query in copies.items():
                with cur.copy(f"COPY {target} FROM STDIN") as copy:
                    for row in lite.execute(query):
                        copy.write_row(_pg_row(row))
        conn.execute(
            "ALTER TABLE story_key ADD CONSTRAINT story_key_pkey PRIMARY KEY (key, at, item_id)"
        )
        conn.execute("CREATE INDEX ix_story_key_at ON story_key (at)")
        conn.execute("SELECT setval('story_id_seq', %s)", (size + 10,))
        conn.execute("SELECT setval('item_id_seq', %s)", (size + 10,))
        conn.commit()
    lite.close()
    with psycopg.connect(admin.rsplit("/", 1)[0] + f"/{name}", autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # what autovacuum does to a long-lived window
    return time.perf_counter() - started


def _pg_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(row) == 12:  # a fingerprint: has_text is stored as 0/1 in SQLite
        return (*row[:11], bool(row[11]))
    return row


def pg_name(size: int) -> str:
    """The PostgreSQL database of the ``size`` window."""
    return f"bench_cluster_db_{size}"


def pg_url(admin: str, name: str) -> str:
    base = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}"


def sizes_on_disk(database: Database) -> dict[str, int]:
    """Bytes of each table, its indexes included."""
    with database.reading() as conn:
        if database.is_sqlite:
            rows = conn.exec_driver_sql(
                "SELECT m.tbl_name, SUM(d.pgsize) FROM dbstat AS d "
                "JOIN sqlite_master AS m ON m.name = d.name GROUP BY m.tbl_name"
            )
        else:
            rows = conn.exec_driver_sql(
                "SELECT relname, pg_total_relation_size(oid) FROM pg_class "
                "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
            )
        return {name: int(n) for name, n in rows}


def warm(database: Database) -> None:
    """Read a window's database through once, so the OS page cache holds it.

    A daemon touches its index all the time, so it stays cached; a window built earlier
    in the run would otherwise be measured cold (the later, bigger builds push it out).
    """
    if database.is_sqlite:
        path = Path(database.engine.url.database or "")
        for name in (path, path.with_name(f"{path.name}-wal")):
            if name.is_file():
                with name.open("rb") as f:
                    while f.read(1 << 24):
                        pass
        return
    with database.writing() as conn:
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        conn.exec_driver_sql(
            "SELECT pg_prewarm(oid, 'read') FROM pg_class "
            "WHERE relkind IN ('r', 'i') AND relnamespace = 'public'::regnamespace"
        )


@dataclass
class Target:
    """One backend and window size under measurement, with what its rounds measured."""

    backend: str
    size: int
    database: Database
    built: float  # build seconds
    on_disk: dict[str, int]
    items: list[Fingerprint]  # the query items, the same on each backend
    feed_id: int
    lookups: list[float] = field(default_factory=list)
    compared: int = 0
    assign: list[float] = field(default_factory=list)
    transactions: list[float] = field(default_factory=list)
    joined: int = 0


def prepare(
    backend: str, size: int, url: str, window: Window, built: float, queries: int
) -> Target:
    """A target with its query items: half rewrites of stored stories, half new stories."""
    database = Database(url)
    synth = query_synth(size)
    rng = random.Random(7)
    items = [synth.item(rng.choice(window.sample) if q % 2 == 0 else None) for q in range(queries)]
    with database.writing() as conn:
        feed = Feed(url="https://queries.example/rss", name="queries")
        feed_id = feed_store.sync_feeds(conn, [feed], NOW)[feed.url]
    return Target(backend, size, database, built, sizes_on_disk(database), items, feed_id)


def look_up(target: Target, items: list[Fingerprint]) -> None:
    """The index step alone (``candidates``), on a read transaction."""
    with target.database.reading() as conn:
        index = SqlStoryIndex(conn)
        for fp in items:
            started = time.perf_counter()
            target.compared += len(index.candidates(fp, NOW))
            target.lookups.append(time.perf_counter() - started)


def store(target: Target, items: list[Fingerprint]) -> None:
    """Store items as a poll does: insert_items + assign_stories, BATCH per write transaction."""
    for start in range(0, len(items), BATCH):
        batch = items[start : start + BATCH]
        entries = [_entry(fp, NOW) for fp in batch]
        started = time.perf_counter()
        with target.database.writing() as conn:
            ids = item_store.insert_items(conn, target.feed_id, entries, NOW)
            new = [NewItem(ids[e.key], e, fp) for e, fp in zip(entries, batch, strict=True)]
            t = time.perf_counter()
            placed = assign_stories(conn, new, NOW)
            target.assign.append((time.perf_counter() - t) / len(batch))
            target.joined += sum(not found.is_new for found in placed)
        target.transactions.append((time.perf_counter() - started) / len(batch))


def interleave(targets: list[Target], rounds: int, lookups: int) -> None:
    """Each target's queries in ``rounds`` slices, the targets taking turns (rotated per
    round): a drift of the machine's speed during the run touches every size alike."""
    for step, part in ((look_up, lookups), (store, len(targets[0].items))):
        for r in range(rounds):
            turn = targets[r % len(targets) :] + targets[: r % len(targets)]
            for target in turn:
                share = part * r // rounds, part * (r + 1) // rounds
                step(target, target.items[share[0] : share[1]])


def _entry(fp: Fingerprint, now: Any) -> Entry:
    return Entry(
        guid=None,
        url=fp.url,
        link=fp.url,
        title=fp.title,
        text="",
        published=now,
        content_hash=f"h:{fp.url}",
        language="en",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20, help="turns the targets take")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--pg", default=DEFAULT_PG, help="PostgreSQL URL allowed to create databases"
    )
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench_cluster_db"))
    parser.add_argument("--keep", action="store_true", help="keep the built databases")
    args = parser.parse_args(argv)
    backends = args.backends.split(",")
    args.dir.mkdir(parents=True, exist_ok=True)
    targets: list[Target] = []
    for size in (int(s) for s in args.sizes.split(",")):
        path = args.dir / f"window_{size}.db"
        window = build_sqlite(path, size, seed=size)
        print(f"built {size:,} stories in {window.seconds:.0f} s", flush=True)
        for backend in backends:
            url, built = f"sqlite:///{path}", window.seconds
            if backend == "postgresql":
                built += build_postgres(args.pg, pg_name(size), path, size)
                url = pg_url(args.pg, pg_name(size))
            targets.append(prepare(backend, size, url, window, built, args.queries))
    for target in targets:
        warm(target.database)
    interleave(targets, args.rounds, min(200, args.queries))
    print(
        f"{'backend':>10s} {'stories':>9s} {'build s':>8s} {'idx B/st':>9s} {'story B':>8s} "
        f"{'assign med':>10s} {'mean':>7s} {'lookup':>7s} {'txn ms':>7s} {'mean':>6s} "
        f"{'cands':>6s} {'joined':>7s} {'ratio':>6s} {'vs prev':>7s}"
    )
    first: dict[str, float] = {}
    previous: dict[str, float] = {}
    for target in sorted(targets, key=lambda t: (backends.index(t.backend), t.size)):
        backend, size = target.backend, target.size
        assign = statistics.median(target.assign) * 1e6
        first.setdefault(backend, assign)
        index_bytes = sum(target.on_disk.get(t, 0) for t in INDEX_TABLES)
        print(
            f"{backend:>10s} {size:9d} {target.built:8.1f} {index_bytes / size:9.0f} "
            f"{target.on_disk.get('story', 0) / size:8.0f} {assign:10.0f} "
            f"{statistics.fmean(target.assign) * 1e6:7.0f} "
            f"{statistics.median(target.lookups) * 1e6:7.0f} "
            f"{statistics.median(target.transactions) * 1e3:7.2f} "
            f"{statistics.fmean(target.transactions) * 1e3:6.2f} "
            f"{target.compared / len(target.lookups):6.1f} "
            f"{target.joined / len(target.items):7.2f} {assign / first[backend]:6.2f} "
            f"{assign / previous.get(backend, first[backend]):7.2f}",
            flush=True,
        )
        previous[backend] = assign
        target.database.dispose()
    if not args.keep:
        drop(args, targets)


def drop(args: argparse.Namespace, targets: list[Target]) -> None:
    """Delete the built databases."""
    for target in targets:
        if target.backend == "postgresql":
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name(target.size)}" WITH (FORCE)')
        else:
            path = args.dir / f"window_{target.size}.db"
            for extra in ("", "-wal", "-shm"):
                Path(f"{path}{extra}").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
