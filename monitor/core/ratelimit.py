"""Rate shaping arithmetic: how long until one more message fits under every limit.

A message passes through several buckets at once (its chat, its group, the whole bot),
each with a ``Limit`` of so many messages per sliding window. ``RateLedger`` remembers
when messages were sent per bucket and answers how long to wait before the next one.

The ledger is safe against the server's own count, not just ours: a message counts
from the moment it is *begun* (as if sent right now, for as long as it is in flight)
until a full window after it *ended* (the answer came back). The server accepted it
somewhere in between, so no window the server looks at can hold more than ``count``
messages, whatever the network delays. Past sends (read back from the database after
a restart) are ``record``ed with the time they were marked sent, which is after the
server saw them: conservative as well.

Pure: time comes in as an argument (seconds on any monotonic scale); no clock, no
sleeping, no asyncio. The shell (monitor.service.shaping) does the waiting.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``count`` messages in any window of ``window_s`` seconds."""

    count: int
    window_s: float

    def __post_init__(self) -> None:
        if self.count < 1 or self.window_s <= 0:
            raise ValueError(f"a limit needs count >= 1 and window_s > 0, not {self}")


@dataclass(frozen=True, slots=True)
class Bucket:
    """One limit applied to one key, e.g. ``Bucket("telegram:chat:-100", Limit(20, 60))``.

    ``shared``: many chats draw on it (the bot's overall limit), so waiters should queue
    for it fairly; the others belong to one chat."""

    key: str
    limit: Limit
    shared: bool = False


@dataclass(frozen=True, slots=True)
class TelegramLimits:
    """Telegram's published limits, tightened a little: chat, group or channel, overall."""

    per_chat: Limit = Limit(1, 1.0)
    per_group: Limit = Limit(20, 60.0)
    overall: Limit = Limit(25, 1.0)


def is_group_chat(address: str) -> bool:
    """Groups, supergroups and channels have negative ids (or an @channel name)."""
    return address.startswith(("-", "@"))


def telegram_buckets(address: str, limits: TelegramLimits) -> tuple[Bucket, ...]:
    """The buckets one Telegram message to ``address`` (a chat id or @name) passes through."""
    chat = f"telegram:chat:{address}"
    buckets = [Bucket("telegram:*", limits.overall, shared=True), Bucket(chat, limits.per_chat)]
    if is_group_chat(address):
        buckets.append(Bucket(chat + ":group", limits.per_group))
    return tuple(buckets)


@dataclass
class _Lane:
    """One bucket's history: end times of finished sends, and sends still in flight."""

    ended: list[float]  # sorted
    in_flight: int = 0


class RateLedger:
    """Sends per bucket; ``delay`` says how long until the next one fits.

    Use: ``delay(buckets, now)`` -> 0.0 means go; then ``ticket = begin(buckets)``,
    send, ``end(ticket, now)``. A positive delay is the wait in seconds; ``math.inf``
    means the bucket is full of sends still in flight (wait for one to end).
    """

    def __init__(self) -> None:
        self._lanes: dict[str, _Lane] = {}
        self._tickets: dict[int, tuple[Bucket, ...]] = {}
        self._next_ticket = 0
        self._horizon = 0.0  # the longest window seen: older events are dropped

    def _lane(self, key: str) -> _Lane:
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane([])
        return lane

    def delay(self, buckets: Sequence[Bucket], now: float) -> float:
        """Seconds until one more message fits in every bucket (0.0: now)."""
        wait = 0.0
        for bucket in buckets:
            wait = max(wait, self._bucket_delay(bucket, now))
        return wait

    def _bucket_delay(self, bucket: Bucket, now: float) -> float:
        lane = self._lanes.get(bucket.key)
        if lane is None:
            return 0.0
        limit = bucket.limit
        first = bisect.bisect_right(lane.ended, now - limit.window_s)
        recent = len(lane.ended) - first
        if lane.in_flight + recent < limit.count:
            return 0.0
        if lane.in_flight >= limit.count:
            return math.inf
        # The send that must leave the window before one more fits.
        blocking = lane.ended[len(lane.ended) - (limit.count - lane.in_flight)]
        return max(0.0, blocking + limit.window_s - now)

    def begin(self, buckets: Sequence[Bucket]) -> int:
        """Count a send as in flight in every bucket; returns the ticket for ``end``."""
        for bucket in buckets:
            self._lane(bucket.key).in_flight += 1
            self._horizon = max(self._horizon, bucket.limit.window_s)
        ticket = self._next_ticket
        self._next_ticket += 1
        self._tickets[ticket] = tuple(buckets)
        return ticket

    def end(self, ticket: int, now: float) -> None:
        """The send is over (answered, failed or timed out) at ``now``."""
        for bucket in self._tickets.pop(ticket, ()):
            lane = self._lane(bucket.key)
            lane.in_flight = max(0, lane.in_flight - 1)
            bisect.insort(lane.ended, now)
        if ticket % 256 == 0:
            self.prune(now)

    def record(self, buckets: Sequence[Bucket], at: float) -> None:
        """A send that ended at ``at`` (e.g. read back from the database after a restart)."""
        for bucket in buckets:
            bisect.insort(self._lane(bucket.key).ended, at)
            self._horizon = max(self._horizon, bucket.limit.window_s)

    def record_many(self, sends: Iterable[tuple[Sequence[Bucket], float]]) -> None:
        for buckets, at in sends:
            self.record(buckets, at)

    def prune(self, now: float) -> None:
        """Forget sends older than the longest window (keeps memory flat)."""
        cutoff = now - self._horizon
        for key in list(self._lanes):
            lane = self._lanes[key]
            del lane.ended[: bisect.bisect_right(lane.ended, cutoff)]
            if not lane.ended and lane.in_flight == 0:
                del self._lanes[key]

    @property
    def in_flight(self) -> int:
        return len(self._tickets)
