"""The bot's queries: chats and their settings, subscriptions, personal watchlists,
mutes, "Not relevant" feedback, access requests, and what buttons and /recent read.

Functions take a ``Connection`` inside a transaction (``Database.read``/``write``) and
return plain values or frozen dataclasses; they never send anything. Every change a
recipient or watchlist depends on bumps the directory version (monitor.store.bot_tables),
so every instance sharing the database reloads its audience.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, delete, func, or_, select, update

from monitor.core.plan import Muting
from monitor.store.bot_tables import (
    BotAccessRow,
    BotChatRow,
    BotFeedbackRow,
    BotMuteRow,
    BotSubscriptionRow,
    BotWatchlistRow,
    bump_directory,
)
from monitor.store.delivery_tables import upsert_insert
from monitor.store.tables import DeliveryRow, FeedRow, ItemRow, MatchRow, StoryRow

_chat: Table = BotChatRow.__table__  # type: ignore[attr-defined]
_sub: Table = BotSubscriptionRow.__table__  # type: ignore[attr-defined]
_watch: Table = BotWatchlistRow.__table__  # type: ignore[attr-defined]
_mute: Table = BotMuteRow.__table__  # type: ignore[attr-defined]
_feedback: Table = BotFeedbackRow.__table__  # type: ignore[attr-defined]
_access: Table = BotAccessRow.__table__  # type: ignore[attr-defined]
_delivery: Table = DeliveryRow.__table__  # type: ignore[attr-defined]
_story: Table = StoryRow.__table__  # type: ignore[attr-defined]
_item: Table = ItemRow.__table__  # type: ignore[attr-defined]
_feed: Table = FeedRow.__table__  # type: ignore[attr-defined]
_match: Table = MatchRow.__table__  # type: ignore[attr-defined]

STORY, FEED, WATCHLIST = "story", "feed", "watchlist"
PENDING, APPROVED, DENIED = "pending", "approved", "denied"


# --- chats and subscriptions ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """A chat that uses the bot, as the directory turns it into a recipient."""

    chat_id: int
    kind: str
    title: str
    active: bool
    mode: str = "immediate"
    daily_at: str | None = None
    quiet_hours: tuple[str, str] | None = None
    timezone: str | None = None
    subscriptions: tuple[str, ...] = ()


def _settings(r: Any, subscriptions: Sequence[str]) -> ChatSettings:
    quiet = (r.quiet_start, r.quiet_end) if r.quiet_start and r.quiet_end else None
    return ChatSettings(
        r.chat_id,
        r.kind,
        r.title,
        bool(r.active),
        r.mode,
        r.daily_at,
        quiet,
        r.timezone,
        tuple(subscriptions),
    )


def load_chats(conn: Connection) -> list[ChatSettings]:
    """Every active chat with its subscriptions."""
    subs: dict[int, list[str]] = {}
    for r in conn.execute(select(_sub.c.chat_id, _sub.c.watchlist).order_by(_sub.c.created_at)):
        subs.setdefault(r.chat_id, []).append(r.watchlist)
    rows = conn.execute(select(_chat).where(_chat.c.active.is_(True)).order_by(_chat.c.chat_id))
    return [_settings(r, subs.get(r.chat_id, ())) for r in rows]


def get_chat(conn: Connection, chat_id: int) -> ChatSettings | None:
    row = conn.execute(select(_chat).where(_chat.c.chat_id == chat_id)).first()
    return None if row is None else _settings(row, subscriptions(conn, chat_id))


def register_chat(conn: Connection, chat_id: int, kind: str, title: str, now: datetime) -> bool:
    """Create or reactivate a chat; True when this changed anything the directory shows."""
    row = conn.execute(select(_chat.c.active).where(_chat.c.chat_id == chat_id)).first()
    if row is not None and row.active:
        return False
    stmt = upsert_insert(conn, _chat).values(
        chat_id=chat_id,
        kind=kind,
        title=title[:200],
        active=True,
        mode="immediate",
        created_at=now,
        updated_at=now,
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["chat_id"],
            set_={"active": True, "title": title[:200], "updated_at": now},
        )
    )
    bump_directory(conn)
    return True


def deactivate_chat(conn: Connection, chat_id: int, now: datetime) -> bool:
    """The bot was removed or blocked: the chat receives nothing until /start."""
    result = conn.execute(
        update(_chat)
        .where(_chat.c.chat_id == chat_id, _chat.c.active.is_(True))
        .values(active=False, updated_at=now)
    )
    if result.rowcount:
        bump_directory(conn)
    return bool(result.rowcount)


def update_chat(conn: Connection, chat_id: int, now: datetime, **values: object) -> None:
    """Change delivery settings (mode, daily_at, quiet_start, quiet_end, timezone)."""
    conn.execute(update(_chat).where(_chat.c.chat_id == chat_id).values(updated_at=now, **values))
    bump_directory(conn)


def subscriptions(conn: Connection, chat_id: int) -> list[str]:
    q = select(_sub.c.watchlist).where(_sub.c.chat_id == chat_id).order_by(_sub.c.created_at)
    return [r.watchlist for r in conn.execute(q)]


def subscribe(conn: Connection, chat_id: int, watchlist: str, now: datetime) -> bool:
    """True when the subscription is new."""
    stmt = upsert_insert(conn, _sub).on_conflict_do_nothing(index_elements=["chat_id", "watchlist"])
    values = {"chat_id": chat_id, "watchlist": watchlist, "created_at": now}
    added = bool(conn.execute(stmt.returning(_sub.c.watchlist), values).all())
    if added:
        bump_directory(conn)
    return added


def unsubscribe(conn: Connection, chat_id: int, watchlist: str) -> bool:
    result = conn.execute(
        delete(_sub).where(_sub.c.chat_id == chat_id, _sub.c.watchlist == watchlist)
    )
    if result.rowcount:
        bump_directory(conn)
    return bool(result.rowcount)


# --- personal watchlists ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonalWatchlist:
    owner: str  # recipient key
    name: str
    query: str


def personal_watchlists(conn: Connection, owner: str | None = None) -> list[PersonalWatchlist]:
    q = select(_watch.c.owner, _watch.c.name, _watch.c.query).order_by(
        _watch.c.owner, _watch.c.created_at
    )
    if owner is not None:
        q = q.where(_watch.c.owner == owner)
    return [PersonalWatchlist(r.owner, r.name, r.query) for r in conn.execute(q)]


def save_watchlist(conn: Connection, owner: str, name: str, query: str, now: datetime) -> bool:
    """Create or replace a personal watchlist; True when it is new."""
    existing = conn.execute(
        select(_watch.c.query).where(_watch.c.owner == owner, _watch.c.name == name)
    ).first()
    if existing is not None and existing.query == query:
        return False
    values = {"owner": owner, "name": name, "query": query, "created_at": now, "updated_at": now}
    stmt = upsert_insert(conn, _watch).values(**values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["owner", "name"], set_={"query": query, "updated_at": now}
        )
    )
    bump_directory(conn)
    return existing is None


def delete_watchlist(conn: Connection, owner: str, name: str) -> bool:
    result = conn.execute(delete(_watch).where(_watch.c.owner == owner, _watch.c.name == name))
    if result.rowcount:
        bump_directory(conn)
    return bool(result.rowcount)


# --- mutes ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mute:
    kind: str
    target: str
    label: str
    until: datetime | None


def _active(now: datetime) -> ColumnElement[bool]:
    return or_(_mute.c.until.is_(None), _mute.c.until > now)


def mutes_of(conn: Connection, recipient: str, now: datetime) -> list[Mute]:
    q = (
        select(_mute.c.kind, _mute.c.target, _mute.c.label, _mute.c.until)
        .where(_mute.c.recipient == recipient, _active(now))
        .order_by(_mute.c.id)
    )
    return [Mute(r.kind, r.target, r.label, r.until) for r in conn.execute(q)]


def add_mute(
    conn: Connection,
    recipient: str,
    kind: str,
    target: str,
    label: str,
    until: datetime | None,
    now: datetime,
) -> bool:
    """Mute (or extend a mute); True when it is new. Expired mutes are forgotten here."""
    conn.execute(delete(_mute).where(_mute.c.recipient == recipient, _mute.c.until <= now))
    values = {
        "recipient": recipient,
        "kind": kind,
        "target": target,
        "label": label[:300],
        "until": until,
        "created_at": now,
    }
    stmt = upsert_insert(conn, _mute).values(**values)
    existed = conn.execute(
        select(_mute.c.id).where(
            _mute.c.recipient == recipient, _mute.c.kind == kind, _mute.c.target == target
        )
    ).first()
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["recipient", "kind", "target"], set_={"until": until}
        )
    )
    return existed is None


def remove_mute(conn: Connection, recipient: str, kind: str, target: str) -> bool:
    result = conn.execute(
        delete(_mute).where(
            _mute.c.recipient == recipient, _mute.c.kind == kind, _mute.c.target == target
        )
    )
    return bool(result.rowcount)


def count_mutes(conn: Connection, recipient: str, now: datetime) -> int:
    q = select(func.count()).where(_mute.c.recipient == recipient, _active(now))
    return int(conn.execute(q).scalar() or 0)


def muting_for(
    conn: Connection, feed_id: int, story_id: int, watchlists: Sequence[str], now: datetime
) -> Muting:
    """Who silenced this item (its story or its feed), and who muted one of the matched
    ``watchlists`` for now."""
    q = select(_mute.c.recipient).where(
        or_(
            (_mute.c.kind == STORY) & (_mute.c.target == str(story_id)),
            (_mute.c.kind == FEED) & (_mute.c.target == str(feed_id)),
        ),
        _active(now),
    )
    recipients = frozenset(r.recipient for r in conn.execute(q))
    w = select(_mute.c.recipient, _mute.c.target).where(
        _mute.c.kind == WATCHLIST, _mute.c.target.in_(list(watchlists)), _active(now)
    )
    muted = (
        frozenset((r.recipient, r.target) for r in conn.execute(w)) if watchlists else frozenset()
    )
    return Muting(recipients, muted)


def drop_muted_updates(conn: Connection, story_id: int, now: datetime) -> int:
    """No message update for the recipients who muted this story (it changed again)."""
    q = select(_mute.c.recipient).where(
        _mute.c.kind == STORY, _mute.c.target == str(story_id), _active(now)
    )
    recipients = [r.recipient for r in conn.execute(q)]
    if not recipients:
        return 0
    result = conn.execute(
        update(_delivery)
        .where(
            _delivery.c.story_id == story_id,
            _delivery.c.recipient.in_(recipients),
            _delivery.c.update_due_at.is_not(None),
        )
        .values(update_due_at=None)
    )
    return int(result.rowcount or 0)


# --- feedback -------------------------------------------------------------------------


def add_feedback(
    conn: Connection,
    story_id: int,
    watchlists: Sequence[str],
    recipient: str,
    user_id: int | None,
    title: str,
    now: datetime,
) -> int:
    """ "Not relevant" for each watchlist of the alert; returns how many rows are new."""
    if not watchlists:
        return 0
    rows = [
        {
            "story_id": story_id,
            "watchlist": name,
            "recipient": recipient,
            "user_id": user_id,
            "title": title[:500],
            "created_at": now,
        }
        for name in watchlists
    ]
    stmt = upsert_insert(conn, _feedback).on_conflict_do_nothing(
        index_elements=["story_id", "watchlist", "recipient"]
    )
    return len(conn.execute(stmt.returning(_feedback.c.id), rows).all())


def feedback_stories(conn: Connection, watchlist: str, since: datetime) -> dict[int, str]:
    """Stories marked "Not relevant" for ``watchlist`` since ``since`` (id -> title)."""
    q = (
        select(_feedback.c.story_id, _feedback.c.title)
        .where(_feedback.c.watchlist == watchlist, _feedback.c.created_at >= since)
        .order_by(_feedback.c.id)
    )
    return {r.story_id: r.title for r in conn.execute(q)}


# --- access -------------------------------------------------------------------------


def access_status(conn: Connection, principal: int) -> str | None:
    q = select(_access.c.status).where(_access.c.principal == principal)
    return conn.execute(q).scalar()


def request_access(conn: Connection, principal: int, name: str, now: datetime) -> bool:
    """A pending request; False when the principal already asked (or was decided)."""
    stmt = upsert_insert(conn, _access).on_conflict_do_nothing(index_elements=["principal"])
    values = {"principal": principal, "status": PENDING, "name": name[:200], "requested_at": now}
    return bool(conn.execute(stmt.returning(_access.c.principal), values).all())


def decide_access(
    conn: Connection, principal: int, status: str, by: int, now: datetime
) -> str | None:
    """Approve or deny (a request, or anyone: a ban); returns the previous status."""
    before = access_status(conn, principal)
    values = {"status": status, "decided_at": now, "decided_by": by}
    stmt = upsert_insert(conn, _access).values(
        principal=principal, name="", requested_at=now, **values
    )
    conn.execute(stmt.on_conflict_do_update(index_elements=["principal"], set_=values))
    return before


def access_name(conn: Connection, principal: int) -> str:
    return (
        conn.execute(select(_access.c.name).where(_access.c.principal == principal)).scalar() or ""
    )


# --- what buttons and /recent read ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryInfo:
    """An alert as a button press needs it: its story, recipient, watchlists and outlet."""

    id: int
    story_id: int
    recipient: str
    watchlists: tuple[str, ...]
    title: str
    feed_id: int
    feed_name: str


def delivery_info(conn: Connection, delivery_id: int) -> DeliveryInfo | None:
    q = (
        select(
            _delivery.c.id,
            _delivery.c.story_id,
            _delivery.c.recipient,
            _delivery.c.watchlists,
            _story.c.title,
            _feed.c.id.label("feed_id"),
            _feed.c.name.label("feed_name"),
        )
        .join(_story, _story.c.id == _delivery.c.story_id)
        .join(_item, _item.c.id == _story.c.headline_item_id)
        .join(_feed, _feed.c.id == _item.c.feed_id)
        .where(_delivery.c.id == delivery_id)
    )
    r = conn.execute(q).first()
    if r is None:
        return None
    return DeliveryInfo(
        r.id, r.story_id, r.recipient, tuple(r.watchlists), r.title, r.feed_id, r.feed_name
    )


@dataclass(frozen=True, slots=True)
class StoryItem:
    """One outlet's item of a story (All sources, /recent)."""

    feed: str
    title: str
    link: str | None
    published: datetime


