"""Tables of the story index: candidate keys, window fingerprints, document frequencies, links.

The SQL twin of `monitor.core.story_index.StoryIndex` (queries in `monitor.store.stories`):

- ``story_key``: one row per index key of an item in the clustering window (canonical
  URL, title, LSH bands, heaviest terms), clustered on ``(key, at, item_id)`` so that the
  most recent items under one key are one short index range (no scan); ``at`` is also
  indexed for expiry.
- ``story_fingerprint``: the fingerprint of each item in the window (per item, not per
  story: a candidate is compared with the item that shares keys with it, and a join
  through a later item is checked against the story's first item, as in memory).
- ``story_term``: document frequencies of the window's terms; the empty term (which no
  fingerprint holds) counts the documents, so one upsert maintains both.
- ``story_link``: why each item is in its story (signal and score of the decision); it
  outlives the window.

``at`` in the three index tables is POSIX seconds (an integer: 4 bytes in SQLite where a
text timestamp takes 26, and the key table has ~40 rows per item). The index tables have
no foreign keys: they are a derived, expiring cache written ~40 rows per item, nothing
references them, and `expire_stories` removes them. Defines tables only: no queries.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Float, Index, LargeBinary, Text
from sqlmodel import Field, SQLModel

from monitor.store.types import UTCDateTime


class StoryKeyRow(SQLModel, table=True):
    """An item of the window filed under one index key (a posting)."""

    __tablename__ = "story_key"
    __table_args__ = (Index("ix_story_key_at", "at"), {"sqlite_with_rowid": False})

    key: str = Field(sa_column=Column(Text, primary_key=True))
    at: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    item_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    story_id: int = Field(nullable=False)


class StoryFingerprintRow(SQLModel, table=True):
    """What clustering keeps of one item of the window (`monitor.core.fingerprint`)."""

    __tablename__ = "story_fingerprint"

    item_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    story_id: int = Field(nullable=False)
    at: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    version: int = Field(nullable=False)  # FINGERPRINT_VERSION when it was computed
    url: str | None = Field(default=None, sa_column=Column(Text))
    language: str | None = Field(default=None, sa_column=Column(Text))
    title: str = Field(sa_column=Column(Text, nullable=False))
    terms: str = Field(sa_column=Column(Text, nullable=False))  # space-separated
    counts: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    names: str = Field(sa_column=Column(Text, nullable=False))  # space-separated
    signature: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    has_text: bool = Field(nullable=False)


class StoryTermRow(SQLModel, table=True):
    """Items of the window containing a term; the empty term counts every item."""

    __tablename__ = "story_term"
    __table_args__ = ({"sqlite_with_rowid": False},)

    term: str = Field(sa_column=Column(Text, primary_key=True))
    count: int = Field(nullable=False)


class StoryLinkRow(SQLModel, table=True):
    """Why an item is in its story: the decision's signal ("none" = it started it) and score."""

    __tablename__ = "story_link"

    item_id: int = Field(
        primary_key=True, foreign_key="item.id", sa_column_kwargs={"autoincrement": False}
    )
    story_id: int = Field(foreign_key="story.id", nullable=False)
    signal: str = Field(sa_column=Column(Text, nullable=False))
    score: float = Field(sa_column=Column(Float, nullable=False))
    linked_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
