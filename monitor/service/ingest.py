"""The write transaction of a poll: items, stories, matches, alerts and feed state at once.

Everything a poll learned is stored in one transaction, so a crash leaves either all of
it or none: new items, their story (clustering: join a story of the window or start
one), the watchlist matches, the planned deliveries (the outbox), updates of alerts
already sent when a story gains an outlet, and the feed's next poll and cadence.
What recipients muted from the bot (the story, this outlet, a watchlist for a while) is
read in the same transaction: a muted recipient gets no alert, and no update of an alert
about a story it muted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from monitor.core.cluster import ClusterSettings
from monitor.core.fingerprint import Fingerprint
from monitor.core.models import Entry, Match, Recipient
from monitor.core.plan import plan_deliveries
from monitor.store import bot as bot_store
from monitor.store import feeds as feed_store
from monitor.store import health as health_store
from monitor.store import items as item_store
from monitor.store import outbox as outbox_store
from monitor.store.feeds import PollRecord
from monitor.store.stories import NewItem, assign_stories, lock_story_index


@dataclass(frozen=True, slots=True)
class Understood:
    """A new entry with what the CPU-bound steps found: its matches and fingerprint."""

    entry: Entry
    matches: tuple[Match, ...]
    fingerprint: Fingerprint | None  # None: not clustered (an old item of a huge first poll)
    may_alert: bool


@dataclass(frozen=True, slots=True)
class Cadence:
    """The feed's adapted poll interval after this poll, and whether it missed items."""

    interval_s: float
    missed: bool


@dataclass(frozen=True, slots=True)
class IngestSettings:
    clustering: ClusterSettings
    update_interval_s: float


@dataclass(frozen=True, slots=True)
class Ingested:
    alerts: int
    stories_joined: int


def store_new_items(
    conn: Connection,
    feed_id: int,
    new: Sequence[Understood],
    recipients: Sequence[Recipient],
    now: datetime,
    record: PollRecord,
    cadence: Cadence | None,
    settings: IngestSettings,
) -> Ingested:
    """One transaction: items, their stories, matches, planned deliveries, feed state."""
    if new:
        lock_story_index(conn)  # first, so writers always lock in the same order
    inserted = item_store.insert_items(conn, feed_id, [u.entry for u in new], now)
    stored = [(u, inserted[u.entry.key]) for u in new if u.entry.key in inserted]
    # (an item missing from `inserted` was stored first by another writer)
    placed = assign_stories(
        conn,
        [NewItem(item_id, u.entry, u.fingerprint) for u, item_id in stored],
        now,
        settings.clustering,
    )
    alerts = joined = 0
    for (item, item_id), story in zip(stored, placed, strict=True):
        story_id = story.story_id
        item_store.insert_matches(conn, story_id, item_id, item.matches, now)
        if not story.is_new:
            joined += 1
            outbox_store.note_story_changed(
                conn, story_id, now, interval_s=settings.update_interval_s
            )
            bot_store.drop_muted_updates(conn, story_id, now)
        if item.may_alert and item.matches:
            names = [m.watchlist for m in item.matches]
            muting = bot_store.muting_for(conn, feed_id, story_id, names, now)
            planned = plan_deliveries(item.matches, recipients, muting)
            alerts += outbox_store.add_deliveries(
                conn, story_id, planned, now, interval_s=settings.update_interval_s
            )
    record_outcome(conn, feed_id, record, cadence)
    return Ingested(alerts, joined)


def record_outcome(
    conn: Connection, feed_id: int, record: PollRecord, cadence: Cadence | None
) -> None:
    """The feed's poll outcome and, after a successful poll, its adapted cadence."""
    feed_store.record_poll(conn, feed_id, record)
    if cadence is not None:
        health_store.save_cadence(
            conn, feed_id, cadence.interval_s, missed=cadence.missed, now=record.polled_at
        )
