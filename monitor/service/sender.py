"""One recipient's turn: send its claimed work in order and record every outcome.

``serve_recipient`` runs as one task per recipient (the dispatcher in
monitor.service.outbox starts them), so a slow or paused chat never holds up another.
For each job (admin notice, digest part, alert, message update) it waits for the rate
shaper, sends through the channel, and writes the outcome before the next job:

- sent: marked with the channel's message reference; the recipient's failure streak ends;
- ``TransientDeliveryError`` (network, 5xx, 429): the recipient is paused until the
  retry_after or a backoff (stored, so a restart keeps it), its work goes back unsent;
- ``RecipientMovedError``: the new address is stored and the job is sent there at once;
- ``MessageRejectedError``: this job fails alone, the next one goes on;
- ``PermanentDeliveryError``: the recipient is stopped, its unsent alerts wait as
  ``stopped`` with the reason, and the admins get one notice;
- any other exception is a bug in a channel: logged, and handled like a transient one.

When the sender is stopping, the job in flight finishes and the rest goes back unsent.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Connection

from monitor.channels.base import Channel, Digest
from monitor.clock import Clock
from monitor.config.operations import DeliverySettings
from monitor.core.models import Alert, Recipient
from monitor.errors import (
    MessageRejectedError,
    PermanentDeliveryError,
    RecipientMovedError,
    TransientDeliveryError,
)
from monitor.logs import get_logger
from monitor.service import admin
from monitor.service.shaping import Shaper
from monitor.store import delivery_tables as state_store
from monitor.store import outbox as store
from monitor.store.claims import PendingUpdate, RecipientWork
from monitor.store.database import Database
from monitor.store.delivery_tables import Notice

log = get_logger("monitor.outbox")

Outcome = Literal["next", "paused", "stopped", "halted"]


def retry_delay(
    attempts: int,
    retry_after: float | None,
    rng: random.Random,
    max_s: float = 3600.0,
    base_s: float = 5.0,
) -> float:
    """Exponential backoff with jitter (``base_s`` doubling up to ``max_s``), never
    shorter than the server's ``retry_after``."""
    base = min(max_s, base_s * 2 ** max(0, attempts - 1))
    delay = base * (0.5 + rng.random() / 2)
    return max(delay, retry_after or 0.0)


@dataclass
class SendReport:
    """What one round of sending did (counted by the sender, for logs and commands)."""

    sent: int = 0  # alerts delivered, alone or in a digest
    digests: int = 0
    updates: int = 0
    notices: int = 0
    retried: int = 0  # transient failures: the recipient was paused
    failed: int = 0  # alerts refused for good, or for an unknown recipient
    stopped: int = 0  # recipients stopped by a permanent failure
    moved: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Job:
    kind: Literal["notice", "digest", "alert", "update"]
    alerts: tuple[Alert, ...] = ()
    update: PendingUpdate | None = None
    notice: Notice | None = None
    reason: str = "digest"
    since: datetime | None = None

    @property
    def delivery_ids(self) -> list[int]:
        return [a.delivery_id for a in self.alerts] if self.kind in ("digest", "alert") else []

    @property
    def update_ids(self) -> list[int]:
        return [self.update.alert.delivery_id] if self.update is not None else []

    @property
    def notice_ids(self) -> list[int]:
        return [self.notice.id] if self.notice is not None else []


@dataclass
class Delivering:
    """What every recipient task shares: one per sender."""

    db: Database
    channels: Mapping[str, Channel]
    recipients: Mapping[str, Recipient]
    admins: Sequence[Recipient]
    clock: Clock
    settings: DeliverySettings
    shaper: Shaper
    owner: str
    rng: random.Random
    stopping: asyncio.Event
    overrides: dict[str, str] = field(default_factory=dict)
    slots: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    observers: list[Callable[[str, str, float], None]] = field(default_factory=list)
    """Called with (channel, outcome, seconds) after every send attempt (metrics)."""

    def slot(self, channel: str) -> asyncio.Semaphore:
        if channel not in self.slots:
            self.slots[channel] = asyncio.Semaphore(self.settings.concurrency)
        return self.slots[channel]


def jobs_of(work: RecipientWork | None, notices: Sequence[Notice], digest_chunk: int) -> list[Job]:
    """The order a recipient's claimed work goes out: notices, digest parts, alerts, updates."""
    jobs = [Job("notice", notice=n) for n in notices]
    if work is None:
        return jobs
    for start in range(0, len(work.digest), digest_chunk):
        part = work.digest[start : start + digest_chunk]
        reason = work.digest_reason or "digest"
        jobs.append(Job("digest", alerts=part, reason=reason, since=work.digest_since))
    jobs += [Job("alert", alerts=(a,)) for a in work.alerts]
    jobs += [Job("update", update=u) for u in work.updates]
    return jobs


