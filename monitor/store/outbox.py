"""The delivery outbox in the database: plan, merge, load, hold and mark alerts.

Deliveries are written in the same transaction as the items they announce, one per
story and recipient (unique): a watchlist that matches the story later is merged into
the existing row, and a row already sent is scheduled for an update of its message
(``update_due_at``), as is every sent row of a story that more outlets joined
(``note_story_changed``), at most once per ``update_interval``. Rows move from
pending to sending (claimed: monitor.store.claims) to sent, failed (this alert refused
for good) or stopped (the recipient refused everything; ``resume_recipient`` revives
them). A claim whose owner died is claimed again when its lease runs out: at most one
duplicate per crash between "sent" and "marked". Nothing here sends or sleeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, case, func, select, update

from monitor.core.models import Alert, AlertMatch, PlannedDelivery
from monitor.store import delivery_tables as state_store
from monitor.store.items import chunks, story_matches, upsert_insert
from monitor.store.tables import DeliveryRow, FeedRow, ItemRow, StoryRow

_delivery: Table = DeliveryRow.__table__  # type: ignore[attr-defined]
_story: Table = StoryRow.__table__  # type: ignore[attr-defined]
_item: Table = ItemRow.__table__  # type: ignore[attr-defined]
_feed: Table = FeedRow.__table__  # type: ignore[attr-defined]
delivery_table = _delivery  # for monitor.store.claims

PENDING, SENDING, SENT, FAILED, STOPPED = "pending", "sending", "sent", "failed", "stopped"
UPDATE_INTERVAL_S = 300.0


# --- planning -------------------------------------------------------------------


def add_deliveries(
    conn: Connection,
    story_id: int,
    planned: Sequence[PlannedDelivery],
    now: datetime,
    *,
    interval_s: float = UPDATE_INTERVAL_S,
) -> int:
    """Write planned deliveries; returns how many are new.

    A recipient who already has this story gets the new watchlists merged into the
    existing row: still pending, nothing more to do; already sent, its message is
    scheduled for an update. A high priority releases a held row at once.
    """
    if not planned:
        return 0
    stmt = upsert_insert(conn, _delivery).on_conflict_do_nothing(
        index_elements=["story_id", "recipient"]
    )
    rows = [
        {
            "story_id": story_id,
            "recipient": p.recipient,
            "channel": p.channel,
            "watchlists": list(p.watchlists),
            "priority": p.priority,
            "state": PENDING,
            "attempts": 0,
            "created_at": now,
            "due_at": now,
        }
        for p in planned
    ]
    inserted = conn.execute(stmt.returning(_delivery.c.recipient), rows).all()
    new = {r.recipient for r in inserted}
    for p in planned:
        if p.recipient not in new:
            _merge(conn, story_id, p, now, interval_s)
    return len(new)


def _merge(
    conn: Connection, story_id: int, p: PlannedDelivery, now: datetime, interval_s: float
) -> None:
    row = conn.execute(
        select(_delivery).where(
            _delivery.c.story_id == story_id, _delivery.c.recipient == p.recipient
        )
    ).one()
    names = list(dict.fromkeys([*row.watchlists, *p.watchlists]))
    values: dict[str, object] = {}
    if names != list(row.watchlists):
        values["watchlists"] = names
        if row.state in (SENT, SENDING) and row.hold is None:
            values["update_due_at"] = _update_time(row, now, interval_s)
    if p.priority == "high" and row.priority != "high":
        values["priority"] = "high"
        if row.state == PENDING and row.hold is not None:
            values.update(hold=None, due_at=now)
    if values:
        conn.execute(update(_delivery).where(_delivery.c.id == row.id).values(**values))


def _update_time(row: Any, now: datetime, interval_s: float) -> datetime:
    """When a changed, already sent alert may be updated: not within ``interval_s`` of
    the last send or update of its message; a pending update keeps its earlier time,
    one in flight is marked newer so that its end does not forget this change."""
    pending = row.update_due_at
    if row.claimed_until is not None and row.claimed_until > now:
        return max(now, (pending or now) + timedelta(microseconds=1))
    if pending is not None:
        return pending
    last = row.last_update_at or row.sent_at
    return max(now, last + timedelta(seconds=interval_s)) if last else now


def note_story_changed(
    conn: Connection, story_id: int, now: datetime, *, interval_s: float = UPDATE_INTERVAL_S
) -> int:
    """The story changed (an outlet joined it): schedule an update of every message sent
    about it alone (not digests), at most once per ``interval_s``; returns how many."""
    rows = conn.execute(
        select(
            _delivery.c.id,
            _delivery.c.sent_at,
            _delivery.c.last_update_at,
            _delivery.c.update_due_at,
            _delivery.c.claimed_until,
        ).where(
            _delivery.c.story_id == story_id,
            _delivery.c.state.in_([SENT, SENDING]),
            _delivery.c.hold.is_(None),
        )
    ).all()
    for row in rows:
        due = _update_time(row, now, interval_s)
        if due != row.update_due_at:
            conn.execute(
                update(_delivery).where(_delivery.c.id == row.id).values(update_due_at=due)
            )
    return len(rows)


def load_alerts(conn: Connection, delivery_ids: Sequence[int]) -> list[Alert]:
    """Build the Alert objects (story, headline source, matches, other outlets)."""
    q = (
        select(
            _delivery.c.id,
            _delivery.c.recipient,
            _delivery.c.channel,
            _delivery.c.story_id,
            _delivery.c.watchlists,
            _delivery.c.attempts,
            _story.c.title,
            _story.c.url,
            _item.c.published_at,
            _feed.c.name.label("source"),
        )
        .join(_story, _story.c.id == _delivery.c.story_id)
        .join(_item, _item.c.id == _story.c.headline_item_id)
        .join(_feed, _feed.c.id == _item.c.feed_id)
        .order_by(_delivery.c.id)
    )
    rows = [
        r
        for part in chunks(list(delivery_ids))
        for r in conn.execute(q.where(_delivery.c.id.in_(part)))
    ]
    story_ids = sorted({r.story_id for r in rows})
    matches = story_matches(conn, story_ids)
    sources = story_sources(conn, story_ids)
    alerts = []
    for r in rows:
        order = {name: i for i, name in enumerate(r.watchlists)}
        ms = tuple(
            AlertMatch(m.watchlist, tuple(m.terms), m.snippet, tuple(map(tuple, m.highlights)))
            for m in sorted(matches.get(r.story_id, []), key=lambda m: order.get(m.watchlist, 0))
            if m.watchlist in order
        )
        others = tuple(s for s in sources.get(r.story_id, []) if s != r.source)
        alerts.append(
            Alert(
                delivery_id=r.id,
                recipient=r.recipient,
                channel=r.channel,
                story_id=r.story_id,
                title=r.title,
                url=r.url,
                source=r.source,
                published=r.published_at,
                matches=ms,
                also_reported_by=others,
                attempts=r.attempts,
            )
        )
    return alerts


def story_sources(conn: Connection, story_ids: Sequence[int]) -> dict[int, list[str]]:
    """Distinct outlet (feed) names per story, in the order they first carried it."""
    out: dict[int, list[str]] = {}
    for part in chunks(list(story_ids)):
        q = (
            select(_item.c.story_id, _feed.c.name, func.min(_item.c.id).label("first"))
            .join(_feed, _feed.c.id == _item.c.feed_id)
            .where(_item.c.story_id.in_(part))
            .group_by(_item.c.story_id, _feed.c.name)
            .order_by("first")
        )
        for r in conn.execute(q):
            out.setdefault(r.story_id, []).append(r.name)
    return out


# --- marking --------------------------------------------------------------------


def mark_sent(
    conn: Connection,
    delivery_ids: Sequence[int],
    message_ref: str | None,
    now: datetime,
    *,
    interval_s: float = UPDATE_INTERVAL_S,
) -> None:
    """Sent (one alert, or every alert of a digest). A change noted while the send was in
    flight stays scheduled, no sooner than ``interval_s`` from now."""
    later = now + timedelta(seconds=interval_s)
    conn.execute(
        update(_delivery)
        .where(_delivery.c.id.in_(list(delivery_ids)))
        .values(
            state=SENT,
            sent_at=now,
            message_ref=message_ref,
            claimed_until=None,
            claimed_by=None,
            update_due_at=case(
                (_delivery.c.update_due_at.is_(None) | _delivery.c.hold.is_not(None), None),
                else_=later,
            ),
        )
    )


def mark_updated(
    conn: Connection,
    delivery_id: int,
    message_ref: str | None,
    now: datetime,
    *,
    claimed_due: datetime,
    interval_s: float = UPDATE_INTERVAL_S,
) -> None:
    """The message was updated. ``claimed_due``: its ``update_due_at`` when claimed; a
    change noted meanwhile (a later time) is scheduled after the interval."""
    row = conn.execute(
        select(_delivery.c.update_due_at, _delivery.c.message_ref).where(
            _delivery.c.id == delivery_id
        )
    ).one()
    newer = row.update_due_at is not None and row.update_due_at > claimed_due
    conn.execute(
        update(_delivery)
        .where(_delivery.c.id == delivery_id)
        .values(
            message_ref=message_ref or row.message_ref,
            last_update_at=now,
            updates=_delivery.c.updates + 1,
            update_due_at=(now + timedelta(seconds=interval_s)) if newer else None,
            claimed_until=None,
            claimed_by=None,
        )
    )


def drop_update(conn: Connection, delivery_id: int, error: str) -> None:
    """The message cannot be updated (refused for good): leave it as it is."""
    conn.execute(
        update(_delivery)
        .where(_delivery.c.id == delivery_id)
        .values(update_due_at=None, claimed_until=None, claimed_by=None, last_error=error[:2000])
    )


def release(
    conn: Connection,
    delivery_ids: Sequence[int],
    update_ids: Sequence[int],
    owner: str,
    *,
    error: str | None = None,
) -> None:
    """Give claimed work back unsent (a pause, or the sender is stopping)."""
    values: dict[str, object] = {"claimed_until": None, "claimed_by": None}
    if error is not None:
        values["last_error"] = error[:2000]
    if delivery_ids:
        conn.execute(
            update(_delivery)
            .where(
                _delivery.c.id.in_(list(delivery_ids)),
                _delivery.c.claimed_by == owner,
                _delivery.c.state == SENDING,
            )
            .values(state=PENDING, **values)
        )
    if update_ids:
        conn.execute(
            update(_delivery)
            .where(_delivery.c.id.in_(list(update_ids)), _delivery.c.claimed_by == owner)
            .values(**values)
        )


def renew(conn: Connection, delivery_ids: Sequence[int], owner: str, until: datetime) -> set[int]:
    """Extend the lease of claims this sender still holds; returns the ids still held."""
    if not delivery_ids:
        return set()
    conn.execute(
        update(_delivery)
        .where(_delivery.c.id.in_(list(delivery_ids)), _delivery.c.claimed_by == owner)
        .values(claimed_until=until)
    )
    q = select(_delivery.c.id).where(
        _delivery.c.id.in_(list(delivery_ids)), _delivery.c.claimed_by == owner
    )
    return {r.id for r in conn.execute(q)}


def mark_failed(conn: Connection, delivery_id: int, error: str) -> None:
    conn.execute(
        update(_delivery)
        .where(_delivery.c.id == delivery_id)
        .values(state=FAILED, last_error=error[:2000], claimed_until=None, claimed_by=None)
    )


def hold_deliveries(
    conn: Connection, delivery_ids: Sequence[int], until: datetime, reason: str | None
) -> None:
    """Keep these alerts until ``until`` for a digest (``reason``: hourly, daily, quiet hours)."""
    conn.execute(
        update(_delivery)
        .where(_delivery.c.id.in_(list(delivery_ids)))
        .values(state=PENDING, due_at=until, hold=reason, claimed_until=None, claimed_by=None)
    )


def stop_deliveries(conn: Connection, recipient: str, error: str) -> int:
    """The recipient is stopped: its unsent alerts wait as ``stopped`` (with the reason)."""
    result = conn.execute(
        update(_delivery)
        .where(_delivery.c.recipient == recipient, _delivery.c.state.in_([PENDING, SENDING]))
        .values(state=STOPPED, last_error=error[:2000], claimed_until=None, claimed_by=None)
    )
    conn.execute(
        update(_delivery)
        .where(_delivery.c.recipient == recipient, _delivery.c.update_due_at.is_not(None))
        .values(update_due_at=None, claimed_until=None, claimed_by=None)
    )
    return int(result.rowcount or 0)


def resume_recipient(conn: Connection, recipient: str, now: datetime) -> int:
    """Let a stopped recipient receive again: its stopped alerts become due now."""
    state_store.resume_recipient_state(conn, recipient, now)
    result = conn.execute(
        update(_delivery)
        .where(_delivery.c.recipient == recipient, _delivery.c.state == STOPPED)
        .values(state=PENDING, due_at=now)
    )
    return int(result.rowcount or 0)


def recent_sends(conn: Connection, since: datetime, now: datetime) -> list[tuple[str, datetime]]:
    """(recipient, when) of messages sent or updated since ``since``, for rate shaping
    after a restart; live claims count as sent now (their claimer may be sending)."""
    out: list[tuple[str, datetime]] = []
    for column in (_delivery.c.sent_at, _delivery.c.last_update_at):
        q = select(_delivery.c.recipient, column.label("at")).where(column >= since)
        out += [(r.recipient, r.at) for r in conn.execute(q)]
    live = select(_delivery.c.recipient).where(_delivery.c.claimed_until > now)
    out += [(r.recipient, now) for r in conn.execute(live)]
    return out


def counts_by_state(conn: Connection) -> dict[str, int]:
    q = select(_delivery.c.state, func.count()).group_by(_delivery.c.state)
    return {state: int(n) for state, n in conn.execute(q)}


def delivery_rows(conn: Connection, story_id: int | None = None) -> list[dict[str, object]]:
    """Delivery rows as dicts (for commands and tests)."""
    q = select(_delivery).order_by(_delivery.c.id)
    if story_id is not None:
        q = q.where(_delivery.c.story_id == story_id)
    return [dict(r._mapping) for r in conn.execute(q)]
