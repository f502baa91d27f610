"""The story index in the database, and story assignment: each new item joins or starts a story.

`SqlStoryIndex` is the SQL twin of `monitor.core.story_index.StoryIndex`, on a
``Connection`` inside the caller's write transaction (tables in
`monitor.store.story_tables`):

- ``candidates(fp, now, window)``: one statement reads, for each of the item's lookup
  keys, at most ``per_key`` most recent postings of the window (an index range each:
  never a scan), sums the evidence per item (a URL, title or band key weighs
  ``STRONG_KEY``, a term key its TF-IDF weight) and returns the ``max_candidates`` best,
  with their fingerprints and their story's first item (``headline``).
- ``add(story_id, fp, at, item_id=...)``: file the item under its keys, keep its
  fingerprint, count its terms in the window's document frequencies.
- ``expire(before)``: forget the items filed before a time (keys, fingerprints,
  document frequencies).
- ``documents`` / ``counts(terms)``: the `DocFreq` protocol, read from ``story_term``
  and cached for the life of the object (one object per transaction: nobody else can
  change the counts while it holds the clustering lock).

`assign_story` is the clustering step of the pipeline: candidates -> `decide` -> join the
chosen story or start one -> record the link (signal, score) -> file the item.
Concurrency: SQLite serialises write transactions (``BEGIN IMMEDIATE``); on PostgreSQL
every writer of the index first takes one transaction-scoped advisory lock
(`lock_story_index`), so two copies of a story arriving at once end in one story and the
document-frequency rows, which every item updates, can never deadlock.

Times in the index are whole POSIX seconds (`key_time`): the window's edges are exact to
the second. Must not: decide anything itself (the core does), read the clock, commit.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table, TextClause, bindparam, case, delete, select, text, update

from monitor.core.cluster import (
    DEFAULT_SETTINGS,
    ClusterDecision,
    ClusterSettings,
    StoryCandidate,
    decide,
)
from monitor.core.fingerprint import (
    FINGERPRINT_VERSION,
    Fingerprint,
    key_terms,
    strong_keys,
    term_key,
    term_weights,
)
from monitor.core.models import Entry
from monitor.core.story_index import STRONG_KEY
from monitor.store.items import chunks, start_story
from monitor.store.story_tables import StoryFingerprintRow, StoryKeyRow, StoryLinkRow, StoryTermRow
from monitor.store.tables import ItemRow, StoryRow

STORY_LOCK = 0x73746F72  # PostgreSQL advisory lock of the story index ("stor")
DOCUMENTS = ""  # the story_term row counting the window's items (no term is empty)
MAX_KEY_CHARS = 40  # longer keys (long URLs) are stored as a 64-bit digest

_key: Table = StoryKeyRow.__table__  # type: ignore[attr-defined]
_fp: Table = StoryFingerprintRow.__table__  # type: ignore[attr-defined]
_term: Table = StoryTermRow.__table__  # type: ignore[attr-defined]
_link: Table = StoryLinkRow.__table__  # type: ignore[attr-defined]
_story: Table = StoryRow.__table__  # type: ignore[attr-defined]
_item: Table = ItemRow.__table__  # type: ignore[attr-defined]

_EXPIRE_BATCH = 500
_LIST_CHUNK = 5000  # terms per statement (SQLite's JSON text has no parameter limit)


def key_time(at: datetime) -> int:
    """The index's time of ``at``: whole POSIX seconds."""
    return math.floor(at.timestamp())


def stored_key(key: str) -> str:
    """A key as stored: itself, or its kind and a 64-bit digest when it is long."""
    if len(key) <= MAX_KEY_CHARS:
        return key
    kind = key.partition(":")[0]
    return f"{kind}#{hashlib.blake2b(key.encode(), digest_size=8).hexdigest()}"


