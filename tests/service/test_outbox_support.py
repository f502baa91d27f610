"""Shared set-up of the outbox tests: stories in a real database, senders, real servers.

``Newsroom`` writes feeds, items, stories, matches and planned deliveries with the
store's own functions (the same rows the pipeline writes); ``run_until`` runs a real
``OutboxSender`` until what the local servers received satisfies a test. No tests here.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text, update

from monitor.channels.base import Channel
from monitor.channels.telegram import TelegramChannel
from monitor.clock import Clock, SystemClock
from monitor.config.operations import DeliverySettings
from monitor.core.models import Entry, Match, PlannedDelivery, Recipient
from monitor.service.outbox import OutboxSender
from monitor.store import items as item_store
from monitor.store import outbox as outbox_store
from monitor.store.database import Database
from monitor.store.migrate import upgrade
from monitor.store.tables import ItemRow
from tests.support.telegram_emulator import TelegramEmulator

FAST = DeliverySettings(retry_base_s=0.2, max_backoff=2)


def telegram_recipient(chat_id: int, **fields: Any) -> Recipient:
    return Recipient(f"telegram:{chat_id}", "telegram", str(chat_id), **fields)


@dataclass
class Newsroom:
    """Writes the rows the pipeline would: feeds, items, stories, matches, deliveries."""

    db: Database
    clock: Clock = field(default_factory=SystemClock)
    feeds: dict[str, int] = field(default_factory=dict)
    serial: int = 0

    def feed(self, name: str) -> int:
        if name not in self.feeds:
            url = f"http://news.test/{name}.xml"
            with self.db.writing() as conn:
                conn.execute(
                    text(
                        "INSERT INTO feed (url, name, active, baseline_done, error_streak) "
                        "VALUES (:url, :name, true, true, 0)"
                    ),
                    {"url": url, "name": name},
                )
                self.feeds[name] = int(
                    conn.execute(
                        text("SELECT id FROM feed WHERE url = :u"), {"u": url}
                    ).scalar_one()
                )
        return self.feeds[name]

    def _entry(self, title: str, body: str) -> Entry:
        self.serial += 1
        digest = hashlib.sha1(f"{self.serial}{title}".encode()).hexdigest()
        return Entry(
            guid=f"g{self.serial}",
            url=f"https://news.test/{self.serial}",
            link=f"https://news.test/{self.serial}?ref=rss",
            title=title,
            text=body,
            published=self.clock.now(),
            content_hash=digest,
        )

    def story(
        self,
        title: str,
        recipients: Sequence[Recipient],
        *,
        watchlists: Sequence[str] = ("Ferries",),
        priority: str = "normal",
        source: str = "Harbour Daily",
        body: str = "The ferry line to Batam opens in March, the harbour authority said.",
    ) -> int:
        """A new story matched by ``watchlists``, planned for ``recipients``; its id."""
        feed_id = self.feed(source)
        entry = self._entry(title, body)
        now = self.clock.now()
        matches = [
            Match(w, ("ferry",), body[:80], priority=priority)  # type: ignore[arg-type]
            for w in watchlists
        ]
        with self.db.writing() as conn:
            item_id = item_store.insert_items(conn, feed_id, [entry], now)[entry.key]
            story_id = item_store.start_story(conn, item_id, entry, now)
            item_store.insert_matches(conn, story_id, item_id, matches, now)
            planned = [
                PlannedDelivery(r.key, r.channel, tuple(watchlists), priority)  # type: ignore[arg-type]
                for r in recipients
            ]
            outbox_store.add_deliveries(conn, story_id, planned, now)
        return story_id

    def match_later(
        self,
        story_id: int,
        watchlist: str,
        recipients: Sequence[Recipient],
        priority: str = "normal",
    ) -> None:
        """Another watchlist matches the story (a later item): merged into the deliveries."""
        now = self.clock.now()
        with self.db.writing() as conn:
            item_id = conn.execute(
                text("SELECT headline_item_id FROM story WHERE id = :s"), {"s": story_id}
            ).scalar_one()
            item_store.insert_matches(
                conn, story_id, item_id, [Match(watchlist, ("batam",), "Batam ferry")], now
            )
            planned = [
                PlannedDelivery(r.key, r.channel, (watchlist,), priority)  # type: ignore[arg-type]
                for r in recipients
            ]
            outbox_store.add_deliveries(conn, story_id, planned, now)

    def join(self, story_id: int, source: str) -> None:
        """Another outlet carries the story: its item joins it, the story changed."""
        feed_id = self.feed(source)
        entry = self._entry(f"{source} on the ferry", "Same news, other outlet.")
        now = self.clock.now()
        item_table = ItemRow.__table__  # type: ignore[attr-defined]
        with self.db.writing() as conn:
            item_id = item_store.insert_items(conn, feed_id, [entry], now)[entry.key]
            conn.execute(
                update(item_table).where(item_table.c.id == item_id).values(story_id=story_id)
            )
            outbox_store.note_story_changed(conn, story_id, now)

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.db.reading() as conn:
            return list(conn.execute(text(sql), params).all())

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.db.reading() as conn:
            return conn.execute(text(sql), params).scalar_one()


def open_db(url: str) -> Database:
    database = Database(url)
    upgrade(database)
    return database


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = open_db(f"sqlite:///{tmp_path / 'outbox.db'}")
    yield database
    database.dispose()


@pytest.fixture
def tg() -> Iterator[TelegramEmulator]:
    with TelegramEmulator() as emulator:
        yield emulator


@pytest.fixture
async def telegram(tg: TelegramEmulator) -> AsyncIterator[TelegramChannel]:
    channel = TelegramChannel(tg.token, api_base_url=tg.base_url, timeout_s=2.0)
    yield channel
    await channel.aclose()


def make_sender(
    db: Database,
    channels: dict[str, Channel],
    recipients: Sequence[Recipient],
    *,
    clock: Clock | None = None,
    settings: DeliverySettings = FAST,
    admins: Sequence[Recipient] = (),
) -> OutboxSender:
    return OutboxSender(
        db,
        channels,
        {r.key: r for r in recipients},
        clock or SystemClock(),
        settings=settings,
        admins=admins,
    )


async def run_until(
    sender: OutboxSender, done: Callable[[], bool], *, timeout: float = 15.0, poll_s: float = 0.05
) -> float:
    """Run the sender until ``done()`` holds (fails after ``timeout``); returns the seconds."""
    started = time.monotonic()
    task = asyncio.create_task(sender.run(poll_s=poll_s))
    try:
        while not done():
            if time.monotonic() - started > timeout:
                pytest.fail(f"not done after {timeout} s")
            if task.done():
                task.result()
                pytest.fail("the sender stopped by itself")
            await asyncio.sleep(0.02)
        return time.monotonic() - started
    finally:
        await sender.drain()
        await task


async def settle(sender: OutboxSender, seconds: float, *, poll_s: float = 0.05) -> None:
    """Run the sender for ``seconds`` (to show that something does *not* happen)."""
    task = asyncio.create_task(sender.run(poll_s=poll_s))
    try:
        await asyncio.sleep(seconds)
    finally:
        await sender.drain()
        await task


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
