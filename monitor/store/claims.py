"""Claiming outbox work: the next alerts, digests and message updates of each recipient.

A sender claims work per recipient (``claim_due``): the recipient's due alerts in order,
its held alerts whose digest time came, and its due message updates, with a lease
(``claimed_until``/``claimed_by``). Recipients whose oldest due work is oldest go first;
recipients another sender serves (a live lease), paused ones (a 429, a backoff) and
stopped ones are skipped. Claims lock rows ``FOR UPDATE SKIP LOCKED`` and take a
transaction-scoped advisory lock on PostgreSQL, and run inside ``BEGIN IMMEDIATE`` on
SQLite, so one recipient is served by one sender at a time. A claim whose lease
expires (the sender died) is claimed again. Alerts that must wait (digest window, quiet
hours: the caller's ``HoldPolicy``) are moved to their new due time instead.
Nothing here sends or sleeps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Select, func, or_, select, text, update

from monitor.core.models import Alert
from monitor.core.schedule_delivery import Hold
from monitor.store import delivery_tables as state_store
from monitor.store.items import chunks
from monitor.store.outbox import (
    PENDING,
    SENDING,
    SENT,
    delivery_table,
    hold_deliveries,
    load_alerts,
    stop_deliveries,
)

_delivery = delivery_table
_CLAIM_LOCK = 0x6D6F6E69  # PostgreSQL advisory lock key of the claim ("moni")

HoldPolicy = Callable[[str, str, str | None], Hold | None]
"""(recipient key, priority, current hold reason or None) -> hold it, or None = send now."""


@dataclass(frozen=True, slots=True)
class PendingUpdate:
    """A sent alert whose message must be updated (more outlets, another watchlist)."""

    alert: Alert
    ref: str
    due_at: datetime  # update_due_at as claimed: a newer change is not lost by the mark


@dataclass(frozen=True, slots=True)
class RecipientWork:
    """What one recipient is sent next, claimed together: digest, alerts, updates."""

    recipient: str
    digest: tuple[Alert, ...] = ()
    digest_reason: str | None = None
    digest_since: datetime | None = None
    alerts: tuple[Alert, ...] = ()
    updates: tuple[PendingUpdate, ...] = ()

    @property
    def delivery_ids(self) -> list[int]:
        return [a.delivery_id for a in (*self.digest, *self.alerts)]

    @property
    def update_ids(self) -> list[int]:
        return [u.alert.delivery_id for u in self.updates]


def _delivery_due(now: datetime) -> ColumnElement[bool]:
    return or_(
        (_delivery.c.state == PENDING) & (_delivery.c.due_at <= now),
        (_delivery.c.state == SENDING) & (_delivery.c.claimed_until <= now),
    )


def _due_updates(
    conn: Connection, now: datetime, channels: Sequence[str] | None, only: Sequence[int] | None
) -> dict[str, list[Any]]:
    """Sent alerts whose message update is due and unclaimed, per recipient, oldest first.

    Selected on ``update_due_at`` alone (its index; the column is NULL almost everywhere),
    the rest is checked here."""
    q = (
        select(
            _delivery.c.id,
            _delivery.c.recipient,
            _delivery.c.channel,
            _delivery.c.state,
            _delivery.c.message_ref,
            _delivery.c.claimed_until,
            _delivery.c.update_due_at,
        )
        .where(_delivery.c.update_due_at <= now)
        .order_by(_delivery.c.update_due_at, _delivery.c.id)
    )
    if only is not None:
        q = q.where(_delivery.c.id.in_(list(only)))
    found: dict[str, list[Any]] = {}
    for r in conn.execute(q):
        if r.state != SENT or r.message_ref is None:
            continue
        if r.claimed_until is not None and r.claimed_until > now:
            continue
        if channels is not None and r.channel not in channels:
            continue
        found.setdefault(r.recipient, []).append(r)
    return found


def busy_recipients(conn: Connection, now: datetime) -> set[str]:
    """Recipients some sender holds a live claim on."""
    q = select(_delivery.c.recipient).where(_delivery.c.claimed_until > now)
    return {r.recipient for r in conn.execute(q)}


def claim_due(
    conn: Connection,
    now: datetime,
    *,
    owner: str,
    lease_s: float = 120.0,
    channels: Sequence[str] | None = None,
    exclude: set[str] | frozenset[str] = frozenset(),
    max_recipients: int = 50,
    per_recipient: int = 5,
    digest_max: int = 200,
    hold_policy: HoldPolicy | None = None,
    only: Sequence[int] | None = None,
) -> list[RecipientWork]:
    """Claim the next work of up to ``max_recipients`` recipients that nobody serves now.

    ``exclude``: recipients this sender is already serving. Paused recipients wait;
    stopped ones get their due rows marked stopped. ``hold_policy`` holds alerts for a
    digest or quiet hours (rows are moved, not claimed). ``only``: these deliveries.
    Recipients whose oldest due work is oldest go first.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CLAIM_LOCK})
    paused, stopped = state_store.unavailable_recipients(conn, now)
    skip = set(exclude) | paused | busy_recipients(conn, now)
    q = (
        select(
            _delivery.c.recipient,
            func.min(_delivery.c.due_at).label("first"),
            func.min(_delivery.c.id).label("oldest"),
        )
        .where(_delivery_due(now))
        .group_by(_delivery.c.recipient)
    )
    if channels is not None:
        q = q.where(_delivery.c.channel.in_(list(channels)))
    if only is not None:
        q = q.where(_delivery.c.id.in_(list(only)))
    order = {r.recipient: (r.first, r.oldest) for r in conn.execute(q)}
    updates = _due_updates(conn, now, channels, only)
    for key, rows in updates.items():
        order[key] = min(
            order.get(key, (rows[0].update_due_at, rows[0].id)), (rows[0].update_due_at, rows[0].id)
        )
    candidates = [k for k in sorted(order, key=order.__getitem__) if k not in skip]
    for key in [c for c in candidates if c in stopped]:
        stop_deliveries(conn, key, "recipient stopped")
    picked: list[_Picked] = []
    for key in candidates:
        if len(picked) >= max_recipients:
            break
        if key in stopped:
            continue
        update_ids = [r.id for r in updates.get(key, [])][:per_recipient]
        found = _pick(conn, key, now, per_recipient, digest_max, hold_policy, only, update_ids)
        if found is not None:
            picked.append(found)
    return _claim(conn, picked, now, owner, lease_s)