def lock_story_index(conn: Connection) -> None:
    """Serialise clustering writers until the transaction ends (PostgreSQL; no-op on SQLite).

    Call it early in a write transaction that will assign stories (before inserting its
    items, to keep lock order fixed); `assign_story` and `expire_stories` call it too.
    Needs READ COMMITTED (the default): statements after the lock see what the previous
    holder committed.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": STORY_LOCK})


@dataclass(frozen=True, slots=True)
class _Filed:
    story_id: int
    at: int
    fingerprint: Fingerprint
    headline_id: int | None


class SqlStoryIndex:
    """Candidate lookup and document frequencies of the clustering window, in the database."""

    def __init__(self, conn: Connection, settings: ClusterSettings = DEFAULT_SETTINGS) -> None:
        self.conn = conn
        self.settings = settings
        self._df: dict[str, int] = {}
        self._locked = False

    # -- DocFreq ------------------------------------------------------------------------
    @property
    def documents(self) -> int:
        """Items in the window."""
        return self.counts((DOCUMENTS,))[0]

    def counts(self, terms: Sequence[str]) -> list[int]:
        """Items in the window containing each term (0 for an unknown term)."""
        df = self._df
        missing = [t for t in dict.fromkeys(terms) if t not in df]
        if missing:
            self._load_counts(missing)
        return [df[t] for t in terms]

    def __len__(self) -> int:
        return self.documents

    def _load_counts(self, terms: Sequence[str]) -> None:
        sql = _statements(self.conn)
        for part in chunks(terms, _LIST_CHUNK):
            found = self.conn.execute(sql.counts, {"terms": sql.array(part)}).all()
            self._df.update(dict.fromkeys(part, 0))
            self._df.update(found)

    def _add_counts(self, deltas: Mapping[str, int]) -> None:
        """Add ``deltas`` to the document frequencies; counts that reach 0 are deleted."""
        sql = _statements(self.conn)
        terms = sorted(deltas)
        for part in chunks(terms, _LIST_CHUNK):
            params = {"terms": sql.array(part), "deltas": sql.array([deltas[t] for t in part])}
            self.conn.execute(sql.add_counts, params)
            if any(deltas[t] < 0 for t in part):
                self.conn.execute(sql.drop_zero_counts, {"terms": params["terms"]})
        df = self._df
        for term, n in deltas.items():
            if term in df:
                df[term] += n

    # -- index --------------------------------------------------------------------------
    def lock(self) -> None:
        """Take the clustering lock for this transaction (once per object)."""
        if not self._locked:
            lock_story_index(self.conn)
            self._locked = True

    def add(self, story_id: int, fp: Fingerprint, at: datetime, *, item_id: int) -> None:
        """File item ``item_id`` of ``story_id`` under its keys and count its terms."""
        self.lock()
        self.counts((DOCUMENTS, *fp.terms))
        weights = term_weights(fp, self, self.settings.name_boost)
        terms = key_terms(fp, weights, self.settings.index_terms)
        keys = dict.fromkeys(stored_key(k) for k in strong_keys(fp) + tuple(map(term_key, terms)))
        when = key_time(at)
        self.conn.execute(
            _fp.insert(),
            {
                "item_id": item_id,
                "story_id": story_id,
                "at": when,
                "version": FINGERPRINT_VERSION,
                "url": fp.url,
                "language": fp.language,
                "title": fp.title,
                "terms": " ".join(fp.terms),
                "counts": fp.counts,
                "names": " ".join(fp.names),
                "signature": fp.signature,
                "has_text": fp.has_text,
            },
        )
        sql = _statements(self.conn)
        self.conn.execute(
            sql.file_keys,
            {"keys": sql.array(list(keys)), "at": when, "item_id": item_id, "story_id": story_id},
        )
        self._add_counts(dict.fromkeys((DOCUMENTS, *fp.terms), 1))

    def candidates(
        self, fp: Fingerprint, now: datetime, window: timedelta | None = None
    ) -> list[StoryCandidate]:
        """Items filed since ``now - window`` sharing keys with ``fp``, most shared first."""
        settings = self.settings
        since = key_time(now - (window or settings.window))
        self.counts((DOCUMENTS, *fp.terms))  # one query for what term_weights reads
        weights = term_weights(fp, self, settings.name_boost)
        evidence = dict.fromkeys(map(stored_key, strong_keys(fp)), STRONG_KEY)
        for term in key_terms(fp, weights, settings.lookup_terms):
            evidence.setdefault(stored_key(term_key(term)), weights[term])
        ranked = self._ranked(evidence, since)
        if not ranked:
            return []
        filed = self._filed([item for item, _ in ranked])
        # decide() reads the counts of every candidate's terms: fetch them in one go
        self.counts([t for f in filed.values() for t in f.fingerprint.terms])
        out = []
        for item, score in ranked:
            found = filed.get(item)
            if found is None:
                continue
            headline = filed[found.headline_id].fingerprint if found.headline_id in filed else None
            when = datetime.fromtimestamp(found.at, UTC)
            out.append(
                StoryCandidate(found.story_id, found.fingerprint, when, round(score, 3), headline)
            )
        return out

    def _ranked(self, evidence: Mapping[str, float], since: int) -> list[tuple[int, float]]:
        """(item, evidence) of the best-ranked items: per-key postings read by index range."""
        params: dict[str, Any] = {
            "since": since,
            "per_key": self.settings.per_key,
            "limit": self.settings.max_candidates,
        }
        if self.conn.dialect.name == "postgresql":
            params["keys"] = list(evidence)
            params["weights"] = list(evidence.values())
            stmt = _RANKING_PG
        else:
            for i, (key, weight) in enumerate(evidence.items()):
                params[f"k{i}"] = key
                params[f"w{i}"] = weight
            stmt = _ranking_sql(len(evidence))
        return [(r.item_id, float(r.evidence)) for r in self.conn.execute(stmt, params)]

    def _filed(self, item_ids: Sequence[int]) -> dict[int, _Filed]:
        """Fingerprints of these items and of their stories' first items, by item id."""
        q = (
            select(_fp, _story.c.headline_item_id)
            .join(_story, _story.c.id == _fp.c.story_id)
            .where(_fp.c.item_id.in_(item_ids), _fp.c.version == FINGERPRINT_VERSION)
        )
        out = {r.item_id: _row_filed(r, r.headline_item_id) for r in self.conn.execute(q)}
        headlines = {f.headline_id for f in out.values()} - out.keys() - {None}
        if headlines:
            q = select(_fp).where(
                _fp.c.item_id.in_(sorted(h for h in headlines if h is not None)),
                _fp.c.version == FINGERPRINT_VERSION,
            )
            out.update((r.item_id, _row_filed(r, None)) for r in self.conn.execute(q))
        return out

    def expire(self, before: datetime) -> int:
        """Forget items filed before ``before`` (keys, fingerprints, frequencies); how many."""
        self.lock()
        limit = key_time(before)
        removed = 0
        while True:
            q = (
                select(_fp.c.item_id, _fp.c.terms)
                .where(_fp.c.at < limit)
                .order_by(_fp.c.at, _fp.c.item_id)
                .limit(_EXPIRE_BATCH)
            )
            rows = self.conn.execute(q).all()
            if not rows:
                break
            gone: Counter[str] = Counter()
            for r in rows:
                gone.update(r.terms.split())
            gone[DOCUMENTS] = len(rows)
            self.conn.execute(delete(_fp).where(_fp.c.item_id.in_([r.item_id for r in rows])))
            self._add_counts({t: -n for t, n in gone.items()})
            removed += len(rows)
        self.conn.execute(delete(_key).where(_key.c.at < limit))
        return removed


