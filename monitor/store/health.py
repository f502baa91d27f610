"""Feed health in the database: feed signals, incidents, adaptive intervals, status figures.

Functions take a ``Connection`` inside a transaction (``Database.read`` / ``write``) and
return core objects or plain dataclasses; they never decide anything (the core does)
nor read the clock (``now`` is an argument).

- ``feed_signals``: every active feed with its poll state and its recent items' times
  (``monitor.core.feed_health`` judges them);
- ``open_incidents``, ``last_outage_end``, ``apply_health_plan``: the incident table;
- ``load_cadence``, ``save_cadence``: the adaptive interval of a feed;
- ``feed_status``, ``outbox_status``, ``store_counts``: what ``monitor status`` and the
  metrics endpoint show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, case, func, select, text, update

from monitor.core.feed_health import OUTAGE, STALE, FeedSignal, HealthPlan, Incident
from monitor.store.delivery_tables import NoticeRow
from monitor.store.health_tables import FeedCadenceRow, FeedIncidentRow
from monitor.store.items import upsert_insert
from monitor.store.tables import DeliveryRow, FeedRow, ItemRow, MatchRow, StoryRow

_feed: Table = FeedRow.__table__  # type: ignore[attr-defined]
_item: Table = ItemRow.__table__  # type: ignore[attr-defined]
_story: Table = StoryRow.__table__  # type: ignore[attr-defined]
_match: Table = MatchRow.__table__  # type: ignore[attr-defined]
_delivery: Table = DeliveryRow.__table__  # type: ignore[attr-defined]
_notice: Table = NoticeRow.__table__  # type: ignore[attr-defined]
_incident: Table = FeedIncidentRow.__table__  # type: ignore[attr-defined]
_cadence: Table = FeedCadenceRow.__table__  # type: ignore[attr-defined]

HEALTH_LOCK = 0x6865616C  # PostgreSQL advisory lock of the health assessment ("heal")
RECENT_ITEMS = 50  # items per feed read to find its usual gap
WAITING = ("pending", "sending")  # outbox states of alerts not yet delivered


def lock_health(conn: Connection) -> None:
    """Serialise health assessments of several processes (PostgreSQL; SQLite's
    ``BEGIN IMMEDIATE`` already does) until the transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": HEALTH_LOCK})


def _item_times(conn: Connection, feed_id: int, recent: int) -> tuple[datetime, ...]:
    """Times of the feed's most recently seen items: publication, or first sight if earlier."""
    q = (
        select(_item.c.published_at, _item.c.fetched_at)
        .where(_item.c.feed_id == feed_id)
        .order_by(_item.c.fetched_at.desc(), _item.c.id.desc())
        .limit(recent)
    )
    return tuple(min(r.published_at, r.fetched_at) for r in conn.execute(q))


def feed_signals(conn: Connection, *, recent: int = RECENT_ITEMS) -> list[FeedSignal]:
    """Every active feed, with its poll state and its recent items' times."""
    rows = conn.execute(select(_feed).where(_feed.c.active.is_(True)).order_by(_feed.c.id)).all()
    return [
        FeedSignal(
            feed_id=r.id,
            name=r.name,
            url=r.url,
            error_streak=r.error_streak,
            last_error=r.last_error,
            last_polled_at=r.last_polled_at,
            last_success_at=r.last_success_at,
            item_times=_item_times(conn, r.id, recent),
        )
        for r in rows
    ]


def _as_incident(row: Any) -> Incident:
    return Incident(row.id, row.feed_id, row.kind, row.opened_at, bool(row.announced))


def open_incidents(conn: Connection) -> list[Incident]:
    q = select(_incident).where(_incident.c.closed_at.is_(None)).order_by(_incident.c.id)
    return [_as_incident(r) for r in conn.execute(q)]


def last_outage_end(conn: Connection) -> datetime | None:
    """When the most recent outage of every feed closed (None: never, or one is open)."""
    return conn.execute(
        select(func.max(_incident.c.closed_at)).where(
            _incident.c.kind == OUTAGE, _incident.c.closed_at.is_not(None)
        )
    ).scalar()


