"""Sent alerts are updated, never re-sent: more outlets, a watchlist that matches later.

A fixed clock drives the update interval; what users see is read at the emulator.
"""

from __future__ import annotations

from monitor.channels.telegram import TelegramChannel
from monitor.clock import FixedClock
from monitor.store.database import Database
from tests.service.test_outbox_support import (
    Newsroom,
    make_sender,
    run_until,
    settle,
    telegram_recipient,
)
from tests.service.test_outbox_support import sqlite_db as sqlite_db
from tests.service.test_outbox_support import telegram as telegram
from tests.service.test_outbox_support import tg as tg
from tests.support.telegram_emulator import TelegramEmulator

A, B = 2001, 2002


async def test_more_outlets_edit_the_alert_at_most_once_per_interval(
    sqlite_db: Database, tg: TelegramEmulator, telegram: TelegramChannel
) -> None:
    clock = FixedClock()
    people = [telegram_recipient(A)]
    news = Newsroom(sqlite_db, clock)
    story = news.story("Ferry line opens", people)
    sender = make_sender(sqlite_db, {"telegram": telegram}, people, clock=clock)
    await run_until(sender, lambda: len(tg.messages(A)) == 1)
    assert "Coast Times" not in tg.messages(A)[0].text

    news.join(story, "Coast Times")  # right after the send: wait for the interval
    await settle(make_sender(sqlite_db, {"telegram": telegram}, people, clock=clock), 0.3)
    assert tg.edits(A) == []

    clock.advance(301)
    sender = make_sender(sqlite_db, {"telegram": telegram}, people, clock=clock)
    await run_until(sender, lambda: len(tg.edits(A)) == 1)
    assert "Coast Times" in tg.messages(A)[0].current_text

    news.join(story, "Island Post")
    news.join(story, "Harbour Weekly")  # two changes in one interval: one edit
    clock.advance(100)
    await settle(make_sender(sqlite_db, {"telegram": telegram}, people, clock=clock), 0.3)
    assert len(tg.edits(A)) == 1
    clock.advance(201)
    sender = make_sender(sqlite_db, {"telegram": telegram}, people, clock=clock)
    await run_until(sender, lambda: len(tg.edits(A)) == 2)
    await settle(make_sender(sqlite_db, {"telegram": telegram}, people, clock=clock), 0.3)
    text = tg.messages(A)[0].current_text
    assert all(name in text for name in ("Coast Times", "Island Post", "Harbour Weekly"))
    assert len(tg.messages(A)) == 1  # never re-sent
    assert len(tg.edits(A)) == 2
    assert news.scalar("SELECT updates FROM delivery") == 2


async def test_a_watchlist_matching_later_is_merged_or_added_by_an_edit(
    sqlite_db: Database, tg: TelegramEmulator, telegram: TelegramChannel
) -> None:
    clock = FixedClock()
    news = Newsroom(sqlite_db, clock)
    sent_first, pending = telegram_recipient(A), telegram_recipient(B)
    story = news.story("Ferry line opens", [sent_first], watchlists=["Ferries"])
    sender = make_sender(sqlite_db, {"telegram": telegram}, [sent_first, pending], clock=clock)
    await run_until(sender, lambda: len(tg.messages(A)) == 1)

    other = news.story("Batam port grows", [pending], watchlists=["Ferries"])
    news.match_later(other, "Batam", [pending])  # still pending: merged, one message
    news.match_later(story, "Batam", [sent_first])  # already sent: the message is edited
    assert news.scalar("SELECT count(*) FROM delivery") == 2
    clock.advance(301)
    sender = make_sender(sqlite_db, {"telegram": telegram}, [sent_first, pending], clock=clock)
    await run_until(sender, lambda: len(tg.messages(B)) == 1 and len(tg.edits(A)) == 1)
    assert "Batam" in tg.messages(A)[0].current_text
    assert "Ferries" in tg.messages(B)[0].text and "Batam" in tg.messages(B)[0].text
    assert len(tg.messages(A)) == 1 and len(tg.messages(B)) == 1
