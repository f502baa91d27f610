"""The story index in the database, and story assignment: each new item joins or starts a story.

`SqlStoryIndex` is the SQL twin of `monitor.core.story_index.StoryIndex`, on a
``Connection`` inside the caller's write transaction (tables in
`monitor.store.story_tables`, statements in `monitor.store.story_sql`):

- ``candidates(fp, now, window)``: one statement reads, for each of the item's lookup
  keys, at most ``per_key`` most recent postings of the window (an index range each:
  never a scan), sums the evidence per item (a URL, title or band key weighs
  ``STRONG_KEY``, a term key its TF-IDF weight) and returns the ``max_candidates`` best,
  with their fingerprints and their story's first item (``headline``).
- ``add(story_id, fp, at, item_id=...)``: file the item under its keys (written at once:
  the next lookup finds it), keep its fingerprint and count its terms; the fingerprint
  row and the counts are written by ``flush()``, one statement per table for all the
  items added (a poll's), and until then the object answers for them.
- ``expire(before)``: forget the items filed before a time (keys, fingerprints,
  document frequencies).
- ``documents`` / ``counts(terms)``: the `DocFreq` protocol, read from ``story_term``
  once per term and kept for the life of the object, with what ``add`` counted (one
  object per transaction: nobody else can change the index while it holds the
  clustering lock). Fingerprint rows read are kept the same way.

`assign_stories` is the clustering step of the pipeline, for a poll's new items in order
(each sees the items before it, so copies inside one feed document cluster):
candidates -> `decide` -> join the chosen story or start one -> file the item; the links
(signal, score) and the joins' counters are written at the end, one statement each.
`assign_story` does it for one item.
Concurrency: SQLite serialises write transactions (``BEGIN IMMEDIATE``); on PostgreSQL
every writer of the index first takes one transaction-scoped advisory lock
(`lock_story_index`), so two copies of a story arriving at once end in one story and the
document-frequency rows, which every item updates, can never deadlock.

Times in the index are whole POSIX seconds (`key_time`): the window's edges are exact to
the second. Must not: decide anything itself (the core does), read the clock, commit.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, delete, select, text

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
from monitor.store.story_sql import (
    HEADLINE,
    JOIN_STORY,
    RANKING_PG,
    READ_FINGERPRINTS,
    READ_LINKS,
    SET_ITEM_STORY,
    ranking_sql,
    statements,
)
from monitor.store.story_tables import StoryFingerprintRow, StoryKeyRow, StoryLinkRow
from monitor.store.tables import ItemRow, StoryRow

STORY_LOCK = 0x73746F72  # PostgreSQL advisory lock of the story index ("stor")
DOCUMENTS = ""  # the story_term row counting the window's items (no term is empty)
MAX_KEY_CHARS = 40  # longer keys (long URLs) are stored as a 64-bit digest

_key: Table = StoryKeyRow.__table__  # type: ignore[attr-defined]
_fp: Table = StoryFingerprintRow.__table__  # type: ignore[attr-defined]
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
        self._sql = statements(conn)
        self._df: dict[str, int] = {}  # as read, plus what add() counted
        self._filed: dict[int, _Filed | None] = {}  # item -> its row (None: it has none)
        self._headlines: dict[int, int | None] = {}  # story -> its first item
        self._new_rows: list[dict[str, Any]] = []  # fingerprint rows flush() writes
        self._new_counts: Counter[str] = Counter()  # document frequencies flush() adds
        self._locked = False

    # -- DocFreq ------------------------------------------------------------------------
    @property
    def documents(self) -> int:
        """Items in the window."""
        return self.counts((DOCUMENTS,))[0]

    def counts(self, terms: Sequence[str]) -> list[int]:
        """Items in the window containing each term (0 for an unknown term)."""
        try:
            return list(map(self._df.__getitem__, terms))
        except KeyError:  # some are not read yet
            self._load_counts([t for t in dict.fromkeys(terms) if t not in self._df])
            return list(map(self._df.__getitem__, terms))

    def __len__(self) -> int:
        return self.documents

    def _load_counts(self, terms: Sequence[str]) -> None:
        sql = self._sql
        for part in chunks(terms, _LIST_CHUNK):
            found = self.conn.execute(sql.counts, {"terms": sql.array(part)}).scalar_one()
            self._df.update(dict.fromkeys(part, 0))
            self._df.update(found or {})

    def _write_counts(self, deltas: Mapping[str, int]) -> None:
        """Add ``deltas`` to the stored document frequencies; counts reaching 0 are deleted."""
        sql = self._sql
        terms = sorted(deltas)
        for part in chunks(terms, _LIST_CHUNK):
            self.conn.execute(sql.add_counts, sql.deltas(part, [deltas[t] for t in part]))
            if any(deltas[t] < 0 for t in part):
                self.conn.execute(sql.drop_zero_counts, {"terms": sql.array(part)})

    # -- index --------------------------------------------------------------------------
    def lock(self) -> None:
        """Take the clustering lock for this transaction (once per object)."""
        if not self._locked:
            lock_story_index(self.conn)
            self._locked = True

    def add(
        self,
        story_id: int,
        fp: Fingerprint,
        at: datetime,
        *,
        item_id: int,
        headline_id: int | None = None,
    ) -> None:
        """File item ``item_id`` of ``story_id`` under its keys and count its terms.

        ``headline_id`` is the story's first item (read from the story when not given).
        The fingerprint row and the counts wait for `flush`.
        """
        self.lock()
        self.counts((DOCUMENTS, *fp.terms))
        weights = term_weights(fp, self, self.settings.name_boost)
        terms = key_terms(fp, weights, self.settings.index_terms)
        keys = dict.fromkeys(stored_key(k) for k in strong_keys(fp) + tuple(map(term_key, terms)))
        when = key_time(at)
        sql = self._sql
        self.conn.execute(
            sql.file_keys,
            {"keys": sql.array(list(keys)), "at": when, "item_id": item_id, "story_id": story_id},
        )
        if headline_id is None:
            headline_id = self.headline_of(story_id)
        self._headlines[story_id] = headline_id
        self._filed[item_id] = _Filed(story_id, when, fp, headline_id)
        self._new_rows.append(
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
            }
        )
        df = self._df
        for term in (DOCUMENTS, *fp.terms):  # a fingerprint's terms are distinct
            df[term] += 1
        self._new_counts.update((DOCUMENTS, *fp.terms))

    def flush(self) -> None:
        """Write the fingerprint rows and the counts of the items added since the last flush."""
        if self._new_rows:
            self.conn.execute(_fp.insert(), self._new_rows)
            self._new_rows = []
        if self._new_counts:
            self._write_counts(self._new_counts)
            self._new_counts = Counter()

    def headline_of(self, story_id: int) -> int | None:
        """The first item of a story (known from the rows read, else read)."""
        if story_id not in self._headlines:
            found = self.conn.execute(HEADLINE, {"story": story_id}).scalar_one_or_none()
            self._headlines[story_id] = found
        return self._headlines[story_id]

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
        filed = self._rows([item for item, _ in ranked])
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
            stmt = RANKING_PG
        else:
            for i, (key, weight) in enumerate(evidence.items()):
                params[f"k{i}"] = key
                params[f"w{i}"] = weight
            stmt = ranking_sql(len(evidence))
        return [(r.item_id, float(r.evidence)) for r in self.conn.execute(stmt, params)]

    def _rows(self, item_ids: Sequence[int]) -> dict[int, _Filed]:
        """Fingerprints of these items and of their stories' first items, by item id."""
        self._read_rows(item_ids)
        out = {i: f for i in item_ids if (f := self._filed[i]) is not None}
        heads = [f.headline_id for f in out.values() if f.headline_id is not None]
        self._read_rows(heads)
        for head in heads:
            if head not in out and (found := self._filed[head]) is not None:
                out[head] = found
        return out

    def _read_rows(self, item_ids: Sequence[int]) -> None:
        """Read the fingerprint rows of the items not read yet (and their stories' heads)."""
        missing = sorted({i for i in item_ids if i not in self._filed})
        if not missing:
            return
        self._filed.update(dict.fromkeys(missing))
        params = {"items": missing, "version": FINGERPRINT_VERSION}
        for r in self.conn.execute(READ_FINGERPRINTS, params):
            self._filed[r.item_id] = _row_filed(r, r.headline_item_id)
            self._headlines[r.story_id] = r.headline_item_id

    def expire(self, before: datetime) -> int:
        """Forget items filed before ``before`` (keys, fingerprints, frequencies); how many."""
        self.lock()
        self.flush()
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
            ids = [r.item_id for r in rows]
            self.conn.execute(delete(_fp).where(_fp.c.item_id.in_(ids)))
            deltas = {t: -n for t, n in gone.items()}
            self._write_counts(deltas)
            for term, n in deltas.items():
                if term in self._df:
                    self._df[term] += n
            self._filed.update(dict.fromkeys(ids))
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
class StoryAssignment:
    """Where an item went: its story, whether it started it, and the decision that said so."""

    story_id: int
    is_new: bool
    decision: ClusterDecision  # as `decide` returned it (story_id None for a new story)