async def serve_recipient(ctx: Delivering, key: str, jobs: list[Job], report: SendReport) -> None:
    """Send ``jobs`` to ``key`` in order; stop at a pause, a stop, or when the sender stops."""
    lease_s = float(ctx.settings.lease)
    lease_until = ctx.clock.now() + timedelta(seconds=lease_s)
    index = 0
    try:
        while index < len(jobs):
            if ctx.stopping.is_set():
                break
            if lease_until - ctx.clock.now() < timedelta(seconds=lease_s / 2):
                lease_until = ctx.clock.now() + timedelta(seconds=lease_s)
                jobs[index:] = await _renew(ctx, jobs[index:], lease_until)
                continue
            outcome = await _attempt(ctx, key, jobs[index], report)
            index += 1
            if outcome == "halted":  # not started: the job goes back with the rest
                index -= 1
            if outcome != "next":
                break
    finally:
        rest = jobs[index:]
        if rest:
            await ctx.db.write(_release, ctx.owner, rest)


async def _renew(ctx: Delivering, jobs: list[Job], until: datetime) -> list[Job]:
    ids = [i for job in jobs for i in (*job.delivery_ids, *job.update_ids)]
    held = await ctx.db.write(store.renew, ids, ctx.owner, until)
    return [j for j in jobs if all(i in held for i in (*j.delivery_ids, *j.update_ids))]


def _recipient(ctx: Delivering, key: str, job: Job) -> Recipient | None:
    if job.notice is not None:
        return admin.notice_recipient(job.notice, ctx.overrides.get(key))
    found = ctx.recipients.get(key)
    if found is not None and key in ctx.overrides:
        found = replace(found, address=ctx.overrides[key])
    return found


async def _attempt(ctx: Delivering, key: str, job: Job, report: SendReport) -> Outcome:
    recipient = _recipient(ctx, key, job)
    channel = ctx.channels.get(recipient.channel) if recipient else None
    if recipient is None or channel is None:
        why = f"recipient {key!r} or its channel is not configured"
        await ctx.db.write(_reject, job, why)
        report.failed += len(job.alerts) or 1
        report.errors.append(why)
        log.warning("delivery_failed", recipient=key, error=why)
        return "next"
    moved = False
    while True:
        buckets = ctx.shaper.buckets(recipient.channel, recipient.address)
        ticket = await ctx.shaper.acquire(buckets)
        if ticket is None:
            return "halted"
        try:
            async with ctx.slot(recipient.channel):
                ref = await _observed(ctx, channel, job, recipient)
        except RecipientMovedError as exc:
            if moved:  # moved twice in a row: let it settle, try again later
                return await _pause(ctx, key, job, exc, report, None)
            moved = True
            ctx.overrides[key] = exc.new_address
            recipient = replace(recipient, address=exc.new_address)
            await ctx.db.write(state_store.move_recipient, key, exc.new_address, ctx.clock.now())
            report.moved += 1
            log.info("recipient_moved", recipient=key, address=exc.new_address)
            continue
        except TransientDeliveryError as exc:
            return await _pause(ctx, key, job, exc, report, exc.retry_after)
        except MessageRejectedError as exc:
            await ctx.db.write(_reject, job, f"rejected: {exc}")
            report.failed += len(job.alerts) or 1
            report.errors.append(str(exc))
            log.warning("delivery_rejected", recipient=key, kind=job.kind, error=str(exc))
            return "next"
        except PermanentDeliveryError as exc:
            return await _stop(ctx, key, job, exc, report)
        except Exception as exc:  # a bug in a channel must not lose the alert
            log.exception("channel_error", recipient=key, kind=job.kind)
            return await _pause(ctx, key, job, exc, report, None)
        finally:
            ctx.shaper.release(ticket)
        await ctx.db.write(_done, key, job, ref, ctx.clock.now(), ctx.settings.update_interval)
        _count(report, job)
        return "next"


_OUTCOMES = (
    (RecipientMovedError, "moved"),
    (TransientDeliveryError, "transient"),
    (MessageRejectedError, "rejected"),
    (PermanentDeliveryError, "permanent"),
)


async def _observed(
    ctx: Delivering, channel: Channel, job: Job, recipient: Recipient
) -> str | None:
    """``_perform``, timed and reported to the observers with its outcome."""
    started = time.perf_counter()
    outcome = "error"
    try:
        ref = await _perform(channel, job, recipient, ctx.clock.now())
        outcome = "sent"
        return ref
    except Exception as exc:
        outcome = next((name for kind, name in _OUTCOMES if isinstance(exc, kind)), "error")
        raise
    finally:
        for observe in ctx.observers:
            observe(recipient.channel, outcome, time.perf_counter() - started)


