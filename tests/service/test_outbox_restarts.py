"""Stopping and crashing: a drained sender sends exactly once, a dead one at most one extra.

Counted at the emulator. The kill -9 of the real daemon belongs to the daemon's tests;
here a "crash" is a claim whose owner sent and then vanished before marking.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from monitor.channels.telegram import TelegramChannel
from monitor.clock import SystemClock
from monitor.store import claims
from monitor.store.database import Database
from tests.service.test_outbox_support import (
    Newsroom,
    make_sender,
    run_until,
    telegram_recipient,
)
from tests.service.test_outbox_support import sqlite_db as sqlite_db
from tests.service.test_outbox_support import telegram as telegram
from tests.service.test_outbox_support import tg as tg
from tests.support.telegram_emulator import TelegramEmulator

A, B = 4001, 4002


async def test_drain_finishes_the_send_in_flight_and_gives_back_the_rest(
    sqlite_db: Database, tg: TelegramEmulator, telegram: TelegramChannel
) -> None:
    people = [telegram_recipient(A), telegram_recipient(B)]
    news = Newsroom(sqlite_db)
    for n in range(5):
        news.story(f"Ferry story {n}", people)
    sender = make_sender(sqlite_db, {"telegram": telegram}, people)
    task = asyncio.create_task(sender.run(poll_s=0.05))
    assert await tg.wait_for_async(lambda: len(tg.messages(A)) >= 2, timeout=5)
    assert await sender.drain(grace_s=5)
    await task
    sent_now = len(tg.messages(A))
    assert sent_now < 5
    assert news.scalar("SELECT count(*) FROM delivery WHERE claimed_until IS NOT NULL") == 0
    assert news.scalar("SELECT count(*) FROM delivery WHERE state = 'sending'") == 0
    restarted = make_sender(sqlite_db, {"telegram": telegram}, people)
    await run_until(restarted, lambda: len(tg.messages(A)) == 5 and len(tg.messages(B)) == 5)
    for chat in (A, B):
        texts = [m.text for m in tg.messages(chat)]
        assert sorted(n for n in range(5) for t in texts if f"Ferry story {n}" in t) == [
            0,
            1,
            2,
            3,
            4,
        ]  # each exactly once


async def test_a_sender_killed_between_send_and_mark_costs_at_most_one_duplicate(
    sqlite_db: Database, tg: TelegramEmulator, telegram: TelegramChannel
) -> None:
    people = [telegram_recipient(A)]
    news = Newsroom(sqlite_db)
    for n in range(3):
        news.story(f"Ferry story {n}", people)
    now = SystemClock().now()
    work = await sqlite_db.write(claims.claim_due, now, owner="dead-process", lease_s=1.0)
    (claimed,) = work
    await telegram.send(claimed.alerts[0], people[0])  # sent; the process dies before marking
    sender = make_sender(sqlite_db, {"telegram": telegram}, people)
    report = await sender.send_due()
    assert report.sent == 0  # the dead sender's lease still holds
    await asyncio.sleep(1.1)
    await run_until(
        make_sender(sqlite_db, {"telegram": telegram}, people), lambda: len(tg.messages(A)) == 4
    )
    texts = [m.text for m in tg.messages(A)]
    counts = Counter(n for n in range(3) for t in texts if f"Ferry story {n}" in t)
    assert counts == {0: 2, 1: 1, 2: 1}  # one duplicate for one kill, nothing lost
    assert news.scalar("SELECT count(*) FROM delivery WHERE state = 'sent'") == 3
