"""The orchestrator: one poll of one feed, top to bottom.

fetch (conditional, capped) -> skip if 304 or the body is unchanged -> parse ->
normalise -> keep only new items -> article text for those that may alert -> language,
matches and fingerprints (off the event loop) -> one transaction: items, stories,
matches, alerts, feed state -> the next poll time, adapted to the feed's pace.
Every step is a call into core/, sources/ or store/; the order lives here only.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from monitor.clock import Clock
from monitor.core.cluster import DEFAULT_SETTINGS
from monitor.core.fingerprint import fingerprint
from monitor.core.identity import KnownItems, identity_keys, repair_identities, select_new
from monitor.core.language import with_language
from monitor.core.models import Document, Entry, Feed, FeedState, Match, Recipient, Validators
from monitor.core.plan import alerting_keys
from monitor.core.polling import IntervalBounds, next_interval, server_hints
from monitor.core.schedule import next_poll_at
from monitor.errors import FetchError, HTTPStatusError, MonitorError, ParseError, StorageError
from monitor.logs import get_logger
from monitor.service.fulltext import with_article_text
from monitor.service.ingest import (
    Cadence,
    IngestSettings,
    Understood,
    record_outcome,
    store_new_items,
)
from monitor.sources.fetch import Fetcher
from monitor.sources.parse import parse_feed
from monitor.store import feeds as feed_store
from monitor.store import items as item_store
from monitor.store.database import Database
from monitor.store.feeds import PollRecord

log = get_logger("monitor.poll")


class MatcherLike(Protocol):
    """What the pipeline needs from the matching engine."""

    def match(self, document: Document) -> list[Match]: ...


@dataclass(frozen=True, slots=True)
class PollReport:
    """How one poll went: the log line, the metrics and the cycle summary come from it."""

    feed: str
    status: str  # ok | not_modified | unchanged | throttled | error
    new_items: int = 0
    alerts: int = 0
    duration_ms: float = 0.0
    error: str | None = None
    missed: bool = False  # the document shared no entry with what we knew


@dataclass
class PollContext:
    """Everything one poll needs, assembled by the runtime (the composition root)."""

    db: Database
    fetcher: Fetcher
    matcher: MatcherLike
    recipients: Sequence[Recipient]
    clock: Clock
    rng: random.Random
    min_interval_s: float = 60.0  # fetch.min_interval
    max_backoff_s: float = 6 * 3600  # fetch.max_interval: the longest wait of any feed
    ingest: IngestSettings = field(default_factory=lambda: IngestSettings(DEFAULT_SETTINGS, 300.0))
    observers: list[Callable[[PollReport], None]] = field(default_factory=list)


async def poll_feed(ctx: PollContext, feed: Feed) -> PollReport:
    """Poll one feed; never raises for a feed's own trouble (it is recorded and logged)."""
    started = time.perf_counter()
    try:
        report = await _poll(ctx, feed)
    except StorageError as exc:  # the database is away (restarting): the lease will lapse
        report = PollReport(feed.name, "error", error=f"database unavailable: {exc}")
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
    for observe in ctx.observers:
        observe(report)
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
    previous = state.interval_s

    def adapt(new_items: int, entries: int, known: int | None, ttl_s: int | None) -> Cadence:
        decision = next_interval(
            previous,
            new_items=new_items,
            entries=entries,
            known=known,
            first_poll=not state.baseline_done,
            bounds=IntervalBounds(feed.interval_s, ctx.min_interval_s, ctx.max_backoff_s),
            hints=server_hints(fetched.headers, now, ttl_s=ttl_s),
        )
        return Cadence(decision.interval_s, decision.missed)

    if fetched.not_modified:
        return await _record_quiet(ctx, feed, state, now, "not_modified", adapt(0, 0, None, None))
    body_hash = hashlib.blake2b(fetched.body, digest_size=16).hexdigest()
    validators = Validators(
        fetched.headers.get("etag"), fetched.headers.get("last-modified"), body_hash
    )
    if body_hash == state.validators.body_hash:
        pace = adapt(0, 0, None, None)
        return await _record_quiet(ctx, feed, state, now, "unchanged", pace, validators)

    try:  # CPU-bound work runs off the event loop so other fetches keep their deadlines
        parsed = await asyncio.to_thread(
            parse_feed,
            fetched.body,
            fetched.headers,
            feed=feed,
            fetched_at=now,
            base_url=fetched.url,
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
    understood = await asyncio.to_thread(_understand, ctx.matcher, feed, new, may_alert)
    pace = adapt(len(new), len(entries), len(entries) - len(new), parsed.ttl_s)
    next_at = next_poll_at(now, pace.interval_s, rng=ctx.rng)
    record = PollRecord("ok", now, next_at, validators=validators, baseline_done=True)
    ingested = await ctx.db.write(
        store_new_items, state.id, understood, ctx.recipients, now, record, pace, ctx.ingest
    )
    return PollReport(
        feed.name,
        "ok",
        new_items=len(new),
        alerts=ingested.alerts,
        error=parsed.problem,
        missed=pace.missed,
    )


CLUSTER_BASELINE = 200  # a first poll clusters its newest items only (archive dumps)


def _understand(
    matcher: MatcherLike, feed: Feed, entries: Sequence[Entry], may_alert: set[str]
) -> list[Understood]:
    """Per-item work, for new items only: language, matches, clustering fingerprint."""
    newest = sorted(entries, key=lambda e: e.published, reverse=True)[:CLUSTER_BASELINE]
    cluster = {e.key for e in newest} | may_alert
    understood = []
    for entry in entries:
        entry = with_language(entry)
        text = entry.full_text
        fp = None
        if entry.key in cluster:
            fp = fingerprint(entry.title, text, url=entry.url, language=entry.language)
        matches = tuple(matcher.match(_document(feed, entry, text)))
        understood.append(Understood(entry, matches, fp, entry.key in may_alert))
    return understood


def _document(feed: Feed, entry: Entry, text: str) -> Document:
    return Document(
        title=entry.title,
        text=text,
        source=feed.name,
        language=entry.language,
        feed=feed.name,
        tags=feed.tags,
    )


async def _record_quiet(
    ctx: PollContext,
    feed: Feed,
    state: FeedState,
    now: datetime,
    status: str,
    pace: Cadence,
    validators: Validators | None = None,
) -> PollReport:
    """A poll that brought nothing to parse (304, or the same body again)."""
    next_at = next_poll_at(now, pace.interval_s, rng=ctx.rng)
    record = PollRecord(status, now, next_at, validators=validators)
    await ctx.db.write(record_outcome, state.id, record, pace)
    return PollReport(feed.name, status)


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