def apply_health_plan(conn: Connection, plan: HealthPlan, now: datetime) -> list[int]:
    """Open, announce and close incidents as planned; returns the ids of those opened."""
    opened = []
    for o in plan.opened:
        row = {
            "feed_id": o.feed_id,
            "kind": o.kind,
            "opened_at": now,
            "announced": o.announced,
            "detail": o.detail[:2000],
        }
        opened.append(
            int(conn.execute(_incident.insert().returning(_incident.c.id), row).scalar_one())
        )
    if plan.announced:
        conn.execute(
            update(_incident).where(_incident.c.id.in_(plan.announced)).values(announced=True)
        )
    for c in plan.closed:
        conn.execute(
            update(_incident)
            .where(_incident.c.id == c.incident_id, _incident.c.closed_at.is_(None))
            .values(closed_at=now)
        )
    return opened


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """An incident as ``monitor status`` lists it."""

    id: int
    feed: str | None  # None: every feed (outage)
    kind: str
    opened_at: datetime
    closed_at: datetime | None
    announced: bool
    detail: str


def incidents(
    conn: Connection, *, open_only: bool = True, limit: int = 200
) -> list[IncidentRecord]:
    q = (
        select(_incident, _feed.c.name.label("feed_name"))
        .outerjoin(_feed, _feed.c.id == _incident.c.feed_id)
        .order_by(_incident.c.opened_at.desc(), _incident.c.id.desc())
        .limit(limit)
    )
    if open_only:
        q = q.where(_incident.c.closed_at.is_(None))
    return [
        IncidentRecord(
            r.id, r.feed_name, r.kind, r.opened_at, r.closed_at, bool(r.announced), r.detail
        )
        for r in conn.execute(q)
    ]


# --- adaptive polling -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cadence:
    interval_s: float
    missed_polls: int


def load_cadence(conn: Connection, feed_id: int) -> Cadence | None:
    row = conn.execute(
        select(_cadence.c.interval_s, _cadence.c.missed_polls).where(_cadence.c.feed_id == feed_id)
    ).first()
    return Cadence(float(row.interval_s), int(row.missed_polls)) if row else None


def save_cadence(
    conn: Connection, feed_id: int, interval_s: float, *, missed: bool, now: datetime
) -> None:
    """Remember the feed's interval; count a poll that probably missed items."""
    stmt = upsert_insert(conn, _cadence).values(
        feed_id=feed_id, interval_s=interval_s, missed_polls=int(missed), updated_at=now
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["feed_id"],
            set_={
                "interval_s": interval_s,
                "missed_polls": _cadence.c.missed_polls + int(missed),
                "updated_at": now,
            },
        )
    )


# --- status and metrics -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """One feed's line in ``monitor status``."""

    id: int
    name: str
    url: str
    last_status: str | None
    last_error: str | None
    error_streak: int
    last_polled_at: datetime | None
    last_success_at: datetime | None
    next_poll_at: datetime | None
    items_per_day: float | None  # over the last ``days`` (or since the first item, if later)
    interval_s: float | None  # adaptive interval, None until adapted
    missed_polls: int


