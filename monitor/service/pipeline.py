"""The orchestrator: one poll of one feed, top to bottom.

fetch (conditional, capped) -> skip if 304 or the body is unchanged -> parse ->
normalise -> keep only new items -> match watchlists -> store items, stories,
matches and planned deliveries in one transaction -> schedule the next poll.
Every step is a call into core/, sources/ or store/; the order lives here only.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection

from monitor.clock import Clock
from monitor.core.identity import KnownItems, identity_keys, repair_identities, select_new
from monitor.core.language import with_language
from monitor.core.models import (
    Document,
    Entry,
    Feed,
    FeedState,
    Match,
    Recipient,
    Validators,
)
from monitor.core.plan import alerting_keys, plan_deliveries
from monitor.core.schedule import next_poll_at
from monitor.errors import FetchError, HTTPStatusError, MonitorError, ParseError
from monitor.logs import get_logger
from monitor.service.fulltext import with_article_text
from monitor.sources.fetch import Fetcher
from monitor.sources.parse import parse_feed
from monitor.store import feeds as feed_store
from monitor.store import items as item_store
from monitor.store import outbox as outbox_store
from monitor.store.database import Database
from monitor.store.feeds import PollRecord

log = get_logger("monitor.poll")


class MatcherLike(Protocol):
    """What the pipeline needs from the matching engine."""

    def match(self, document: Document) -> list[Match]: ...


@dataclass
class PollContext:
    """Everything one poll needs, assembled by the daemon (the composition root)."""

    db: Database
    fetcher: Fetcher
    matcher: MatcherLike
    recipients: Sequence[Recipient]
    clock: Clock
    rng: random.Random
    max_backoff_s: float = 6 * 3600  # the longest wait of a failing feed (fetch.max_interval)


@dataclass(frozen=True, slots=True)
class PollReport:
    """How one poll went: the log line and the cycle summary are built from it."""

    feed: str
    status: str  # ok | not_modified | unchanged | throttled | error
    new_items: int = 0
    alerts: int = 0
    duration_ms: float = 0.0
    error: str | None = None


async def poll_feed(ctx: PollContext, feed: Feed) -> PollReport:
    """Poll one feed; never raises for a feed's own trouble (it is recorded and logged)."""
    started = time.perf_counter()
    report = await _poll(ctx, feed)
    report = replace(report, duration_ms=(time.perf_counter() - started) * 1e3)
    log.info(
        "poll",
        feed=feed.name,
        status=report.status,
        new_items=report.new_items,
        alerts=report.alerts,
        duration_ms=round(report.duration_ms, 1),
        **({"error": report.error} if report.error else {}),
    )
    return report


async def _poll(ctx: PollContext, feed: Feed) -> PollReport:
    state = await ctx.db.read(feed_store.load_feed, feed.url)
    if state is None:
        return PollReport(feed.name, "error", error="feed is not in the database (not synced)")
    now = ctx.clock.now()
    try:
        fetched = await ctx.fetcher.fetch(feed.url, state.validators)
    except FetchError as exc:
        return await _record_failure(ctx, feed, state, now, exc)

    if fetched.not_modified:
        await _record(ctx, feed, state, now, "not_modified")
        return PollReport(feed.name, "not_modified")
    body_hash = hashlib.blake2b(fetched.body, digest_size=16).hexdigest()
    validators = Validators(
        fetched.headers.get("etag"), fetched.headers.get("last-modified"), body_hash
    )
    if body_hash == state.validators.body_hash:
        await _record(ctx, feed, state, now, "unchanged", validators=validators)
        return PollReport(feed.name, "unchanged")

    try:  # CPU-bound work runs off the event loop so other fetches keep their deadlines
        parsed = await asyncio.to_thread(
            parse_feed, fetched.body, fetched.headers, feed=feed, fetched_at=now
        )
    except ParseError as exc:
        return await _record_failure(ctx, feed, state, now, exc)
    entries = repair_identities(list(parsed.entries))
    keys = identity_keys(entries)
    found = await ctx.db.read(
        item_store.known_identities, state.id, keys.urls, keys.guids, keys.hashes
    )
    new = select_new(entries, KnownItems(*found))
    may_alert = alerting_keys(new, baseline_done=state.baseline_done, backfill=feed.backfill)
    new = await with_article_text(ctx.fetcher, feed, new, may_alert)
    new, matches = await asyncio.to_thread(_understand, ctx.matcher, feed, new)
    next_at = next_poll_at(now, feed.interval_s, rng=ctx.rng)
    record = PollRecord("ok", now, next_at, validators=validators, baseline_done=True)
    alerts = await ctx.db.write(
        store_new_items, state.id, new, matches, may_alert, ctx.recipients, now, record
    )
    return PollReport(feed.name, "ok", new_items=len(new), alerts=alerts, error=parsed.problem)


def _understand(
    matcher: MatcherLike, feed: Feed, entries: Sequence[Entry]
) -> tuple[list[Entry], dict[str, list[Match]]]:
    """Per-item work, for new items only: language detection, then matching."""
    done = [with_language(e) for e in entries]
    return done, {e.key: matcher.match(_document(feed, e)) for e in done}


def _document(feed: Feed, entry: Entry) -> Document:
    return Document(
        title=entry.title,
        text=entry.full_text,
        source=feed.name,
        language=entry.language,
        feed=feed.name,
        tags=feed.tags,
    )


def store_new_items(
    conn: Connection,
    feed_id: int,
    new: Sequence[Entry],
    matches: Mapping[str, Sequence[Match]],
    may_alert: set[str],
    recipients: Sequence[Recipient],
    now: datetime,
    record: PollRecord,
) -> int:
    """One transaction: items, their stories, matches, planned deliveries, feed state."""
    inserted = item_store.insert_items(conn, feed_id, new, now)
    alerts = 0
    for entry in new:
        item_id = inserted.get(entry.key)
        if item_id is None:  # another writer stored it first
            continue
        story_id = item_store.start_story(conn, item_id, entry, now)
        found = matches.get(entry.key, ())
        item_store.insert_matches(conn, story_id, item_id, found, now)
        if entry.key in may_alert and found:
            planned = plan_deliveries(found, recipients)
            alerts += outbox_store.add_deliveries(conn, story_id, planned, now)
    feed_store.record_poll(conn, feed_id, record)
    return alerts


async def _record(
    ctx: PollContext,
    feed: Feed,
    state: FeedState,
    now: datetime,
    status: str,
    *,
    validators: Validators | None = None,
) -> None:
    next_at = next_poll_at(now, feed.interval_s, rng=ctx.rng)
    record = PollRecord(status, now, next_at, validators=validators)
    await ctx.db.write(feed_store.record_poll, state.id, record)


async def _record_failure(
    ctx: PollContext, feed: Feed, state: FeedState, now: datetime, exc: MonitorError
) -> PollReport:
    """Record a failed poll. A 429/503 with Retry-After is throttling, not a broken feed."""
    retry_after = getattr(exc, "retry_after", None)
    throttled = (
        isinstance(exc, HTTPStatusError) and exc.status in (429, 503) and retry_after is not None
    )
    status = "throttled" if throttled else "error"
    next_at = next_poll_at(
        now,
        feed.interval_s,
        error_streak=state.error_streak + (0 if throttled else 1),
        retry_after_s=retry_after,
        rng=ctx.rng,
        max_backoff_s=ctx.max_backoff_s,
    )
    error = f"{type(exc).__name__}: {exc}"
    await ctx.db.write(
        feed_store.record_poll, state.id, PollRecord(status, now, next_at, error=error)
    )
    return PollReport(feed.name, status, error=error)
