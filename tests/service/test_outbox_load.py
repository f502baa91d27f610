"""Load: 2,000 alerts to 300 chats (10 of them groups) through a strict emulator.

The emulator enforces Telegram's limits (429 with retry_after when exceeded) and
measures the rates it saw. Figures printed: drain time and observed maxima
(``pytest -m slow -s tests/service/test_outbox_load.py``).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from monitor.channels.telegram import TelegramChannel
from monitor.core.models import Entry, Match, PlannedDelivery
from monitor.store import items as item_store
from monitor.store import outbox as outbox_store
from monitor.store.database import Database
from tests.service.test_outbox_support import make_sender, run_until, telegram_recipient
from tests.service.test_outbox_support import sqlite_db as sqlite_db
from tests.service.test_outbox_support import telegram as telegram
from tests.service.test_outbox_support import tg as tg
from tests.support.telegram_emulator import TELEGRAM_LIMITS, TelegramEmulator

ALERTS, CHATS, GROUPS = 2000, 300, 10
PER_GROUP = 25  # more than a group may get in a minute: its 20/min limit is exercised


def plan_load(db: Database, people: list[int], groups: list[int]) -> dict[int, int]:
    """One story per alert, each planned for one chat: PER_GROUP to each group, the rest
    round robin to the other chats, in a shuffled order; story -> chat."""
    now = datetime.now(UTC)
    rng = random.Random(5)
    targets = [g for g in groups for _ in range(PER_GROUP)]
    targets += [people[i % len(people)] for i in range(ALERTS - len(targets))]
    rng.shuffle(targets)
    entries = [
        Entry(
            guid=f"load-{n}",
            url=f"https://news.test/load/{n}",
            link=f"https://news.test/load/{n}",
            title=f"Load story {n}",
            text=f"Ferry news number {n}.",
            published=now,
            content_hash=hashlib.sha1(str(n).encode()).hexdigest(),
        )
        for n in range(ALERTS)
    ]
    plan: dict[int, int] = {}
    with db.writing() as conn:
        conn.execute(
            text(
                "INSERT INTO feed (url, name, active, baseline_done, error_streak) "
                "VALUES ('http://news.test/load.xml', 'Load Wire', true, true, 0)"
            )
        )
        feed_id = conn.execute(text("SELECT id FROM feed")).scalar_one()
        ids = item_store.insert_items(conn, feed_id, entries, now)
        for entry, chat in zip(entries, targets, strict=True):
            story = item_store.start_story(conn, ids[entry.key], entry, now)
            item_store.insert_matches(
                conn, story, ids[entry.key], [Match("Ferries", ("ferry",), entry.text)], now
            )
            key = f"telegram:{chat}"
            outbox_store.add_deliveries(
                conn, story, [PlannedDelivery(key, "telegram", ("Ferries",))], now
            )
            plan[story] = chat
    return plan


@pytest.mark.slow
@pytest.mark.timeout(400)
async def test_two_thousand_alerts_to_three_hundred_chats_within_telegram_limits(
    sqlite_db: Database, tg: TelegramEmulator, telegram: TelegramChannel
) -> None:
    groups = [-1000000000100 - n for n in range(GROUPS)]
    private = [500000 + n for n in range(CHATS - GROUPS)]
    chats = private + groups
    plan = plan_load(sqlite_db, private, groups)
    people = [telegram_recipient(c) for c in chats]
    tg.enforce_limits(TELEGRAM_LIMITS)
    sender = make_sender(sqlite_db, {"telegram": telegram}, people)
    started = time.monotonic()
    await run_until(sender, lambda: len(tg.all_messages()) >= ALERTS, timeout=360)
    messages = tg.all_messages()
    drain_s = max(m.at for m in messages) - started
    rates = tg.rates()
    refused = len(tg.requests(status=429))
    print(
        f"\nload: {ALERTS} alerts to {CHATS} chats ({GROUPS} groups) drained in {drain_s:.1f} s; "
        f"max per chat/s {rates.max_per_chat_per_second}, per group/min "
        f"{rates.max_per_group_per_minute}, overall/s {rates.max_overall_per_second}; "
        f"429s {refused}"
    )
    delivered = Counter((m.chat_id, m.text.split("Load story ")[1].split()[0]) for m in messages)
    expected = Counter((chat, str(story_n)) for story_n, chat in _numbered(sqlite_db, plan))
    assert delivered == expected  # 0 lost, 0 duplicates, each to its chat
    assert rates.max_per_chat_per_second <= 1
    assert rates.max_per_group_per_minute <= 20
    assert rates.max_overall_per_second <= 25
    assert refused == 0
    with sqlite_db.reading() as conn:
        assert outbox_store.counts_by_state(conn) == {"sent": ALERTS}


def _numbered(db: Database, plan: dict[int, int]) -> list[tuple[int, int]]:
    """(story number in its title, chat) for every planned alert."""
    with db.reading() as conn:
        rows = conn.execute(text("SELECT id, title FROM story")).all()
    return [(int(r.title.rsplit(" ", 1)[1]), plan[r.id]) for r in rows]