def _row_filed(row: Any, headline_id: int | None) -> _Filed:
    fp = Fingerprint(
        url=row.url,
        language=row.language,
        title=row.title,
        terms=tuple(row.terms.split()),
        counts=bytes(row.counts),
        names=tuple(row.names.split()),
        signature=bytes(row.signature),
        has_text=bool(row.has_text),
    )
    return _Filed(row.story_id, row.at, fp, headline_id)


@dataclass(frozen=True, slots=True)
class _Statements:
    """Fixed statements taking a list as one parameter (a PostgreSQL array, SQLite JSON).

    One statement text whatever the list's length: compiled and planned once, one round
    trip for the ~40 keys and ~120 terms of an item.
    """

    array: Callable[[Sequence[Any]], Any]
    counts: TextClause
    add_counts: TextClause
    drop_zero_counts: TextClause
    file_keys: TextClause


_POSTGRESQL = _Statements(
    array=list,
    counts=text("SELECT term, count FROM story_term WHERE term = ANY(CAST(:terms AS text[]))"),
    add_counts=text(
        "INSERT INTO story_term (term, count) "
        "SELECT t, n FROM unnest(CAST(:terms AS text[]), CAST(:deltas AS integer[])) AS d(t, n) "
        "ORDER BY t ON CONFLICT (term) DO UPDATE SET count = story_term.count + excluded.count"
    ),
    drop_zero_counts=text(
        "DELETE FROM story_term WHERE term = ANY(CAST(:terms AS text[])) AND count <= 0"
    ),
    file_keys=text(
        "INSERT INTO story_key (key, at, item_id, story_id) "
        "SELECT k, CAST(:at AS bigint), :item_id, :story_id FROM unnest(CAST(:keys AS text[])) AS k"
    ),
)

_SQLITE = _Statements(
    array=lambda values: json.dumps(list(values), ensure_ascii=False),
    counts=text(
        "SELECT term, count FROM story_term WHERE term IN (SELECT value FROM json_each(:terms))"
    ),
    add_counts=text(
        "INSERT INTO story_term (term, count) "
        "SELECT t.value, d.value FROM json_each(:terms) AS t JOIN json_each(:deltas) AS d "
        "ON d.key = t.key WHERE true "  # WHERE: SQLite's upsert-after-select parsing rule
        "ON CONFLICT (term) DO UPDATE SET count = count + excluded.count"
    ),
    drop_zero_counts=text(
        "DELETE FROM story_term WHERE term IN (SELECT value FROM json_each(:terms)) AND count <= 0"
    ),
    file_keys=text(
        'INSERT INTO story_key ("key", at, item_id, story_id) '
        "SELECT value, :at, :item_id, :story_id FROM json_each(:keys)"
    ),
)