def feed_status(conn: Connection, now: datetime, *, days: int = 7) -> list[FeedStatus]:
    """Active feeds with their poll state, items per day and adaptive interval."""
    since = now - timedelta(days=days)
    recent: dict[int, int] = dict(
        conn.execute(
            select(_item.c.feed_id, func.count())
            .where(_item.c.fetched_at >= since, _item.c.published_at >= since)
            .group_by(_item.c.feed_id)
        ).all()
    )
    cadence = {r.feed_id: r for r in conn.execute(select(_cadence))}
    out = []
    for r in conn.execute(select(_feed).where(_feed.c.active.is_(True)).order_by(_feed.c.name)):
        first = conn.execute(
            select(func.min(_item.c.fetched_at)).where(_item.c.feed_id == r.id)
        ).scalar()
        per_day = None
        if first is not None:
            span_days = max(1.0, min(float(days), (now - first).total_seconds() / 86400))
            per_day = recent.get(r.id, 0) / span_days
        c = cadence.get(r.id)
        out.append(
            FeedStatus(
                r.id,
                r.name,
                r.url,
                r.last_status,
                r.last_error,
                r.error_streak,
                r.last_polled_at,
                r.last_success_at,
                r.next_poll_at,
                per_day,
                float(c.interval_s) if c else None,
                int(c.missed_polls) if c else 0,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """Deliveries (and admin notices) by state, and the oldest alert waiting past its due time."""

    deliveries: dict[str, int]
    notices: dict[str, int]
    oldest_due_at: datetime | None  # pending or sending, due already

    def oldest_age_s(self, now: datetime) -> float:
        return max(0.0, (now - self.oldest_due_at).total_seconds()) if self.oldest_due_at else 0.0


def outbox_status(conn: Connection, now: datetime) -> OutboxStatus:
    deliveries = {
        s: int(n)
        for s, n in conn.execute(
            select(_delivery.c.state, func.count()).group_by(_delivery.c.state)
        )
    }
    notices = {
        s: int(n)
        for s, n in conn.execute(select(_notice.c.state, func.count()).group_by(_notice.c.state))
    }
    oldest = conn.execute(
        select(func.min(_delivery.c.due_at)).where(
            _delivery.c.state.in_(WAITING), _delivery.c.due_at <= now
        )
    ).scalar()
    return OutboxStatus(deliveries, notices, oldest)


@dataclass(frozen=True, slots=True)
class StoreCounts:
    """Figures the metrics endpoint reads from the database at scrape time."""

    feeds: int
    feeds_erroring: int  # latest poll failed
    feeds_failing: int  # failures_before_alert failed polls in a row or more
    feeds_stale: int  # open stale incidents
    outage: bool
    items: int
    stories: int
    matches: int
    missed_polls: int
    outbox: OutboxStatus


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)


def store_counts(conn: Connection, now: datetime, *, failures_before_alert: int) -> StoreCounts:
    active = _feed.c.active.is_(True)
    feeds = conn.execute(
        select(
            func.count(),
            func.sum(case((_feed.c.error_streak > 0, 1), else_=0)),
            func.sum(case((_feed.c.error_streak >= failures_before_alert, 1), else_=0)),
        ).where(active)
    ).one()
    open_kinds: dict[str, int] = dict(
        conn.execute(
            select(_incident.c.kind, func.count())
            .where(_incident.c.closed_at.is_(None))
            .group_by(_incident.c.kind)
        ).all()
    )
    missed = conn.execute(select(func.coalesce(func.sum(_cadence.c.missed_polls), 0))).scalar()
    return StoreCounts(
        feeds=int(feeds[0]),
        feeds_erroring=int(feeds[1] or 0),
        feeds_failing=int(feeds[2] or 0),
        feeds_stale=int(open_kinds.get(STALE, 0)),
        outage=bool(open_kinds.get(OUTAGE, 0)),
        items=_count(conn, _item),
        stories=_count(conn, _story),
        matches=_count(conn, _match),
        missed_polls=int(missed or 0),
        outbox=outbox_status(conn, now),
    )


def probe(conn: Connection) -> None:
    """The cheapest question the database must answer (health checks, watchdog)."""
    conn.execute(select(1)).scalar_one()


__all__ = [
    "Cadence",
    "FeedStatus",
    "IncidentRecord",
    "OutboxStatus",
    "StoreCounts",
    "apply_health_plan",
    "feed_signals",
    "feed_status",
    "incidents",
    "last_outage_end",
    "load_cadence",
    "lock_health",
    "open_incidents",
    "outbox_status",
    "probe",
    "save_cadence",
    "store_counts",
]
