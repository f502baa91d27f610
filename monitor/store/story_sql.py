"""The story index's fixed SQL statements for SQLite and PostgreSQL (`monitor.store.stories`).

Statements that take a list take it as one parameter (a PostgreSQL array, SQLite JSON
text): one statement text whatever the list's length, compiled and planned once, one
round trip for the ~40 keys and ~120 terms of an item (or a whole poll's items).
The candidate ranking reads, for each lookup key, at most ``per_key`` most recent
postings of the window by index range (PostgreSQL: one LATERAL per key; SQLite: one
limited arm per key).

Must not: run anything itself, hold state, build SQL text from input (only from
integers).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Table,
    TextClause,
    bindparam,
    case,
    select,
    text,
    update,
)
from sqlalchemy.sql.selectable import TextualSelect

from monitor.store.story_tables import StoryFingerprintRow, StoryLinkRow
from monitor.store.tables import ItemRow, StoryRow

_story: Table = StoryRow.__table__  # type: ignore[attr-defined]
_item: Table = ItemRow.__table__  # type: ignore[attr-defined]
_fp: Table = StoryFingerprintRow.__table__  # type: ignore[attr-defined]
_link: Table = StoryLinkRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Statements:
    """One dialect's list-taking statements and its way of passing a list."""

    array: Callable[[Sequence[Any]], Any]
    deltas: Callable[[Sequence[str], Sequence[int]], dict[str, Any]]  # add_counts' parameters
    counts: TextualSelect  # :terms -> ``found``: {term: count} of the terms held (None: none)
    add_counts: TextClause  # deltas(terms, deltas) -> counts upserted (summed)
    drop_zero_counts: TextClause  # :terms -> rows of these terms at 0 or below deleted
    file_keys: TextClause  # :keys, :at, :item_id, :story_id -> one posting per key


POSTGRESQL = Statements(
    array=list,
    deltas=lambda terms, deltas: {"terms": list(terms), "deltas": list(deltas)},
    counts=text(
        "SELECT json_object_agg(term, count) AS found FROM story_term "
        "WHERE term = ANY(CAST(:terms AS text[]))"
    ).columns(found=JSON),
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

SQLITE = Statements(
    array=lambda values: json.dumps(list(values), ensure_ascii=False),
    # one JSON object {term: delta}: json_each walks it once (a join of two json_each
    # tables on their position would compare every pair)
    deltas=lambda terms, deltas: {
        "deltas": json.dumps(dict(zip(terms, deltas, strict=True)), ensure_ascii=False)
    },
    counts=text(
        "SELECT json_group_object(term, count) AS found FROM story_term "
        "WHERE term IN (SELECT value FROM json_each(:terms))"
    ).columns(found=JSON),
    add_counts=text(
        "INSERT INTO story_term (term, count) "
        "SELECT key, value FROM json_each(:deltas) WHERE true "  # WHERE: upsert parsing rule
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


def statements(conn: Connection) -> Statements:
    """The statements of the connection's dialect."""
    return POSTGRESQL if conn.dialect.name == "postgresql" else SQLITE


RANKING_PG = text(
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
def ranking_sql(keys: int) -> TextClause:
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


_SEEN = _story.c.last_seen_at
_NOW = bindparam("now", type_=_SEEN.type)
JOIN_STORY = (
    update(_story)
    .where(_story.c.id == bindparam("story"))
    .values(
        item_count=_story.c.item_count + 1, last_seen_at=case((_SEEN < _NOW, _NOW), else_=_SEEN)
    )
)
"""One more item in story ``:story``, seen at ``:now`` (executemany: one row per join)."""

SET_ITEM_STORY = (
    update(_item).where(_item.c.id == bindparam("item")).values(story_id=bindparam("story"))
)
"""Item ``:item`` belongs to story ``:story``."""

READ_FINGERPRINTS = (
    select(_fp, _story.c.headline_item_id)
    .join(_story, _story.c.id == _fp.c.story_id)
    .where(_fp.c.item_id.in_(bindparam("items", expanding=True)))
    .where(_fp.c.version == bindparam("version"))
)
"""Fingerprint rows of ``:items`` (of fingerprint version ``:version``), with their
story's first item."""

HEADLINE = select(_story.c.headline_item_id).where(_story.c.id == bindparam("story"))
"""The first item of story ``:story``."""

READ_LINKS = select(_link.c.item_id, _link.c.story_id, _link.c.signal, _link.c.score).where(
    _link.c.item_id.in_(bindparam("items", expanding=True))
)
"""The recorded story links of ``:items``."""