def _locked(conn: Connection, q: Select[Any]) -> list[Row[Any]]:
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return list(conn.execute(q).all())


@dataclass(frozen=True, slots=True)
class _Picked:
    key: str
    fresh: list[Any]
    held: list[Any]
    updates: list[Any]


def _pick(
    conn: Connection,
    key: str,
    now: datetime,
    per_recipient: int,
    digest_max: int,
    hold_policy: HoldPolicy | None,
    only: Sequence[int] | None,
    update_ids: list[int],
) -> _Picked | None:
    """One recipient's rows to claim: due alerts in order, held ones, due updates."""
    cols = (
        _delivery.c.id,
        _delivery.c.priority,
        _delivery.c.hold,
        _delivery.c.created_at,
        _delivery.c.update_due_at,
        _delivery.c.message_ref,
    )
    base = (
        select(*cols)
        .where(_delivery.c.recipient == key)
        .order_by(_delivery.c.due_at, _delivery.c.id)
    )
    if only is not None:
        base = base.where(_delivery.c.id.in_(list(only)))
    due = _delivery_due(now)
    fresh = _locked(conn, base.where(due, _delivery.c.hold.is_(None)).limit(per_recipient))
    held = _locked(conn, base.where(due, _delivery.c.hold.is_not(None)).limit(digest_max))
    updates = _locked(conn, base.where(_delivery.c.id.in_(update_ids))) if update_ids else []
    if hold_policy is not None:
        fresh, held = _apply_holds(conn, key, fresh, held, hold_policy)
    if not fresh and not held and not updates:
        return None
    return _Picked(key, fresh, held, updates)


def _claim(
    conn: Connection, picked: list[_Picked], now: datetime, owner: str, lease_s: float
) -> list[RecipientWork]:
    """Lease the picked rows to ``owner`` and build each recipient's work."""
    until = now + timedelta(seconds=lease_s)
    claimed = [r.id for p in picked for r in (*p.fresh, *p.held)]
    updating = [r.id for p in picked for r in p.updates]
    for part in chunks(claimed):
        conn.execute(
            update(_delivery)
            .where(_delivery.c.id.in_(part))
            .values(
                state=SENDING,
                claimed_until=until,
                claimed_by=owner,
                attempts=_delivery.c.attempts + 1,
            )
        )
    for part in chunks(updating):
        conn.execute(
            update(_delivery)
            .where(_delivery.c.id.in_(part))
            .values(claimed_until=until, claimed_by=owner)
        )
    alerts = {a.delivery_id: a for a in load_alerts(conn, [*claimed, *updating])}
    return [
        RecipientWork(
            recipient=p.key,
            digest=tuple(alerts[r.id] for r in p.held if r.id in alerts),
            digest_reason=p.held[0].hold if p.held else None,
            digest_since=min((r.created_at for r in p.held), default=None),
            alerts=tuple(alerts[r.id] for r in p.fresh if r.id in alerts),
            updates=tuple(
                PendingUpdate(alerts[r.id], r.message_ref, r.update_due_at)
                for r in p.updates
                if r.id in alerts
            ),
        )
        for p in picked
    ]


def _apply_holds(
    conn: Connection, key: str, fresh: list[Row[Any]], held: list[Row[Any]], policy: HoldPolicy
) -> tuple[list[Row[Any]], list[Row[Any]]]:
    """Move rows that must wait (digest window, quiet hours) to their new due time."""
    keep_fresh = []
    for row in fresh:
        hold = policy(key, row.priority, None)
        if hold is None:
            keep_fresh.append(row)
        else:
            hold_deliveries(conn, [row.id], hold.until, hold.reason)
    keep_held: list[Row[Any]] = []
    if held:
        hold = policy(key, "normal", held[0].hold)
        if hold is None:
            keep_held = list(held)
        else:
            for row in held:
                hold_deliveries(conn, [row.id], hold.until, row.hold)
    return keep_fresh, keep_held
