"""Tables of the Telegram bot: chats, subscriptions, personal watchlists, mutes, feedback,
access requests, and the update poller's offset and processed updates.

Chats are keyed by Telegram chat id; mutes and feedback by recipient key (``telegram:<chat
id>``, or the key of a chat configured in monitor.yaml), so they apply to any recipient.
No foreign keys to stories or matches: retention deletes those, and a mute or a "Not
relevant" outlives them (feedback is the precision history of a watchlist).

The poller's bookkeeping is queried here (``claim_update``, the offset and the directory
version); everything else lives in monitor.store.bot. Functions take a ``Connection``
inside a transaction and never send anything.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    select,
)
from sqlmodel import Field, SQLModel

from monitor.store.delivery_tables import upsert_insert
from monitor.store.types import utc_column


class BotChatRow(SQLModel, table=True):
    """A chat that uses the bot, with its delivery settings (None = the default)."""

    __tablename__ = "bot_chat"

    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    kind: str = Field(sa_column=Column(Text, nullable=False))  # private, group, supergroup, channel
    title: str = Field(default="", sa_column=Column(Text, nullable=False))
    active: bool = Field(default=True)
    """False once the bot was removed or blocked; /start brings it back."""
    mode: str = Field(default="immediate", sa_column=Column(Text, nullable=False))
    daily_at: str | None = Field(default=None, sa_column=Column(Text))
    quiet_start: str | None = Field(default=None, sa_column=Column(Text))
    quiet_end: str | None = Field(default=None, sa_column=Column(Text))
    timezone: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    updated_at: datetime = Field(sa_column=utc_column(nullable=False))


class BotSubscriptionRow(SQLModel, table=True):
    """A chat receives the alerts of one watchlist of watchlists.yaml."""

    __tablename__ = "bot_subscription"

    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    watchlist: str = Field(sa_column=Column(Text, primary_key=True))
    created_at: datetime = Field(sa_column=utc_column(nullable=False))


class BotWatchlistRow(SQLModel, table=True):
    """A personal watchlist (/watch NAME QUERY): only its owner receives its alerts."""

    __tablename__ = "bot_watchlist"

    owner: str = Field(sa_column=Column(Text, primary_key=True))  # recipient key
    name: str = Field(sa_column=Column(Text, primary_key=True))
    query: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    updated_at: datetime = Field(sa_column=utc_column(nullable=False))


class BotMuteRow(SQLModel, table=True):
    """A recipient muted a story, an outlet (feed) or a watchlist (until a time)."""

    __tablename__ = "bot_mute"
    __table_args__ = (
        UniqueConstraint("recipient", "kind", "target", name="uq_bot_mute"),
        Index("ix_bot_mute_target", "kind", "target"),
    )

    id: int | None = Field(default=None, primary_key=True)
    recipient: str = Field(sa_column=Column(Text, nullable=False))
    kind: str = Field(sa_column=Column(Text, nullable=False))  # story, feed, watchlist
    target: str = Field(sa_column=Column(Text, nullable=False))  # story id, feed id, name
    label: str = Field(default="", sa_column=Column(Text, nullable=False))  # for people
    until: datetime | None = Field(default=None, sa_column=utc_column())  # None = for good
    created_at: datetime = Field(sa_column=utc_column(nullable=False))


class BotFeedbackRow(SQLModel, table=True):
    """ "Not relevant": a recipient says a story should not have matched a watchlist."""

    __tablename__ = "bot_feedback"
    __table_args__ = (
        UniqueConstraint("story_id", "watchlist", "recipient", name="uq_bot_feedback"),
        Index("ix_bot_feedback_watchlist", "watchlist", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    story_id: int = Field(nullable=False)
    watchlist: str = Field(sa_column=Column(Text, nullable=False))
    recipient: str = Field(sa_column=Column(Text, nullable=False))
    user_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    title: str = Field(default="", sa_column=Column(Text, nullable=False))  # the story's, then
    created_at: datetime = Field(sa_column=utc_column(nullable=False))


class BotAccessRow(SQLModel, table=True):
    """Who asked for access and what the admins decided (approval mode; bans in open mode)."""

    __tablename__ = "bot_access"

    principal: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    status: str = Field(sa_column=Column(Text, nullable=False))  # pending, approved, denied
    name: str = Field(default="", sa_column=Column(Text, nullable=False))
    requested_at: datetime = Field(sa_column=utc_column(nullable=False))
    decided_at: datetime | None = Field(default=None, sa_column=utc_column())
    decided_by: int | None = Field(default=None, sa_column=Column(BigInteger))


class BotUpdateRow(SQLModel, table=True):
    """An update already handled: a retried or re-delivered update has no effect twice."""

    __tablename__ = "bot_update"

    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    processed_at: datetime = Field(sa_column=utc_column(nullable=False))


class BotStateRow(SQLModel, table=True):
    """Counters of the bot: the getUpdates offset, the directory version."""

    __tablename__ = "bot_state"

    key: str = Field(sa_column=Column(Text, primary_key=True))
    value: int = Field(sa_column=Column(BigInteger, nullable=False))


_update: Table = BotUpdateRow.__table__  # type: ignore[attr-defined]
_state: Table = BotStateRow.__table__  # type: ignore[attr-defined]

OFFSET, DIRECTORY = "offset", "directory_version"
UPDATES_KEPT = timedelta(days=2)  # Telegram keeps an unconfirmed update for 24 hours


def claim_update(conn: Connection, update_id: int, now: datetime) -> bool:
    """Mark an update handled; False when it already was (a retry, another instance)."""
    stmt = upsert_insert(conn, _update).on_conflict_do_nothing(index_elements=["update_id"])
    inserted = conn.execute(
        stmt.returning(_update.c.update_id), {"update_id": update_id, "processed_at": now}
    ).all()
    return bool(inserted)


def read_state(conn: Connection, key: str) -> int | None:
    return conn.execute(select(_state.c.value).where(_state.c.key == key)).scalar()


def load_offset(conn: Connection) -> int | None:
    """The highest update id whose batch was handled (getUpdates asks for the next)."""
    return read_state(conn, OFFSET)


def save_offset(conn: Connection, update_id: int, now: datetime) -> None:
    """Remember the handled batch (never going back) and forget old handled updates."""
    stmt = upsert_insert(conn, _state).values(key=OFFSET, value=update_id)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={"value": _greatest(conn, _state.c.value, stmt.excluded.value)},
        )
    )
    conn.execute(delete(_update).where(_update.c.processed_at < now - UPDATES_KEPT))


def _greatest(conn: Connection, a: Any, b: Any) -> Any:
    return func.greatest(a, b) if conn.dialect.name == "postgresql" else func.max(a, b)


def directory_version(conn: Connection) -> int:
    """Bumped whenever subscriptions, settings or personal watchlists change."""
    return read_state(conn, DIRECTORY) or 0


def bump_directory(conn: Connection) -> None:
    stmt = upsert_insert(conn, _state).values(key=DIRECTORY, value=1)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["key"], set_={"value": _state.c.value + 1})
    )
