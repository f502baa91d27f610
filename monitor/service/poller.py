"""Poll cycles: run the pipeline for due (or all) feeds with bounded concurrency.

The daemon's scheduler calls ``poll_due`` on every tick; ``monitor poll --once``
calls ``poll_all``. Feeds already being polled are never started twice.

A tick claims only what this process can poll soon: about ``CLAIM_AHEAD_S`` seconds of
work at its pace (concurrency / mean duration of its recent polls, Little's law; at
least twice its concurrency), less what it still holds. Instances sharing a database
thus split the due feeds by their speed instead of by whose tick came first, and a
claimed feed is polled long before its lease lapses.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Iterable, Mapping

from monitor.core.models import Feed, PollSummary
from monitor.service.pipeline import PollContext, PollReport, poll_feed
from monitor.store import feeds as feed_store

CLAIM_AHEAD_S = 5.0  # a tick claims about this many seconds of polling
PACE_WINDOW_S = 10.0  # the recent polls the pace is measured over


class Poller:
    """Runs polls for a set of configured feeds, at most ``concurrency`` at a time."""

    def __init__(
        self,
        ctx: PollContext,
        feeds: Iterable[Feed],
        *,
        concurrency: int = 20,
        owner: str = "local",
        lease_s: float = 300.0,
    ) -> None:
        self.ctx = ctx
        self.owner = owner
        self.lease_s = lease_s
        self.feeds: Mapping[str, Feed] = {f.url: f for f in feeds}
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._in_flight: set[str] = set()
        self._recent: deque[tuple[float, float]] = deque()  # recent polls: (end, seconds)

    def replace_feeds(self, feeds: Iterable[Feed]) -> None:
        self.feeds = {f.url: f for f in feeds}

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def poll_all(self) -> PollSummary:
        return await self._poll_many(list(self.feeds.values()))

    def claim_size(self, limit: int = 1000) -> int:
        """How many more due feeds to claim now: ``CLAIM_AHEAD_S`` of work at this
        process's pace (at least twice the concurrency), less the feeds it holds, at most
        ``limit``."""
        recent = self._recent
        while recent and recent[0][0] < time.monotonic() - PACE_WINDOW_S:
            recent.popleft()
        ahead = 2 * self.concurrency
        if recent:
            mean_s = sum(seconds for _, seconds in recent) / len(recent)
            ahead = max(ahead, math.ceil(self.concurrency / max(mean_s, 1e-3) * CLAIM_AHEAD_S))
        return max(0, min(limit, ahead - len(self._in_flight)))

    async def poll_due(self, limit: int = 1000) -> PollSummary:
        """Claim due feeds (a lease, so other instances skip them) and poll them."""
        size = self.claim_size(limit)
        if size == 0:
            return summarise([])
        due = await self.ctx.db.write(
            feed_store.claim_due_feeds,
            self.ctx.clock.now(),
            self.owner,
            lease_s=self.lease_s,
            limit=size,
        )
        feeds = [self.feeds[u] for u in due if u in self.feeds and u not in self._in_flight]
        return await self._poll_many(feeds)

    async def _poll_many(self, feeds: list[Feed]) -> PollSummary:
        reports = await asyncio.gather(*(self._poll_one(f) for f in feeds))
        return summarise(reports)

    async def _poll_one(self, feed: Feed) -> PollReport:
        self._in_flight.add(feed.url)
        try:
            async with self._slots:
                began = time.monotonic()
                try:
                    return await poll_feed(self.ctx, feed)
                finally:
                    ended = time.monotonic()
                    self._recent.append((ended, ended - began))
        finally:
            self._in_flight.discard(feed.url)


def summarise(reports: Iterable[PollReport]) -> PollSummary:
    polled = not_modified = unchanged = failed = new_items = alerts = 0
    failures = []
    for r in reports:
        polled += 1
        new_items += r.new_items
        alerts += r.alerts
        if r.status == "not_modified":
            not_modified += 1
        elif r.status == "unchanged":
            unchanged += 1
        elif r.status in ("error", "throttled"):
            failed += 1
            failures.append(f"{r.feed}: {r.error}")
    return PollSummary(polled, not_modified, unchanged, failed, new_items, alerts, tuple(failures))
