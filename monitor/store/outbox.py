"""The delivery outbox in the database: plan, claim, and mark alerts.

Deliveries are written in the same transaction as the items they announce (unique
per story and recipient). A sender claims due rows with a lease (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL; the surrounding ``BEGIN IMMEDIATE`` on SQLite), sends, then
marks them. A claim whose lease expires (the sender died) is claimed again: at most
one duplicate per crash between "sent" and "marked".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, Table, func, or_, select, update

from monitor.core.models import Alert, AlertMatch, PlannedDelivery
from monitor.store.items import chunks, story_matches, upsert_insert
from monitor.store.tables import DeliveryRow, FeedRow, ItemRow, StoryRow

_delivery: Table = DeliveryRow.__table__  # type: ignore[attr-defined]
_story: Table = StoryRow.__table__  # type: ignore[attr-defined]
_item: Table = ItemRow.__table__  # type: ignore[attr-defined]
_feed: Table = FeedRow.__table__  # type: ignore[attr-defined]

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


def add_deliveries(
    conn: Connection, story_id: int, planned: Sequence[PlannedDelivery], now: datetime
) -> int:
    """Write planned deliveries; an existing (story, recipient) row is left alone."""
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
    return len(conn.execute(stmt.returning(_delivery.c.id), rows).all())


def claim_due(
    conn: Connection,
    now: datetime,
    *,
    limit: int = 100,
    lease_s: float = 120.0,
    channels: Sequence[str] | None = None,
) -> list[Alert]:
    """Claim due deliveries (pending, or sending with an expired lease) and return them."""
    due = or_(
        (_delivery.c.state == PENDING) & (_delivery.c.due_at <= now),
        (_delivery.c.state == SENDING) & (_delivery.c.claimed_until <= now),
    )
    q = select(_delivery.c.id).where(due).order_by(_delivery.c.due_at, _delivery.c.id).limit(limit)
    if channels is not None:
        q = q.where(_delivery.c.channel.in_(list(channels)))
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    ids = [r.id for r in conn.execute(q)]
    if not ids:
        return []
    conn.execute(
        update(_delivery)
        .where(_delivery.c.id.in_(ids))
        .values(
            state=SENDING,
            claimed_until=now + timedelta(seconds=lease_s),
            attempts=_delivery.c.attempts + 1,
        )
    )
    return load_alerts(conn, ids)


def load_alerts(conn: Connection, delivery_ids: Sequence[int]) -> list[Alert]:
    """Build the Alert objects (story, headline source, matches, other outlets)."""
    rows = conn.execute(
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
        .where(_delivery.c.id.in_(list(delivery_ids)))
        .order_by(_delivery.c.id)
    ).all()
    story_ids = sorted({r.story_id for r in rows})
    matches = story_matches(conn, story_ids)
    sources = story_sources(conn, story_ids)
    alerts = []
    for r in rows:
        wanted = set(r.watchlists)
        ms = tuple(
            AlertMatch(m.watchlist, tuple(m.terms), m.snippet, tuple(map(tuple, m.highlights)))
            for m in matches.get(r.story_id, [])
            if m.watchlist in wanted
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


def mark_sent(conn: Connection, delivery_id: int, message_ref: str | None, now: datetime) -> None:
    conn.execute(
        update(_delivery)
        .where(_delivery.c.id == delivery_id)
        .values(state=SENT, sent_at=now, message_ref=message_ref, claimed_until=None)
    )


def mark_retry(conn: Connection, delivery_id: int, error: str, due_at: datetime) -> None:
    conn.execute(
        update(_delivery)
        .where(_delivery.c.id == delivery_id)
        .values(state=PENDING, due_at=due_at, last_error=error[:2000], claimed_until=None)
    )


def mark_failed(conn: Connection, delivery_id: int, error: str) -> None:
    conn.execute(
        update(_delivery)
        .where(_delivery.c.id == delivery_id)
        .values(state=FAILED, last_error=error[:2000], claimed_until=None)
    )


def counts_by_state(conn: Connection) -> dict[str, int]:
    q = select(_delivery.c.state, func.count()).group_by(_delivery.c.state)
    return {state: int(n) for state, n in conn.execute(q)}
