"""Delivery state beside the outbox: per-recipient state and admin notices, with their queries.

``recipient_state`` keeps, per recipient key, what must survive a restart: the next
attempt time after a transient failure (a 429's retry_after, a backoff), whether the
recipient was stopped by a permanent failure (blocked, chat not found) and why, and
the address it moved to (a group migrated to a supergroup). ``notice`` is the admin
outbox: one row per notice and admin, unique on (key, recipient), so a notice is sent
once however often it is raised.

Functions take a ``Connection`` inside a transaction (``Database.write``) and return
plain values; they never send anything. ``upsert_insert``, the store's dialect-specific
INSERT with ``ON CONFLICT``, is defined here because this module imports no other table
module: every store module (table modules included) can import it without a cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Connection, Index, Table, Text, UniqueConstraint, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, SQLModel

from monitor.core.models import Recipient
from monitor.store.types import utc_column

ACTIVE, STOPPED = "active", "stopped"


class RecipientStateRow(SQLModel, table=True):
    """What the sender remembers per recipient: pauses, stops and a moved address."""

    __tablename__ = "recipient_state"

    recipient: str = Field(sa_column=Column(Text, primary_key=True))
    status: str = Field(default=ACTIVE, sa_column=Column(Text, nullable=False))
    address: str | None = Field(default=None, sa_column=Column(Text))
    next_attempt_at: datetime | None = Field(default=None, sa_column=utc_column())
    failures: int = Field(default=0)
    stops: int = Field(default=0)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    updated_at: datetime = Field(sa_column=utc_column(nullable=False))


class NoticeRow(SQLModel, table=True):
    """An admin notice waiting for (or done with) delivery to one admin."""

    __tablename__ = "notice"
    __table_args__ = (
        UniqueConstraint("key", "recipient", name="uq_notice_key_recipient"),
        Index("ix_notice_due", "state", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(Text, nullable=False))
    recipient: str = Field(sa_column=Column(Text, nullable=False))
    channel: str = Field(sa_column=Column(Text, nullable=False))
    address: str = Field(sa_column=Column(Text, nullable=False))
    title: str = Field(sa_column=Column(Text, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(default="pending", sa_column=Column(Text, nullable=False))
    attempts: int = Field(default=0)
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    due_at: datetime = Field(sa_column=utc_column(nullable=False))
    claimed_until: datetime | None = Field(default=None, sa_column=utc_column())
    claimed_by: str | None = Field(default=None, sa_column=Column(Text))
    sent_at: datetime | None = Field(default=None, sa_column=utc_column())
    message_ref: str | None = Field(default=None, sa_column=Column(Text))
    last_error: str | None = Field(default=None, sa_column=Column(Text))


_state: Table = RecipientStateRow.__table__  # type: ignore[attr-defined]
_notice: Table = NoticeRow.__table__  # type: ignore[attr-defined]


def upsert_insert(conn: Connection, table: Table) -> Any:
    """A dialect-specific INSERT that supports ``on_conflict_do_nothing``/``_do_update``."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# --- recipient state ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecipientState:
    recipient: str
    status: str
    address: str | None
    next_attempt_at: datetime | None
    failures: int
    stops: int
    last_error: str | None


def recipient_states(
    conn: Connection, keys: Sequence[str] | None = None
) -> dict[str, RecipientState]:
    q = select(_state)
    if keys is not None:
        q = q.where(_state.c.recipient.in_(list(keys)))
    return {
        r.recipient: RecipientState(
            r.recipient,
            r.status,
            r.address,
            r.next_attempt_at,
            r.failures,
            r.stops,
            r.last_error,
        )
        for r in conn.execute(q)
    }


def unavailable_recipients(conn: Connection, now: datetime) -> tuple[set[str], set[str]]:
    """(paused until later, stopped): recipients nothing may be sent to now."""
    q = select(_state.c.recipient, _state.c.status, _state.c.next_attempt_at).where(
        (_state.c.status != ACTIVE) | (_state.c.next_attempt_at > now)
    )
    paused: set[str] = set()
    stopped: set[str] = set()
    for r in conn.execute(q):
        (stopped if r.status != ACTIVE else paused).add(r.recipient)
    return paused, stopped


def _write_state(conn: Connection, key: str, now: datetime, **values: object) -> None:
    stmt = upsert_insert(conn, _state)
    insert_values = {"recipient": key, "status": ACTIVE, "updated_at": now, **values}
    conn.execute(
        stmt.values(**insert_values).on_conflict_do_update(
            index_elements=["recipient"], set_={"updated_at": now, **values}
        )
    )


def pause_recipient(conn: Connection, key: str, until: datetime, error: str, now: datetime) -> int:
    """A transient failure: nothing goes to ``key`` before ``until``; returns the streak."""
    row = conn.execute(select(_state.c.failures).where(_state.c.recipient == key)).first()
    failures = (row.failures if row else 0) + 1
    _write_state(conn, key, now, next_attempt_at=until, failures=failures, last_error=error[:2000])
    return failures


def failure_streak(conn: Connection, key: str) -> int:
    row = conn.execute(select(_state.c.failures).where(_state.c.recipient == key)).first()
    return int(row.failures) if row else 0


def clear_failures(conn: Connection, key: str) -> None:
    """A send went through: the failure streak and any pause are over."""
    conn.execute(
        update(_state)
        .where(
            _state.c.recipient == key,
            (_state.c.failures > 0) | _state.c.next_attempt_at.is_not(None),
        )
        .values(failures=0, next_attempt_at=None)
    )