@dataclass(frozen=True, slots=True)
class NewItem:
    """A stored item to put in a story; without a fingerprint it is not clustered."""

    item_id: int
    entry: Entry
    fingerprint: Fingerprint | None


UNCLUSTERED = ClusterDecision(None, "none", 0.0)


def assign_stories(
    conn: Connection,
    items: Sequence[NewItem],
    now: datetime,
    settings: ClusterSettings = DEFAULT_SETTINGS,
) -> list[StoryAssignment]:
    """Put newly stored items, in order, in stories of the window, or start stories with them.

    Runs inside the caller's write transaction, after the item rows are inserted; each
    item sees the items before it. An item without a fingerprint starts a story of its
    own, unclustered (no link, not in the index). An item already assigned keeps its
    story (the recorded link is returned).
    """
    clustered = [item.item_id for item in items if item.fingerprint is not None]
    done = _recorded(conn, clustered)
    index = SqlStoryIndex(conn, settings)
    if len(done) < len(set(clustered)):
        index.lock()
    links: list[dict[str, Any]] = []
    joins: list[dict[str, Any]] = []
    out = []
    for item in items:
        if item.fingerprint is None:
            story_id = start_story(conn, item.item_id, item.entry, now)
            out.append(StoryAssignment(story_id, True, UNCLUSTERED))
            continue
        if item.item_id not in done:
            done[item.item_id] = _assign_story(index, item, item.fingerprint, now, links, joins)
        out.append(done[item.item_id])
    index.flush()
    if links:
        conn.execute(_link.insert(), links)
    if joins:
        conn.execute(JOIN_STORY, joins)
        conn.execute(SET_ITEM_STORY, joins)
    return out


