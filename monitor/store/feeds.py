"""Feed state in the database: sync with the configuration, due feeds, poll outcomes.

Functions take a SQLAlchemy ``Connection`` inside a transaction opened by
``Database.read`` / ``Database.write`` and return core objects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from monitor.core.models import Feed, FeedState, Validators
from monitor.store.health_tables import FeedCadenceRow
from monitor.store.items import upsert_insert
from monitor.store.tables import FeedRow

_feed = FeedRow.__table__  # type: ignore[attr-defined]
_cadence = FeedCadenceRow.__table__  # type: ignore[attr-defined]


def sync_feeds(conn: Connection, feeds: Sequence[Feed], now: datetime) -> dict[str, int]:
    """Insert configured feeds that are new, reactivate returning ones, deactivate removed ones.

    A new feed is due at once. Returns url -> feed id for every configured feed.
    """
    q = select(_feed.c.id, _feed.c.url, _feed.c.name, _feed.c.active)
    rows = {r.url: r for r in conn.execute(q)}
    wanted = {f.url: f for f in feeds}
    new = [
        {"url": f.url, "name": f.name, "active": True, "next_poll_at": now}
        for url, f in wanted.items()
        if url not in rows
    ]
    if new:  # another instance starting at the same moment may insert them first
        conn.execute(upsert_insert(conn, _feed).on_conflict_do_nothing(index_elements=["url"]), new)
    for url, f in wanted.items():
        row = rows.get(url)
        if row is not None and (not row.active or row.name != f.name):
            conn.execute(update(_feed).where(_feed.c.url == url).values(active=True, name=f.name))
    gone = [url for url, r in rows.items() if url not in wanted and r.active]
    if gone:
        conn.execute(update(_feed).where(_feed.c.url.in_(gone)).values(active=False))
    return {r.url: r.id for r in conn.execute(select(_feed.c.id, _feed.c.url)) if r.url in wanted}


def _state(row: Any) -> FeedState:
    interval = getattr(row, "cadence_interval_s", None)
    return FeedState(
        id=row.id,
        url=row.url,
        name=row.name,
        validators=Validators(row.etag, row.last_modified, row.body_hash),
        baseline_done=row.baseline_done,
        error_streak=row.error_streak,
        next_poll_at=row.next_poll_at,
        last_success_at=row.last_success_at,
        interval_s=float(interval) if interval is not None else None,
    )


def load_feed(conn: Connection, url: str) -> FeedState | None:
    """The feed's state, with its adapted poll interval (one statement: polls are many)."""
    q = (
        select(_feed, _cadence.c.interval_s.label("cadence_interval_s"))
        .outerjoin(_cadence, _cadence.c.feed_id == _feed.c.id)
        .where(_feed.c.url == url)
    )
    row = conn.execute(q).first()
    return _state(row) if row else None


def due_feeds(conn: Connection, now: datetime, limit: int = 1000) -> list[str]:
    """URLs of active feeds whose next poll time has come, oldest first."""
    rows = conn.execute(
        select(_feed.c.url)
        .where(_feed.c.active.is_(True), _feed.c.next_poll_at <= now)
        .order_by(_feed.c.next_poll_at)
        .limit(limit)
    )
    return [r.url for r in rows]


def claim_due_feeds(
    conn: Connection, now: datetime, owner: str, *, lease_s: float = 300.0, limit: int = 1000
) -> list[str]:
    """Claim active feeds that are due and not leased to a live instance; return their URLs.

    The lease lets several instances share one database: a feed is polled by the
    instance holding it, and a dead instance's leases lapse after ``lease_s``. On
    PostgreSQL concurrent claimers skip each other's rows (``FOR UPDATE SKIP LOCKED``);
    on SQLite the write transaction (``BEGIN IMMEDIATE``) serialises them.
    """
    q = (
        select(_feed.c.id, _feed.c.url)
        .where(
            _feed.c.active.is_(True),
            _feed.c.next_poll_at <= now,
            (_feed.c.lease_until.is_(None)) | (_feed.c.lease_until < now),
        )
        .order_by(_feed.c.next_poll_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    rows = conn.execute(q).all()
    if rows:
        conn.execute(
            update(_feed)
            .where(_feed.c.id.in_([r.id for r in rows]))
            .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_s))
        )
    return [r.url for r in rows]


def release_feeds(conn: Connection, owner: str) -> None:
    """Give back every feed ``owner`` still holds (it is shutting down)."""
    conn.execute(
        update(_feed).where(_feed.c.lease_owner == owner).values(lease_owner=None, lease_until=None)
    )


def owner_pid(owner: str | None) -> int | None:
    """The process id in a lease owner ``host:pid:random`` (None for another shape)."""
    parts = (owner or "").split(":")
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def release_dead_owners(conn: Connection, host: str, alive: Callable[[int], bool]) -> int:
    """Release the leases of instances on ``host`` whose process is gone (killed, crashed):
    a restarted daemon need not wait for them to lapse. Owners are ``host:pid:random``."""
    owners = conn.execute(
        select(_feed.c.lease_owner).where(_feed.c.lease_owner.like(f"{host}:%")).distinct()
    ).scalars()
    dead = [o for o in owners if (pid := owner_pid(o)) is not None and not alive(pid)]
    if not dead:
        return 0
    result = conn.execute(
        update(_feed)
        .where(_feed.c.lease_owner.in_(dead))
        .values(lease_owner=None, lease_until=None)
    )
    return int(result.rowcount or 0)


def next_due_at(conn: Connection) -> datetime | None:
    """The earliest next poll time among active feeds."""
    return conn.execute(
        select(_feed.c.next_poll_at)
        .where(_feed.c.active.is_(True))
        .order_by(_feed.c.next_poll_at)
        .limit(1)
    ).scalar()


@dataclass(frozen=True, slots=True)
class PollRecord:
    """How a poll ended, as the feed row should remember it."""

    status: str  # ok | not_modified | unchanged | throttled | error
    polled_at: datetime
    next_poll_at: datetime
    validators: Validators | None = None  # new validators after a 200
    error: str | None = None
    baseline_done: bool | None = None


def record_poll(conn: Connection, feed_id: int, record: PollRecord) -> None:
    values: dict[str, Any] = {
        "last_status": record.status,
        "last_polled_at": record.polled_at,
        "next_poll_at": record.next_poll_at,
        "lease_owner": None,
        "lease_until": None,
    }
    if record.status == "error":
        values["error_streak"] = _feed.c.error_streak + 1
        values["last_error"] = (record.error or "")[:2000]
    elif record.status == "throttled":  # the server asked us to wait: not a failure
        values["last_error"] = (record.error or "")[:2000]
    else:
        values["error_streak"] = 0
        values["last_error"] = None
        values["last_success_at"] = record.polled_at
    if record.validators is not None:
        values["etag"] = record.validators.etag
        values["last_modified"] = record.validators.last_modified
        values["body_hash"] = record.validators.body_hash
    if record.baseline_done is not None:
        values["baseline_done"] = record.baseline_done
    conn.execute(update(_feed).where(_feed.c.id == feed_id).values(**values))
