"""Adaptive polling: how long to wait before polling a feed again, from what the last poll saw.

Pure: the caller passes what it knows after a poll (new items, entries in the document,
how many of them were already known, the server's hints) and gets a decision back.
No clock, no I/O; ``now`` is an argument where a date header has to be read.

The policy, one multiplicative step per poll on the feed's current interval (kept in
the database between polls, starting at the configured ``interval``):

- the poll found new items: a busy feed, poll sooner (``x FASTER``);
- it found none (also 304 Not Modified or an identical body): poll later (``x SLOWER``);
- no entry of the document was known before although the feed had been polled
  (``missed``): the feed probably published more items between two polls than its
  document holds, so some were never seen; poll much sooner (``x MISSED``) and count it.

With ``FASTER = 1 / SLOWER`` the interval settles where about half of the polls find
something new: ln 2 times the feed's mean gap between items (a feed publishing one item
an hour is polled about every 40 minutes; simulated in tests/core/test_polling.py),
always inside the feed's bounds:
``[max(min_interval, base / spread), min(max_interval, base * spread)]``, so a feed the
operator set to 10 minutes is polled between 2.5 and 40 minutes with the default spread.

Server hints are a floor on the wait, never a reason to poll sooner: RSS ``<ttl>``,
``Cache-Control: max-age`` (minus ``Age``; ``no-cache``/``no-store`` give no floor),
``Expires`` (when there is no max-age) and ``Retry-After``. A hint cannot push the
wait beyond the feed's upper bound: a CDN's one-day max-age must not park a news feed.
The adaptive interval itself is not changed by a hint, so the learning goes on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from monitor.core.schedule import parse_retry_after

FASTER = 0.8
SLOWER = 1.25
MISSED = 0.5
DEFAULT_SPREAD = 4.0

_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|[,\s])(?:no-cache|no-store)(?:$|[,\s=])", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class IntervalBounds:
    """Where a feed's interval may go: around its ``base_s``, within the global limits."""

    base_s: float  # feeds.yaml interval (or the default interval)
    min_s: float  # fetch.min_interval
    max_s: float  # fetch.max_interval
    spread: float = DEFAULT_SPREAD  # how far from base adaptation may go, either way

    def __post_init__(self) -> None:
        if not 0 < self.min_s <= self.max_s:
            raise ValueError(f"need 0 < min_s <= max_s, got {self.min_s}, {self.max_s}")
        if self.base_s <= 0 or self.spread < 1:
            raise ValueError("base_s must be positive and spread at least 1")

    @property
    def low(self) -> float:
        """The shortest interval this feed may get."""
        return min(self.max_s, max(self.min_s, self.base_s / self.spread))

    @property
    def high(self) -> float:
        """The longest interval this feed may get (also the cap of server hints)."""
        return max(self.low, min(self.max_s, self.base_s * self.spread))

    def clamp(self, seconds: float) -> float:
        return min(self.high, max(self.low, seconds))


@dataclass(frozen=True, slots=True)
class ServerHints:
    """What the server said about when to come back, in seconds from now (None = nothing)."""

    ttl_s: float | None = None  # RSS <ttl>
    max_age_s: float | None = None  # Cache-Control max-age minus Age
    expires_s: float | None = None  # Expires minus Date (only used without max-age)
    retry_after_s: float | None = None  # Retry-After

    @property
    def floor_s(self) -> float | None:
        """The earliest the server wants to see us again, or None when it said nothing."""
        freshness = self.max_age_s if self.max_age_s is not None else self.expires_s
        found = [v for v in (self.ttl_s, freshness, self.retry_after_s) if v is not None]
        return max(found) if found else None


@dataclass(frozen=True, slots=True)
class IntervalDecision:
    """The outcome: the interval to remember, the wait before the next poll, and why."""

    interval_s: float  # the feed's adaptive interval after this poll (store it)
    delay_s: float  # wait before the next poll: interval_s, raised to a server hint
    missed: bool  # the document shared no entry with what we knew: items were probably lost
    reason: str  # busy | quiet | missed | first


def next_interval(
    current_s: float | None,
    *,
    new_items: int,
    entries: int,
    known: int | None,
    first_poll: bool,
    bounds: IntervalBounds,
    hints: ServerHints = ServerHints(),
) -> IntervalDecision:
    """The next interval of a feed after a successful poll (200 or 304).

    ``current_s``: the feed's interval before this poll (None: never adapted, start from
    ``bounds.base_s``). ``new_items``: entries stored as new. ``entries``: entries in the
    document (0 for a 304 or an unchanged body). ``known``: entries of the document that
    were already stored (None when the document was not parsed). ``first_poll``: the
    baseline poll, whose entries are all unknown by definition.
    """
    if new_items < 0 or entries < 0 or (known is not None and known < 0):
        raise ValueError("counts must not be negative")
    current = bounds.clamp(current_s if current_s and current_s > 0 else bounds.base_s)
    missed = not first_poll and entries > 0 and known == 0 and new_items > 0
    if first_poll:
        interval, reason = current, "first"
    elif missed:
        interval, reason = current * MISSED, "missed"
    elif new_items > 0:
        interval, reason = current * FASTER, "busy"
    else:
        interval, reason = current * SLOWER, "quiet"
    interval = bounds.clamp(interval)
    floor = hints.floor_s
    delay = interval if floor is None else max(interval, min(floor, bounds.high))
    return IntervalDecision(interval, delay, missed, reason)


def server_hints(
    headers: Mapping[str, str], now: datetime, *, ttl_s: float | None = None
) -> ServerHints:
    """Read the caching hints of a response (``headers`` with lower-case keys) and a feed's ttl."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    control = headers.get("cache-control", "")
    max_age: float | None = None
    if control and not _NO_CACHE.search(control):
        found = _MAX_AGE.search(control)
        if found:
            max_age = max(0.0, float(found.group(1)) - _age(headers.get("age")))
    expires = None if max_age is not None or _NO_CACHE.search(control) else _expires(headers, now)
    retry = parse_retry_after(headers.get("retry-after"), now)
    ttl = float(ttl_s) if ttl_s is not None and ttl_s > 0 else None
    return ServerHints(ttl_s=ttl, max_age_s=max_age, expires_s=expires, retry_after_s=retry)


def _age(value: str | None) -> float:
    if value and value.strip().isdigit():
        return float(value.strip())
    return 0.0


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _expires(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds of freshness from Expires, measured against the response's Date when given."""
    expires = _http_date(headers.get("expires"))
    if expires is None:  # "0", "-1" or garbage: already expired
        return None
    date = _http_date(headers.get("date")) or now
    seconds = (expires - date).total_seconds()
    return seconds if seconds > 0 and math.isfinite(seconds) else None
