"""Domain objects shared by every layer: frozen dataclasses, no behaviour beyond derived keys.

Feed (what to poll), FetchResult (what came back), Entry (one normalised feed item),
Match (why a watchlist matched), Recipient and PlannedDelivery (who gets an alert).
Nothing here touches the network, the database or the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

FullText = Literal["auto", "always", "never"]
DeliveryMode = Literal["immediate", "hourly", "daily"]


@dataclass(frozen=True, slots=True)
class Feed:
    """A feed to poll, as configured."""

    url: str
    name: str
    tags: tuple[str, ...] = ()
    interval_s: int = 600
    backfill: int | None = 0  # items alerted on the first poll: 0 = none, None = all
    full_text: FullText = "auto"
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Validators:
    """What we remember of the last response, to make the next request conditional."""

    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A completed HTTP fetch. ``headers`` keys are lower-case; ``body`` is decoded bytes."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    elapsed_ms: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True, slots=True)
class Entry:
    """One feed item after normalisation: plain text, canonical URL, UTC date."""

    guid: str | None
    url: str | None  # canonical (tracking parameters stripped), used for identity
    link: str | None  # as published, used for display
    title: str
    text: str
    published: datetime  # timezone-aware UTC; the fetch time when the feed gives none
    content_hash: str  # hash of folded title + text, the identity of last resort
    language: str | None = None
    author: str | None = None
    position: int = 0  # order in the feed document, 0 = first
    article_text: str | None = None  # the article page's main text, when fetched
    article_problem: str | None = None  # why the article text could not be used

    @property
    def full_text(self) -> str:
        """What matching and clustering read: the article text, then the feed text."""
        return full_text(self.text, self.article_text)

    @property
    def key(self) -> str:
        """The identity stored with the item: canonical URL, else GUID, else content hash."""
        if self.url:
            return "u:" + self.url
        if self.guid:
            return "g:" + self.guid
        return "h:" + self.content_hash


def full_text(feed_text: str, article_text: str | None) -> str:
    """The article text followed by the feed text, unless the article already holds it."""
    if not article_text:
        return feed_text
    if feed_text and feed_text[:200] not in article_text:
        return f"{article_text}\n\n{feed_text}"
    return article_text


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A feed document after parsing and normalisation."""

    title: str
    link: str | None
    language: str | None
    entries: tuple[Entry, ...]
    problem: str | None = None  # feedparser's bozo message when the document was malformed
    ttl_s: int | None = None  # RSS <ttl>, a server hint for the poll interval


@dataclass(frozen=True, slots=True)
class Span:
    """Where a matched term occurs: field ("title" or "text") and character offsets."""

    field: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Match:
    """A watchlist matched an item: which terms, where, and a snippet around the first hit."""

    watchlist: str
    terms: tuple[str, ...]
    snippet: str
    spans: tuple[Span, ...] = ()
    priority: Literal["normal", "high"] = "normal"
    highlights: tuple[tuple[int, int], ...] = ()  # where the hits are in ``snippet``


@dataclass(frozen=True, slots=True)
class Recipient:
    """Someone who receives alerts through one channel."""

    key: str  # stable identifier, e.g. "console:demo", "telegram:12345", "email:a@b.c"
    channel: str  # channel name: console, telegram, email, webhook
    address: str  # chat id, email address, URL ...
    watchlists: tuple[str, ...] | None = None  # None = every watchlist
    timezone: str = "UTC"
    mode: DeliveryMode = "immediate"
    daily_at: str | None = None  # "HH:MM" for mode == "daily"
    quiet_hours: tuple[str, str] | None = None  # ("22:00", "07:00")


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """An alert to write to the outbox: one per story and recipient."""

    recipient: str
    channel: str
    watchlists: tuple[str, ...]
    priority: Literal["normal", "high"] = "normal"


@dataclass(frozen=True, slots=True)
class PollSummary:
    """Counts for one poll cycle, printed by ``monitor poll --once``."""

    polled: int = 0
    not_modified: int = 0
    unchanged: int = 0
    failed: int = 0
    new_items: int = 0
    alerts: int = 0
    failures: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class WatchlistSpec:
    """A watchlist as configured (YAML or a bot user's personal list), not yet compiled."""

    name: str
    query: str  # the query language; `terms:` in YAML becomes "t1" OR "t2" ...
    exclude: str | None = None
    languages: tuple[str, ...] = ()  # empty = every language
    feeds: tuple[str, ...] = ()  # feed names or URLs in scope; empty = every feed
    tags: tuple[str, ...] = ()  # feed tags in scope; empty = every tag
    priority: Literal["normal", "high"] = "normal"
    fuzzy: Literal["off", "auto"] | int = "auto"


@dataclass(frozen=True, slots=True)
class Document:
    """What a watchlist is matched against: one item's text and its context."""

    title: str
    text: str
    source: str = ""  # feed name / outlet
    language: str | None = None
    feed: str = ""  # feed name
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the store remembers about a feed between polls."""

    id: int
    url: str
    name: str
    validators: Validators = Validators()
    baseline_done: bool = False
    error_streak: int = 0
    next_poll_at: datetime | None = None
    last_success_at: datetime | None = None
    interval_s: float | None = None  # the adapted poll interval, None until adapted


@dataclass(frozen=True, slots=True)
class AlertMatch:
    """One watchlist's part of an alert: the terms that matched and the snippet."""

    watchlist: str
    terms: tuple[str, ...]
    snippet: str
    highlights: tuple[tuple[int, int], ...] = ()  # where the hits are in ``snippet``


@dataclass(frozen=True, slots=True)
class Alert:
    """Everything a channel needs to render one delivery of a story to one recipient."""

    delivery_id: int
    recipient: str
    channel: str
    story_id: int
    title: str
    url: str | None
    source: str
    published: datetime
    matches: tuple[AlertMatch, ...]
    also_reported_by: tuple[str, ...] = ()
    attempts: int = 0
