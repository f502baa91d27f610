"""When to poll a feed next: interval with jitter, exponential backoff, Retry-After.

Pure: every function takes ``now`` (timezone-aware) and a ``random.Random`` and returns
a datetime or a number. No clock, no I/O, no asyncio.

Policy (``next_poll_at``):

- success: ``interval_s`` scaled by a random factor in ``[1 - jitter, 1 + jitter]`` so
  feeds added together drift apart instead of polling in lock-step;
- failure number ``n`` (``error_streak=n``): "full jitter" backoff above the interval,
  a uniform draw in ``[interval_s, min(cap, interval_s * 2**n)]`` where
  ``cap = max(max_backoff_s, interval_s)``. The expected wait doubles per failure
  until the cap; the draw never goes below the normal interval (a failing feed is
  never polled more often than a healthy one);
- never disabled: however long the streak, the next poll is at most ``cap`` away, so
  a feed recovers on its own once the server does;
- ``retry_after_s`` (the server's Retry-After) is a minimum: the poll is not before
  it, plus up to ``jitter`` of it so the feeds of one host do not return together.
  A Retry-After longer than ``cap`` is shortened to ``cap`` (a server cannot park a
  feed for ever).

``parse_retry_after`` reads a Retry-After header value (delta-seconds or an HTTP-date).
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

DEFAULT_MAX_BACKOFF_S = 6 * 3600
_MAX_EXPONENT = 62  # 2**62 * any sane interval is far above any cap
_SECONDS = re.compile(r"^\d+(\.\d+)?$")


def backoff_s(
    interval_s: float,
    error_streak: int,
    *,
    rng: random.Random,
    max_backoff_s: float = DEFAULT_MAX_BACKOFF_S,
    jitter: float = 0.1,
) -> float:
    """Seconds to wait before the next poll, before any Retry-After is applied."""
    if interval_s <= 0:
        raise ValueError(f"interval_s must be positive, got {interval_s}")
    if error_streak < 0:
        raise ValueError(f"error_streak must be >= 0, got {error_streak}")
    if not 0 <= jitter < 1:
        raise ValueError(f"jitter must be in [0, 1), got {jitter}")
    if error_streak == 0:
        return interval_s * rng.uniform(1 - jitter, 1 + jitter)
    cap = max(max_backoff_s, interval_s)
    ceiling = min(cap, interval_s * 2.0 ** min(error_streak, _MAX_EXPONENT))
    return rng.uniform(interval_s, ceiling)


def next_poll_at(
    now: datetime,
    interval_s: float,
    *,
    error_streak: int = 0,
    retry_after_s: float | None = None,
    rng: random.Random,
    max_backoff_s: float = DEFAULT_MAX_BACKOFF_S,
    jitter: float = 0.1,
) -> datetime:
    """When to poll next, given how the last poll went (see the module docstring)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    delay = backoff_s(interval_s, error_streak, rng=rng, max_backoff_s=max_backoff_s, jitter=jitter)
    if retry_after_s is not None and retry_after_s > 0:
        floor = min(retry_after_s, max(max_backoff_s, interval_s))
        delay = max(delay, floor * (1 + rng.uniform(0, jitter)))
    return now + timedelta(seconds=delay)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After value (``"120"`` or an HTTP-date), else None.

    A date in the past gives 0.0; a value that is neither form gives None.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _SECONDS.match(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": UTC by RFC 5322
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