def stop_recipient(conn: Connection, key: str, error: str, now: datetime) -> int | None:
    """A permanent failure: stop ``key``. Returns the stop count, None if already stopped."""
    row = conn.execute(
        select(_state.c.status, _state.c.stops).where(_state.c.recipient == key)
    ).first()
    if row is not None and row.status == STOPPED:
        return None
    stops = (row.stops if row else 0) + 1
    _write_state(
        conn,
        key,
        now,
        status=STOPPED,
        stops=stops,
        last_error=error[:2000],
        next_attempt_at=None,
        failures=0,
    )
    return stops


def resume_recipient_state(conn: Connection, key: str, now: datetime) -> bool:
    """Let a stopped recipient receive again (the user unblocked the bot ...)."""
    result = conn.execute(
        update(_state)
        .where(_state.c.recipient == key, _state.c.status == STOPPED)
        .values(status=ACTIVE, failures=0, next_attempt_at=None, updated_at=now)
    )
    return bool(result.rowcount)


def move_recipient(conn: Connection, key: str, address: str, now: datetime) -> None:
    """The recipient lives at ``address`` now (Telegram group -> supergroup)."""
    _write_state(conn, key, now, address=address)


def address_overrides(conn: Connection) -> dict[str, str]:
    q = select(_state.c.recipient, _state.c.address).where(_state.c.address.is_not(None))
    return {r.recipient: r.address for r in conn.execute(q)}


# --- admin notices --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notice:
    id: int
    key: str
    recipient: str
    channel: str
    address: str
    title: str
    text: str
    created_at: datetime
    attempts: int


def add_notice(
    conn: Connection,
    key: str,
    admins: Sequence[Recipient],
    title: str,
    text: str,
    now: datetime,
) -> int:
    """Queue a notice for every admin, once per ``key``; returns how many rows are new."""
    if not admins:
        return 0
    rows = [
        {
            "key": key,
            "recipient": a.key,
            "channel": a.channel,
            "address": a.address,
            "title": title[:500],
            "text": text[:3000],
            "state": "pending",
            "attempts": 0,
            "created_at": now,
            "due_at": now,
        }
        for a in admins
    ]
    stmt = upsert_insert(conn, _notice).on_conflict_do_nothing(index_elements=["key", "recipient"])
    return len(conn.execute(stmt.returning(_notice.c.id), rows).all())


def claim_notices(
    conn: Connection,
    now: datetime,
    *,
    owner: str,
    lease_s: float,
    recipients: Sequence[str] | None = None,
    exclude: set[str] | frozenset[str] = frozenset(),
    channels: Sequence[str] | None = None,
    limit: int = 20,
) -> list[Notice]:
    """Claim due notices (pending, or claimed by a sender whose lease ran out)."""
    due = ((_notice.c.state == "pending") & (_notice.c.due_at <= now)) | (
        (_notice.c.state == "sending") & (_notice.c.claimed_until <= now)
    )
    q = select(_notice).where(due).order_by(_notice.c.id).limit(limit * 4)
    if channels is not None:
        q = q.where(_notice.c.channel.in_(list(channels)))
    if recipients is not None:
        q = q.where(_notice.c.recipient.in_(list(recipients)))
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    rows = [r for r in conn.execute(q) if r.recipient not in exclude][:limit]
    if not rows:
        return []
    conn.execute(
        update(_notice)
        .where(_notice.c.id.in_([r.id for r in rows]))
        .values(
            state="sending",
            claimed_until=now + timedelta(seconds=lease_s),
            claimed_by=owner,
            attempts=_notice.c.attempts + 1,
        )
    )
    return [
        Notice(
            r.id,
            r.key,
            r.recipient,
            r.channel,
            r.address,
            r.title,
            r.text,
            r.created_at,
            r.attempts + 1,
        )
        for r in rows
    ]


def mark_notice(
    conn: Connection,
    notice_id: int,
    state: str,
    now: datetime,
    *,
    ref: str | None = None,
    error: str | None = None,
) -> None:
    """``sent`` (with its reference), ``failed``, or ``pending`` again (retry later)."""
    values: dict[str, object] = {"state": state, "claimed_until": None, "claimed_by": None}
    if state == "sent":
        values.update(sent_at=now, message_ref=ref)
    if error is not None:
        values["last_error"] = error[:2000]
    conn.execute(update(_notice).where(_notice.c.id == notice_id).values(**values))


def release_notices(conn: Connection, ids: Sequence[int], owner: str) -> None:
    """Give claimed notices back unsent (the sender is stopping)."""
    if ids:
        conn.execute(
            update(_notice)
            .where(_notice.c.id.in_(list(ids)), _notice.c.claimed_by == owner)
            .values(state="pending", claimed_until=None, claimed_by=None)
        )


def recent_notice_sends(conn: Connection, since: datetime) -> list[tuple[str, str, datetime]]:
    """(channel, address, sent_at) of notices sent since ``since``: for rate shaping."""
    q = select(_notice.c.channel, _notice.c.address, _notice.c.sent_at).where(
        _notice.c.sent_at >= since
    )
    return [(r.channel, r.address, r.sent_at) for r in conn.execute(q)]


def notices(conn: Connection) -> list[dict[str, object]]:
    """Every notice row (for reports and tests)."""
    return [dict(r._mapping) for r in conn.execute(select(_notice).order_by(_notice.c.id))]
