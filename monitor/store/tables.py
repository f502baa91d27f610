"""SQLModel table definitions: feed state, items, stories, matches and the delivery outbox.

The schema is created and changed only by the Alembic migrations in
``monitor/store/migrations`` (a test checks that they agree with these classes);
nothing calls ``create_all`` at run time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from monitor.store.types import JSONList, JSONValue, utc_column


class FeedRow(SQLModel, table=True):
    """What we remember about one feed between polls."""

    __tablename__ = "feed"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    name: str = Field(sa_column=Column(Text, nullable=False))
    active: bool = Field(default=True)
    etag: str | None = Field(default=None, sa_column=Column(Text))
    last_modified: str | None = Field(default=None, sa_column=Column(Text))
    body_hash: str | None = Field(default=None, sa_column=Column(Text))
    baseline_done: bool = Field(default=False)
    error_streak: int = Field(default=0)
    last_status: str | None = Field(default=None, sa_column=Column(Text))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_polled_at: datetime | None = Field(default=None, sa_column=utc_column())
    last_success_at: datetime | None = Field(default=None, sa_column=utc_column())
    next_poll_at: datetime | None = Field(default=None, sa_column=utc_column(index=True))
    lease_owner: str | None = Field(default=None, sa_column=Column(Text))
    """The instance polling this feed now (several instances share one database)."""
    lease_until: datetime | None = Field(default=None, sa_column=utc_column())
    """When that claim lapses (a dead instance's feeds are taken over after it)."""


class StoryRow(SQLModel, table=True):
    """A cluster of items that report the same news; its first item is the headline."""

    __tablename__ = "story"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(sa_column=Column(Text, nullable=False))
    url: str | None = Field(default=None, sa_column=Column(Text))
    headline_item_id: int | None = Field(default=None)
    item_count: int = Field(default=1)
    first_seen_at: datetime = Field(sa_column=utc_column(nullable=False))
    last_seen_at: datetime = Field(sa_column=utc_column(nullable=False, index=True))


class ItemRow(SQLModel, table=True):
    """One feed entry, stored once per feed and identity key."""

    __tablename__ = "item"
    __table_args__ = (
        UniqueConstraint("feed_id", "key", name="uq_item_feed_key"),
        Index("ix_item_feed_guid", "feed_id", "guid"),
        Index("ix_item_feed_url", "feed_id", "url"),
        Index("ix_item_feed_hash", "feed_id", "content_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    feed_id: int = Field(foreign_key="feed.id", nullable=False)
    key: str = Field(sa_column=Column(Text, nullable=False))
    guid: str | None = Field(default=None, sa_column=Column(Text))
    url: str | None = Field(default=None, sa_column=Column(Text))
    link: str | None = Field(default=None, sa_column=Column(Text))
    content_hash: str = Field(sa_column=Column(Text, nullable=False))
    title: str = Field(sa_column=Column(Text, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    article_text: str | None = Field(default=None, sa_column=Column(Text))
    article_problem: str | None = Field(default=None, sa_column=Column(Text))
    language: str | None = Field(default=None, sa_column=Column(Text))
    author: str | None = Field(default=None, sa_column=Column(Text))
    published_at: datetime = Field(sa_column=utc_column(nullable=False))
    fetched_at: datetime = Field(sa_column=utc_column(nullable=False, index=True))
    story_id: int | None = Field(default=None, foreign_key="story.id", index=True)


class MatchRow(SQLModel, table=True):
    """A watchlist matched an item of a story; one row per story and watchlist."""

    __tablename__ = "match"
    __table_args__ = (UniqueConstraint("story_id", "watchlist", name="uq_match_story_watchlist"),)

    id: int | None = Field(default=None, primary_key=True)
    story_id: int = Field(foreign_key="story.id", nullable=False)
    item_id: int = Field(foreign_key="item.id", nullable=False, index=True)
    watchlist: str = Field(sa_column=Column(Text, nullable=False))
    terms: list[str] = Field(sa_column=Column(JSONList(), nullable=False))
    snippet: str = Field(sa_column=Column(Text, nullable=False))
    highlights: list[list[int]] = Field(sa_column=Column(JSONValue(), nullable=False))
    created_at: datetime = Field(sa_column=utc_column(nullable=False))


class DeliveryRow(SQLModel, table=True):
    """The outbox: one alert per story and recipient, written with the items it announces."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("story_id", "recipient", name="uq_delivery_story_recipient"),
        Index("ix_delivery_due", "state", "due_at"),
        Index("ix_delivery_recipient", "recipient", "state"),
        Index("ix_delivery_claimed", "claimed_until"),
        Index("ix_delivery_update_due", "update_due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    story_id: int = Field(foreign_key="story.id", nullable=False)
    recipient: str = Field(sa_column=Column(Text, nullable=False))
    channel: str = Field(sa_column=Column(Text, nullable=False))
    watchlists: list[str] = Field(sa_column=Column(JSONList(), nullable=False))
    priority: str = Field(default="normal", sa_column=Column(Text, nullable=False))
    state: str = Field(default="pending", sa_column=Column(Text, nullable=False))
    attempts: int = Field(default=0)
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    due_at: datetime = Field(sa_column=utc_column(nullable=False))
    claimed_until: datetime | None = Field(default=None, sa_column=utc_column())
    sent_at: datetime | None = Field(default=None, sa_column=utc_column())
    message_ref: str | None = Field(default=None, sa_column=Column(Text))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    hold: str | None = Field(default=None, sa_column=Column(Text))  # digest reason, if held
    claimed_by: str | None = Field(default=None, sa_column=Column(Text))
    update_due_at: datetime | None = Field(default=None, sa_column=utc_column())
    last_update_at: datetime | None = Field(default=None, sa_column=utc_column())
    updates: int = Field(default=0)


metadata = SQLModel.metadata

# Tables defined beside their queries register on the same metadata when imported here.
from monitor.store import (  # noqa: E402, F401
    bot_tables,
    delivery_tables,
    health_tables,
    story_tables,
)