def assign_story(
    conn: Connection,
    *,
    item_id: int,
    entry: Entry,
    fingerprint: Fingerprint,
    now: datetime,
    settings: ClusterSettings = DEFAULT_SETTINGS,
) -> StoryAssignment:
    """Put one newly stored item in a story (`assign_stories` of one item)."""
    return assign_stories(conn, [NewItem(item_id, entry, fingerprint)], now, settings)[0]


def _assign_story(
    index: SqlStoryIndex,
    item: NewItem,
    fp: Fingerprint,
    now: datetime,
    links: list[dict[str, Any]],
    joins: list[dict[str, Any]],
) -> StoryAssignment:
    """Decide one item's story and file it; its link and join rows are left to the caller."""
    conn, settings = index.conn, index.settings
    decision = decide(fp, index.candidates(fp, now), index, settings)
    if decision.story_id is None:
        story_id = start_story(conn, item.item_id, item.entry, now)
        headline_id: int | None = item.item_id
    else:
        story_id = decision.story_id
        headline_id = index.headline_of(story_id)
        joins.append({"story": story_id, "item": item.item_id, "now": now})
    links.append(
        {
            "item_id": item.item_id,
            "story_id": story_id,
            "signal": decision.signal,
            "score": decision.score,
            "linked_at": now,
        }
    )
    index.add(story_id, fp, now, item_id=item.item_id, headline_id=headline_id)
    return StoryAssignment(story_id, decision.story_id is None, decision)


def _recorded(conn: Connection, item_ids: Sequence[int]) -> dict[int, StoryAssignment]:
    """The assignments already recorded for these items (their links)."""
    out: dict[int, StoryAssignment] = {}
    for part in chunks(sorted(set(item_ids))):
        for r in conn.execute(READ_LINKS, {"items": list(part)}):
            is_new = r.signal == "none"
            decision = ClusterDecision(None if is_new else r.story_id, r.signal, r.score)
            out[r.item_id] = StoryAssignment(r.story_id, is_new, decision)
    return out


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