def _statements(conn: Connection) -> _Statements:
    return _POSTGRESQL if conn.dialect.name == "postgresql" else _SQLITE


_RANKING_PG = text(
    """
    SELECT p.item_id, SUM(k.w) AS evidence
    FROM unnest(CAST(:keys AS text[]), CAST(:weights AS float8[])) AS k(key, w)
    CROSS JOIN LATERAL (
        SELECT s.item_id FROM story_key AS s
        WHERE s.key = k.key AND s.at >= :since
        ORDER BY s.at DESC, s.item_id DESC
        LIMIT :per_key
    ) AS p
    GROUP BY p.item_id
    ORDER BY evidence DESC, p.item_id DESC
    LIMIT :limit
    """
)


@lru_cache(maxsize=64)
def _ranking_sql(keys: int) -> TextClause:
    """The ranking statement for SQLite (no LATERAL): one limited index range per key."""
    # built from integers only: no input reaches the SQL text
    arms = " UNION ALL ".join(
        f"SELECT item_id, w FROM (SELECT item_id, CAST(:w{i} AS REAL) AS w FROM story_key "  # noqa: S608
        f'WHERE "key" = :k{i} AND at >= :since ORDER BY at DESC, item_id DESC '
        f"LIMIT :per_key) AS p{i}"
        for i in range(keys)
    )
    return text(
        f"SELECT item_id, SUM(w) AS evidence FROM ({arms}) AS hits "  # noqa: S608
        "GROUP BY item_id ORDER BY evidence DESC, item_id DESC LIMIT :limit"
    )


@dataclass(frozen=True, slots=True)
class StoryAssignment:
    """Where an item went: its story, whether it started it, and the decision that said so."""

    story_id: int
    is_new: bool
    decision: ClusterDecision  # as `decide` returned it (story_id None for a new story)


def assign_story(
    conn: Connection,
    *,
    item_id: int,
    entry: Entry,
    fingerprint: Fingerprint,
    now: datetime,
    settings: ClusterSettings = DEFAULT_SETTINGS,
) -> StoryAssignment:
    """Put a newly stored item in a story of the window, or start one with it as headline.

    Runs inside the caller's write transaction, after the item row is inserted. An item
    already assigned keeps its story (the recorded link is returned).
    """
    known = conn.execute(
        select(_link.c.story_id, _link.c.signal, _link.c.score).where(_link.c.item_id == item_id)
    ).first()
    if known is not None:
        is_new = known.signal == "none"
        decision = ClusterDecision(None if is_new else known.story_id, known.signal, known.score)
        return StoryAssignment(known.story_id, is_new, decision)
    index = SqlStoryIndex(conn, settings)
    index.lock()
    decision = decide(fingerprint, index.candidates(fingerprint, now), index, settings)
    if decision.story_id is None:
        story_id = start_story(conn, item_id, entry, now)
    else:
        story_id = decision.story_id
        _join_story(conn, story_id, item_id, now)
    conn.execute(
        _link.insert(),
        {
            "item_id": item_id,
            "story_id": story_id,
            "signal": decision.signal,
            "score": decision.score,
            "linked_at": now,
        },
    )
    index.add(story_id, fingerprint, now, item_id=item_id)
    return StoryAssignment(story_id, decision.story_id is None, decision)


def _join_story(conn: Connection, story_id: int, item_id: int, now: datetime) -> None:
    conn.execute(_JOIN_STORY, {"story": story_id, "now": now})
    conn.execute(update(_item).where(_item.c.id == item_id).values(story_id=story_id))


_SEEN = _story.c.last_seen_at
_NOW = bindparam("now", type_=_SEEN.type)
_JOIN_STORY = (
    update(_story)
    .where(_story.c.id == bindparam("story"))
    .values(
        item_count=_story.c.item_count + 1, last_seen_at=case((_SEEN < _NOW, _NOW), else_=_SEEN)
    )
)


def expire_stories(conn: Connection, before: datetime) -> int:
    """Drop the index rows and document frequencies of items filed before ``before``.

    Stories, items and links stay; only the window's index shrinks. Returns the number of
    items forgotten. Run it in its own write transaction (it takes the clustering lock).
    """
    return SqlStoryIndex(conn).expire(before)


def story_links(conn: Connection, story_id: int) -> list[tuple[int, str, float]]:
    """(item id, signal, score) of a story's items, in the order they joined."""
    q = (
        select(_link.c.item_id, _link.c.signal, _link.c.score)
        .join(_item, _item.c.id == _link.c.item_id)
        .where(_item.c.story_id == story_id)  # item.story_id is indexed
        .order_by(_link.c.linked_at, _link.c.item_id)
    )
    return [(r.item_id, r.signal, r.score) for r in conn.execute(q)]
