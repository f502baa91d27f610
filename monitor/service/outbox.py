"""The outbox sender: claims due work per recipient and runs one task per recipient.

``send_due`` delivers what is due now and returns (the daemon's send tick, ``monitor
poll --once``); ``run`` keeps dispatching until ``stop``. Each round claims, in one
write transaction, the next work of recipients nobody is serving (their due alerts in
order, held alerts whose digest time came, due message updates, admin notices) and
starts a task per recipient (monitor.service.sender): a chat that waits (a flood limit,
a 429, a slow server) never holds up another. Rate shaping (monitor.service.shaping)
is shared by all tasks and seeded from the database on the first round, so the limits
hold across restarts. Alerts that must wait for a digest window or the end of quiet
hours are moved, at claim time, to the time they may go (monitor.core.schedule_delivery).

``stop`` claims nothing new and lets sends in flight finish; the rest goes back to the
outbox unsent. ``drain`` stops and waits for that (SIGTERM: exactly once across
restarts). A kill -9 leaves claims that the lease hands to the next sender.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import socket
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection

from monitor.channels.base import Channel
from monitor.clock import Clock
from monitor.config.operations import DeliverySettings
from monitor.core.models import Recipient
from monitor.core.schedule_delivery import Hold, hold_for, release_hold
from monitor.logs import get_logger
from monitor.service.sender import Delivering, SendReport, jobs_of, retry_delay, serve_recipient
from monitor.service.shaping import Shaper
from monitor.store import claims
from monitor.store import delivery_tables as state_store
from monitor.store import outbox as store
from monitor.store.claims import HoldPolicy, RecipientWork
from monitor.store.database import Database
from monitor.store.delivery_tables import Notice

__all__ = ["DeliverySettings", "OutboxSender", "SendReport", "retry_delay"]

log = get_logger("monitor.outbox")

_RATE_MEMORY_S = 61.0  # the longest rate window (a group's minute), plus a margin
_NOTICES_PER_ROUND = 20

Claimed = tuple[list[RecipientWork], list[Notice], dict[str, str]]


class OutboxSender:
    """Delivers what the outbox holds: one task per recipient, shaped, stoppable."""

    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Channel],
        recipients: Mapping[str, Recipient],
        clock: Clock,
        *,
        settings: DeliverySettings | None = None,
        admins: Sequence[Recipient] = (),
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.channels = channels
        self.recipients = recipients
        self.clock = clock
        self.settings = settings or DeliverySettings()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stopping = asyncio.Event()
        self._shaper = Shaper(self.settings.telegram_limits(), self._stopping)
        self.ctx = Delivering(
            db=db,
            channels=channels,
            recipients=recipients,
            admins=tuple(admins),
            clock=clock,
            settings=self.settings,
            shaper=self._shaper,
            owner=self.owner,
            rng=rng or random.Random(),
            stopping=self._stopping,
        )
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._seeded = False

    # -- the public face -------------------------------------------------------------

    async def send_due(self, *, only: Sequence[int] | None = None) -> SendReport:
        """Send everything due now (``only``: these deliveries); returns what happened."""
        report = SendReport()
        await self._dispatch(report, forever=False, poll_s=0.5, only=only)
        return report

    async def run(self, *, poll_s: float = 1.0) -> SendReport:
        """Keep sending until ``stop``; new work is looked for every ``poll_s`` seconds."""
        report = SendReport()
        await self._dispatch(report, forever=True, poll_s=poll_s)
        return report

    def stop(self) -> None:
        """Claim nothing new; sends in flight finish, the rest goes back unsent."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def drain(self, grace_s: float = 30.0) -> bool:
        """Stop and wait for the sends in flight; False if some had to be cancelled
        (their alerts stay claimed until the lease runs out, then go again)."""
        self.stop()
        tasks = list(self._workers.values())
        if not tasks:
            return True
        _done, pending = await asyncio.wait(tasks, timeout=grace_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return not pending

    @property
    def busy(self) -> int:
        """Recipients being served right now."""
        return len(self._workers)

    # -- dispatching -----------------------------------------------------------------

    async def _dispatch(
        self,
        report: SendReport,
        *,
        forever: bool,
        poll_s: float,
        only: Sequence[int] | None = None,
    ) -> None:
        if not self._seeded:
            await self._seed()
        mine: set[asyncio.Task[None]] = set()
        try:
            while not self._stopping.is_set():
                room = self.settings.max_recipients - len(self._workers)
                started = await self._claim_and_start(report, room, only, mine) if room > 0 else 0
                if started and len(self._workers) < self.settings.max_recipients:
                    continue  # there may be more recipients with due work
                running = [t for t in mine if not t.done()]
                if not running and not started and not forever:
                    return
                await self._wait(running, poll_s)
        finally:
            if mine and not forever:
                await asyncio.gather(*mine, return_exceptions=True)

    async def _wait(self, running: list[asyncio.Task[None]], poll_s: float) -> None:
        """Until a recipient task ends, the sender stops, or ``poll_s`` passes."""
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait([*running, stop], timeout=poll_s, return_when="FIRST_COMPLETED")
        finally:
            stop.cancel()

    async def _claim_and_start(
        self,
        report: SendReport,
        room: int,
        only: Sequence[int] | None,
        mine: set[asyncio.Task[None]],
    ) -> int:
        now = self.clock.now()
        works, notices, overrides = await self.db.write(
            _claim,
            now,
            self.owner,
            self.settings,
            list(self.channels),
            frozenset(self._workers),
            self._hold_policy(now),
            room,
            only,
        )
        self.ctx.overrides.update(overrides)
        by_key: dict[str, tuple[RecipientWork | None, list[Notice]]] = {
            w.recipient: (w, []) for w in works
        }
        for notice in notices:
            by_key.setdefault(notice.recipient, (None, []))[1].append(notice)
        for key, (work, mine_notices) in by_key.items():
            jobs = jobs_of(work, mine_notices, self.settings.digest_chunk)
            task = asyncio.create_task(serve_recipient(self.ctx, key, jobs, report))
            self._workers[key] = task
            mine.add(task)
            task.add_done_callback(functools.partial(self._finished, key))
        return len(by_key)

    def _finished(self, key: str, task: asyncio.Task[None]) -> None:
        if self._workers.get(key) is task:
            del self._workers[key]
        if not task.cancelled() and task.exception() is not None:
            log.error("recipient_task_failed", recipient=key, error=repr(task.exception()))

    def _hold_policy(self, now: datetime) -> HoldPolicy:
        recipients = self.recipients

        def policy(key: str, priority: str, reason: str | None) -> Hold | None:
            recipient = recipients.get(key)
            if recipient is None:
                return None
            if reason is None:
                return hold_for(recipient, priority, now)
            return release_hold(recipient, reason, priority, now)

        return policy

    async def _seed(self) -> None:
        """Count the last minute's sends (of any process) against the rate limits."""
        now = self.clock.now()
        since = now - timedelta(seconds=_RATE_MEMORY_S)
        sends, notices, overrides = await self.db.read(_recent, since, now)
        self.ctx.overrides.update(overrides)
        found = list(notices)
        for key, at in sends:
            recipient = self.recipients.get(key)
            if recipient is not None:
                found.append((recipient.channel, overrides.get(key, recipient.address), at))
        seeded = self._shaper.seed(found, now)
        self._seeded = True
        if seeded:
            log.info("rate_seeded", sends=seeded)


def _claim(
    conn: Connection,
    now: datetime,
    owner: str,
    settings: DeliverySettings,
    channels: list[str],
    exclude: frozenset[str],
    policy: HoldPolicy,
    room: int,
    only: Sequence[int] | None,
) -> Claimed:
    """One claim round in one transaction: recipients' work, admin notices, addresses."""
    works = claims.claim_due(
        conn,
        now,
        owner=owner,
        lease_s=float(settings.lease),
        channels=channels,
        exclude=exclude,
        max_recipients=room,
        per_recipient=settings.per_recipient,
        digest_max=settings.digest_chunk * 20,
        hold_policy=policy,
        only=only,
    )
    notices: list[Notice] = []
    if only is None:
        paused, stopped = state_store.unavailable_recipients(conn, now)
        ours = {w.recipient for w in works}
        busy = claims.busy_recipients(conn, now) - ours
        notices = state_store.claim_notices(
            conn,
            now,
            owner=owner,
            lease_s=float(settings.lease),
            exclude=exclude | paused | stopped | busy,
            channels=channels,
            limit=_NOTICES_PER_ROUND,
        )
    return works, notices, state_store.address_overrides(conn)


def _recent(
    conn: Connection, since: datetime, now: datetime
) -> tuple[list[tuple[str, datetime]], list[tuple[str, str, datetime]], dict[str, str]]:
    return (
        store.recent_sends(conn, since, now),
        state_store.recent_notice_sends(conn, since),
        state_store.address_overrides(conn),
    )
