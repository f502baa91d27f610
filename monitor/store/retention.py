"""Retention: delete what is older than the configured periods, in short batches.

``purge(conn, now, policy)`` deletes one bounded batch inside the caller's write
transaction and says whether more is left; ``purge_all(db, now, policy)`` runs batches,
each in its own short transaction, until nothing is left (a big first purge never holds
the write lock for long). The daemon runs it in a worker thread every hour or so.

What goes, and what never does:

- a **story** whose last item is older than ``items`` *and* than the clustering window
  (a story still open for new items is never deleted), together with its items, matches,
  story links and deliveries, but only when none of its deliveries is still waiting
  (``pending``/``sending``) or younger than ``deliveries``;
- an **item** without a story, older than the same limit;
- a **delivery** that is done (``sent``, ``failed`` or ``stopped``) and older than
  ``deliveries``, once its story is out of the clustering window (so a late item of the
  story cannot plan the same alert again); a waiting delivery is never deleted;
- an admin **notice** done and older than ``deliveries``; a **closed incident** older
  than ``items``;
- the story index rows of items out of the clustering window (``expire_stories``).

Never decides by the clock itself (``now`` is an argument) and never deletes feeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Select, Table, and_, delete, exists, func, or_, select

from monitor.store.delivery_tables import NoticeRow
from monitor.store.health_tables import FeedIncidentRow
from monitor.store.story_tables import StoryLinkRow
from monitor.store.tables import DeliveryRow, ItemRow, MatchRow, StoryRow

if TYPE_CHECKING:
    from monitor.config.models import MonitorSettings
    from monitor.store.database import Database

_story: Table = StoryRow.__table__  # type: ignore[attr-defined]
_item: Table = ItemRow.__table__  # type: ignore[attr-defined]
_match: Table = MatchRow.__table__  # type: ignore[attr-defined]
_delivery: Table = DeliveryRow.__table__  # type: ignore[attr-defined]
_link: Table = StoryLinkRow.__table__  # type: ignore[attr-defined]
_notice: Table = NoticeRow.__table__  # type: ignore[attr-defined]
_incident: Table = FeedIncidentRow.__table__  # type: ignore[attr-defined]

WAITING = ("pending", "sending")
DONE = ("sent", "failed", "stopped")
NOTICE_DONE = ("sent", "failed")
BATCH = 500


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long things are kept, in seconds."""

    items_s: float = 90 * 86400
    deliveries_s: float = 90 * 86400
    window_s: float = 72 * 3600  # clustering window: stories inside it are never deleted

    @classmethod
    def from_settings(cls, settings: MonitorSettings) -> RetentionPolicy:
        return cls(
            float(settings.retention.items),
            float(settings.retention.deliveries),
            float(settings.clustering.window),
        )


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """Rows deleted, by kind; ``more``: a batch was full, call again."""

    stories: int = 0
    items: int = 0
    matches: int = 0
    links: int = 0
    deliveries: int = 0
    notices: int = 0
    incidents: int = 0
    index_items: int = 0  # items forgotten by the story index
    more: bool = False

    def __add__(self, other: PurgeReport) -> PurgeReport:
        values = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        values["more"] = other.more
        return PurgeReport(**values)

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self) if f.name != "more")


def _ids(conn: Connection, q: Select[Any]) -> list[int]:
    return [int(r[0]) for r in conn.execute(q)]


def _delete(conn: Connection, table: Table, column: str, ids: Sequence[int]) -> int:
    if not ids:
        return 0
    return int(conn.execute(delete(table).where(table.c[column].in_(list(ids)))).rowcount or 0)


def purge(
    conn: Connection, now: datetime, policy: RetentionPolicy, *, batch: int = BATCH
) -> PurgeReport:
    """Delete one batch of each kind (see the module docstring); call again while ``more``."""
    story_cutoff = now - timedelta(seconds=max(policy.items_s, policy.window_s))
    delivery_cutoff = now - timedelta(seconds=policy.deliveries_s)
    window_cutoff = now - timedelta(seconds=policy.window_s)
    delivered_at = func.coalesce(_delivery.c.sent_at, _delivery.c.created_at)

    keeps_story = exists().where(
        _delivery.c.story_id == _story.c.id,
        or_(_delivery.c.state.in_(WAITING), delivered_at >= delivery_cutoff),
    )
    story_ids = _ids(
        conn,
        select(_story.c.id)
        .where(_story.c.last_seen_at < story_cutoff, ~keeps_story)
        .order_by(_story.c.last_seen_at, _story.c.id)
        .limit(batch),
    )
    item_ids = _ids(conn, select(_item.c.id).where(_item.c.story_id.in_(story_ids)))
    orphans = _ids(
        conn,
        select(_item.c.id)
        .where(_item.c.story_id.is_(None), _item.c.fetched_at < story_cutoff)
        .limit(batch),
    )
    links = _delete(conn, _link, "item_id", item_ids + orphans)
    matches = _delete(conn, _match, "story_id", story_ids) + _delete(
        conn, _match, "item_id", orphans
    )
    deliveries = _delete(conn, _delivery, "story_id", story_ids)
    items = _delete(conn, _item, "id", item_ids + orphans)
    stories = _delete(conn, _story, "id", story_ids)

    old_deliveries = _ids(
        conn,
        select(_delivery.c.id)
        .join(_story, _story.c.id == _delivery.c.story_id)
        .where(
            _delivery.c.state.in_(DONE),
            delivered_at < delivery_cutoff,
            _story.c.last_seen_at < window_cutoff,
        )
        .limit(batch),
    )
    deliveries += _delete(conn, _delivery, "id", old_deliveries)
    notice_ids = _ids(
        conn,
        select(_notice.c.id)
        .where(_notice.c.state.in_(NOTICE_DONE), _notice.c.created_at < delivery_cutoff)
        .limit(batch),
    )
    notices = _delete(conn, _notice, "id", notice_ids)
    incident_ids = _ids(
        conn,
        select(_incident.c.id)
        .where(and_(_incident.c.closed_at.is_not(None), _incident.c.closed_at < story_cutoff))
        .limit(batch),
    )
    incidents = _delete(conn, _incident, "id", incident_ids)
    more = batch in (len(story_ids), len(orphans), len(old_deliveries), len(notice_ids))
    return PurgeReport(
        stories=stories,
        items=items,
        matches=matches,
        links=links,
        deliveries=deliveries,
        notices=notices,
        incidents=incidents,
        more=more or len(incident_ids) == batch,
    )


def purge_all(
    db: Database,
    now: datetime,
    policy: RetentionPolicy,
    *,
    batch: int = BATCH,
    max_batches: int = 10_000,
) -> PurgeReport:
    """Expire the story index, then purge batch after batch, each in its own transaction.

    Blocking: run it in a worker thread (``asyncio.to_thread``).
    """
    from monitor.store.stories import expire_stories  # the story index's own expiry

    with db.writing() as conn:
        expired = expire_stories(conn, now - timedelta(seconds=policy.window_s))
    report = PurgeReport(index_items=expired)
    for _ in range(max_batches):
        with db.writing() as conn:
            report = report + purge(conn, now, policy, batch=batch)
        if not report.more:
            break
    return report