def story_items(conn: Connection, story_id: int, limit: int = 30) -> list[StoryItem]:
    """The story's items, first one first, one per outlet."""
    q = (
        select(_feed.c.name, _item.c.title, _item.c.link, _item.c.published_at)
        .join(_feed, _feed.c.id == _item.c.feed_id)
        .where(_item.c.story_id == story_id)
        .order_by(_item.c.id)
    )
    seen: dict[str, StoryItem] = {}
    for r in conn.execute(q):
        if r.name not in seen:
            seen[r.name] = StoryItem(r.name, r.title, r.link, r.published_at)
        if len(seen) >= limit:
            break
    return list(seen.values())


def recent_stories(conn: Connection, watchlist: str, limit: int) -> list[StoryItem]:
    """The newest stories ``watchlist`` matched, newest first (headline item of each)."""
    q = (
        select(_feed.c.name, _story.c.title, _story.c.url, _item.c.published_at)
        .select_from(_match)
        .join(_story, _story.c.id == _match.c.story_id)
        .join(_item, _item.c.id == _story.c.headline_item_id)
        .join(_feed, _feed.c.id == _item.c.feed_id)
        .where(_match.c.watchlist == watchlist)
        .order_by(_match.c.created_at.desc(), _match.c.id.desc())
        .limit(limit)
    )
    return [StoryItem(r.name, r.title, r.url, r.published_at) for r in conn.execute(q)]