async def _perform(channel: Channel, job: Job, recipient: Recipient, now: datetime) -> str | None:
    if job.kind == "digest":
        since = job.since or min(a.published for a in job.alerts)
        digest = Digest(recipient.key, job.alerts, since, now, job.reason)
        refs = await channel.send_digest(digest, recipient)
        return " ".join(refs) or None
    if job.kind == "update":
        assert job.update is not None
        return await channel.update(job.update.ref, job.update.alert, recipient)
    if job.kind == "notice":
        assert job.notice is not None
        return await channel.send(admin.notice_alert(job.notice), recipient)
    return await channel.send(job.alerts[0], recipient)


def _count(report: SendReport, job: Job) -> None:
    if job.kind == "digest":
        report.digests += 1
        report.sent += len(job.alerts)
    elif job.kind == "alert":
        report.sent += 1
    elif job.kind == "update":
        report.updates += 1
    else:
        report.notices += 1


async def _pause(
    ctx: Delivering,
    key: str,
    job: Job,
    exc: BaseException,
    report: SendReport,
    retry_after: float | None,
) -> Outcome:
    error = f"{type(exc).__name__}: {exc}"
    delay = await ctx.db.write(_pause_recipient, ctx, key, job, error, retry_after, ctx.clock.now())
    report.retried += 1
    log.info("delivery_retry", recipient=key, kind=job.kind, delay_s=round(delay, 1), error=error)
    return "paused"


async def _stop(
    ctx: Delivering, key: str, job: Job, exc: PermanentDeliveryError, report: SendReport
) -> Outcome:
    error = f"{type(exc).__name__}: {exc}"
    await ctx.db.write(_stop_recipient, ctx, key, job, error, ctx.clock.now())
    report.stopped += 1
    report.errors.append(f"{key}: {error}")
    log.warning("recipient_stopped", recipient=key, error=error)
    return "stopped"


# --- what each outcome writes (one transaction each) ------------------------------


def _done(
    conn: Connection, key: str, job: Job, ref: str | None, now: datetime, interval_s: float
) -> None:
    if job.kind in ("alert", "digest"):
        store.mark_sent(conn, job.delivery_ids, ref, now, interval_s=interval_s)
    elif job.update is not None:
        store.mark_updated(
            conn,
            job.update.alert.delivery_id,
            ref,
            now,
            claimed_due=job.update.due_at,
            interval_s=interval_s,
        )
    elif job.notice is not None:
        state_store.mark_notice(conn, job.notice.id, "sent", now, ref=ref)
    state_store.clear_failures(conn, key)


def _reject(conn: Connection, job: Job, error: str) -> None:
    for delivery_id in job.delivery_ids:
        store.mark_failed(conn, delivery_id, error)
    if job.update is not None:
        store.drop_update(conn, job.update.alert.delivery_id, error)
    if job.notice is not None:
        state_store.mark_notice(conn, job.notice.id, "failed", job.notice.created_at, error=error)


def _release(conn: Connection, owner: str, jobs: Sequence[Job], error: str | None = None) -> None:
    deliveries = [i for j in jobs for i in j.delivery_ids]
    updates = [i for j in jobs for i in j.update_ids]
    store.release(conn, deliveries, updates, owner, error=error)
    state_store.release_notices(conn, [i for j in jobs for i in j.notice_ids], owner)


def _pause_recipient(
    conn: Connection,
    ctx: Delivering,
    key: str,
    job: Job,
    error: str,
    retry_after: float | None,
    now: datetime,
) -> float:
    streak = state_store.failure_streak(conn, key) + 1
    settings = ctx.settings
    delay = retry_delay(
        streak, retry_after, ctx.rng, float(settings.max_backoff), settings.retry_base_s
    )
    state_store.pause_recipient(conn, key, now + timedelta(seconds=delay), error, now)
    _release(conn, ctx.owner, [job], error)
    return delay


def _stop_recipient(
    conn: Connection, ctx: Delivering, key: str, job: Job, error: str, now: datetime
) -> None:
    stops = state_store.stop_recipient(conn, key, error, now)
    store.stop_deliveries(conn, key, error)
    if job.notice is not None:
        state_store.mark_notice(conn, job.notice.id, "failed", now, error=error)
    if stops is not None:
        title, text = admin.recipient_stopped_notice(key, error)
        others = [a for a in ctx.admins if a.key != key]
        admin.notify_admins(conn, others, f"stopped:{key}:{stops}", title, text, now)
