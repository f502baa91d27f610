"""Tables of feed health and adaptive polling (queries in ``monitor.store.health``).

- ``feed_incident``: one row per incident (a feed failing, a feed stale, every feed
  failing at once: ``feed_id`` NULL). Open while ``closed_at`` is NULL; ``announced``
  tells whether the admins were told it opened (incidents held back during an outage
  are not), so its recovery is announced only then. Kept after closing for history,
  purged with the items (``monitor.store.retention``).
- ``feed_cadence``: each feed's adaptive poll interval (``monitor.core.polling``) and
  how many polls shared no entry with what was known (items probably dropped).
- ``ix_item_feed_fetched``: an index on ``item (feed_id, fetched_at)`` for the recent
  items of one feed (usual gap, items per day) without a scan.

Defines tables only: no queries. Schema changes go through migration 0004.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Float, Index, Table, Text
from sqlmodel import Field, SQLModel

from monitor.store.tables import ItemRow
from monitor.store.types import UTCDateTime


class FeedIncidentRow(SQLModel, table=True):
    """A feed-health incident: what, since when, until when, and whether admins were told."""

    __tablename__ = "feed_incident"
    __table_args__ = (Index("ix_feed_incident_open", "closed_at", "feed_id"),)

    id: int | None = Field(default=None, primary_key=True)
    feed_id: int | None = Field(default=None, foreign_key="feed.id")  # NULL: every feed
    kind: str = Field(sa_column=Column(Text, nullable=False))  # failing | stale | outage
    opened_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    announced: bool = Field(default=False)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))


class FeedCadenceRow(SQLModel, table=True):
    """A feed's adaptive poll interval and its count of polls that probably missed items."""

    __tablename__ = "feed_cadence"

    feed_id: int = Field(
        primary_key=True, foreign_key="feed.id", sa_column_kwargs={"autoincrement": False}
    )
    interval_s: float = Field(sa_column=Column(Float, nullable=False))
    missed_polls: int = Field(default=0)
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


_item: Table = ItemRow.__table__  # type: ignore[attr-defined]
ITEM_FEED_FETCHED = Index("ix_item_feed_fetched", _item.c.feed_id, _item.c.fetched_at)
