"""Rate shaping in the shell: wait until a message fits under its chat's and the bot's limits.

``Shaper`` wraps the core ``RateLedger`` with asyncio: ``acquire`` waits until the
message fits in every bucket, then counts it as in flight; ``release`` ends it when the
answer is back. A task first waits for its own chat's buckets, holding nothing, so a
chat that must wait (1/s, a group's 20/min) never delays another chat; only then does
it queue, first come first served, for the buckets all chats share (the bot's overall
rate), so no chat starves while others keep winning the race for free slots.
Waiting stops at once when the sender is stopping (``acquire`` returns None: the message
was not started and goes back to the outbox).

Time is the event loop's monotonic clock (what its sleeps use), also under a test's
fixed wall clock. After a restart ``seed`` loads the sends of the last minute from the
database, so the limits hold right after a restart too. Only Telegram has limits
today; other channels pass straight through.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Iterable
from datetime import datetime

from monitor.core.ratelimit import Bucket, RateLedger, TelegramLimits, telegram_buckets

_POLL_S = 0.05  # re-check when the wait is on sends in flight elsewhere


class Shaper:
    """Per-chat, per-group and overall limits for outgoing messages of one process."""

    def __init__(self, telegram: TelegramLimits, stopping: asyncio.Event) -> None:
        self.telegram = telegram
        self.stopping = stopping
        self.ledger = RateLedger()
        self._lines: dict[tuple[str, ...], asyncio.Lock] = {}
        self.waited_s = 0.0  # total time senders spent waiting, for reports

    @staticmethod
    def _time() -> float:
        """The event loop's clock: the one its sleeps are measured on (monotonic)."""
        return asyncio.get_running_loop().time()

    def buckets(self, channel: str, address: str) -> tuple[Bucket, ...]:
        if channel == "telegram":
            return telegram_buckets(address, self.telegram)
        return ()

    def seed(self, sends: Iterable[tuple[str, str, datetime]], now: datetime) -> int:
        """Count past sends (channel, address, when) read back from the database."""
        mono = self._time()
        seeded = 0
        for channel, address, at in sends:
            buckets = self.buckets(channel, address)
            if buckets:
                self.ledger.record(buckets, mono - (now - at).total_seconds())
                seeded += 1
        return seeded

    async def acquire(self, buckets: tuple[Bucket, ...]) -> int | None:
        """Wait until one more message fits; its ticket, or None if the sender is stopping."""
        started = self._time()
        own = tuple(b for b in buckets if not b.shared)
        shared = tuple(b.key for b in buckets if b.shared)
        if not await self._fits(own):
            return None
        if shared:
            async with self._line(shared):  # asyncio locks wake their waiters in order
                if not await self._fits(buckets):
                    return None
                return self._begin(buckets, started)
        return self._begin(buckets, started)

    def _begin(self, buckets: tuple[Bucket, ...], started: float) -> int:
        self.waited_s += self._time() - started
        return self.ledger.begin(buckets)

    def _line(self, keys: tuple[str, ...]) -> asyncio.Lock:
        if keys not in self._lines:
            self._lines[keys] = asyncio.Lock()
        return self._lines[keys]

    async def _fits(self, buckets: tuple[Bucket, ...]) -> bool:
        """Wait until one more message fits in ``buckets``; False if stopping meanwhile."""
        while not self.stopping.is_set():
            wait = self.ledger.delay(buckets, self._time())
            if wait <= 0:
                return True
            await self._sleep(_POLL_S if math.isinf(wait) else wait)
        return False

    def release(self, ticket: int) -> None:
        self.ledger.end(ticket, self._time())

    async def _sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the sender starts stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
