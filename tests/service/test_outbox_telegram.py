"""The real sender and the real Telegram channel against the local Bot API emulator.

Every figure is counted at the emulator: what chats received, every call and its answer.
"""

from __future__ import annotations

import time

from monitor.channels.telegram import TelegramChannel
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

A, B, C = 1001, 1002, 1003
ADMIN = 9001


def received(tg: TelegramEmulator, chat: int) -> list[str]:
    return [m.text for m in tg.messages(chat)]


async def test_alerts_arrive_once_each_marked_with_the_message_reference(
    db: Database, tg: TelegramEmulator, telegram: TelegramChannel
) -> None:
    """On SQLite and on PostgreSQL (``db``: both backends)."""
    people = [telegram_recipient(c) for c in (A, B, C)]
    news = Newsroom(db)
    for n in range(3):
        news.story(f"Ferry story {n}", people)
    sender = make_sender(db, {"telegram": telegram}, people)
    report = await sender.send_due()
    assert report.sent == 9
    for chat in (A, B, C):
        texts = received(tg, chat)
        assert len(texts) == 3
        assert [t.count("Ferry story") for t in texts] == [1, 1, 1]
        assert [s for t in texts for s in ("0", "1", "2") if f"Ferry story {s}" in t] == [
            "0",
            "1",
            "2",
        ]  # in order
    refs = news.rows("SELECT message_ref FROM delivery WHERE state = 'sent' ORDER BY id")
    assert len(refs) == 9
    assert all(r.message_ref and ":" in r.message_ref for r in refs)
    assert (await sender.send_due()).sent == 0  # nothing twice


async def test_a_429_pauses_that_chat_only_and_no_request_comes_before_the_wait(
    sqlite_db: Database, tg: TelegramEmulator, telegram: TelegramChannel
) -> None:
    people = [telegram_recipient(c) for c in (A, B, C)]
    news = Newsroom(sqlite_db)
    for n in range(2):
        news.story(f"Ferry story {n}", people)
    tg.rate_limit(A, retry_after=3, times=1)
    sender = make_sender(sqlite_db, {"telegram": telegram}, people)
    started = time.monotonic()
    await run_until(sender, lambda: all(len(tg.messages(c)) == 2 for c in (A, B, C)))
    refused = tg.requests("sendMessage", chat_id=A, status=429)
    assert len(refused) == 1
    after = [c for c in tg.requests("sendMessage", chat_id=A) if c.at > refused[0].at]
    assert after and min(c.at for c in after) - refused[0].at >= 3.0
    others_done = max(m.at for c in (B, C) for m in tg.messages(c))
    assert others_done - started < 2.5, "B and C waited for A's flood limit"
    assert [len(tg.messages(c)) for c in (A, B, C)] == [2, 2, 2]


async def test_a_long_flood_wait_survives_a_restart_with_no_early_request(
    sqlite_db: Database, tg: TelegramEmulator, telegram: TelegramChannel
) -> None:
    people = [telegram_recipient(c) for c in (A, B)]
    news = Newsroom(sqlite_db)
    news.story("Ferry story", people)
    tg.rate_limit(A, retry_after=43838, times=1)
    first = make_sender(sqlite_db, {"telegram": telegram}, people)
    await run_until(first, lambda: len(tg.messages(B)) == 1)
    news.story("Second ferry story", people)
    second = make_sender(sqlite_db, {"telegram": telegram}, people)  # a restarted process
    await run_until(second, lambda: len(tg.messages(B)) == 2)
    await settle(second, 0.5)
    assert len(tg.requests("sendMessage", chat_id=A)) == 1  # the 429 itself, nothing after
    wait = news.scalar(
        "SELECT next_attempt_at FROM recipient_state WHERE recipient = :r", r=f"telegram:{A}"
    )
    assert wait is not None
    pending = news.scalar(
        "SELECT count(*) FROM delivery WHERE recipient = :r AND state = 'pending'",
        r=f"telegram:{A}",
    )
    assert pending == 2  # kept, not failed


async def test_a_blocked_chat_is_stopped_the_admins_are_told_once_and_others_go_on(
    sqlite_db: Database, tg: TelegramEmulator, telegram: TelegramChannel
) -> None:
    people = [telegram_recipient(c) for c in (A, B)]
    admin = telegram_recipient(ADMIN)
    news = Newsroom(sqlite_db)
    for n in range(3):
        news.story(f"Ferry story {n}", people)
    tg.block(A)
    sender = make_sender(sqlite_db, {"telegram": telegram}, people, admins=[admin])
    await run_until(sender, lambda: len(tg.messages(B)) == 3 and len(tg.messages(ADMIN)) == 1)
    news.story("Ferry story 3", people)  # a new alert for the stopped chat
    await run_until(
        sender_again := make_sender(sqlite_db, {"telegram": telegram}, people, admins=[admin]),
        lambda: len(tg.messages(B)) == 4,
    )
    await settle(sender_again, 0.3)
    assert len(tg.requests("sendMessage", chat_id=A)) == 1  # the first 403, then nothing
    assert len(tg.messages(ADMIN)) == 1
    assert f"telegram:{A}" in tg.messages(ADMIN)[0].text
    states = dict(
        news.rows(
            "SELECT state, count(*) FROM delivery WHERE recipient = :r GROUP BY state",
            r=f"telegram:{A}",
        )
    )
    assert states == {"stopped": 4}
    assert (
        news.scalar("SELECT status FROM recipient_state WHERE recipient = :r", r=f"telegram:{A}")
        == "stopped"
    )


async def test_a_migrated_group_is_followed_and_delivered_once(
    sqlite_db: Database, tg: TelegramEmulator, telegram: TelegramChannel
) -> None:
    group, supergroup = -4001, -1004001
    people = [telegram_recipient(group)]
    news = Newsroom(sqlite_db)
    news.story("Ferry story", people)
    tg.migrate(group, supergroup)
    sender = make_sender(sqlite_db, {"telegram": telegram}, people)
    await run_until(sender, lambda: len(tg.messages(supergroup)) == 1)
    news.story("Second ferry story", people)
    await run_until(
        make_sender(sqlite_db, {"telegram": telegram}, people),
        lambda: len(tg.messages(supergroup)) == 2,
    )
    assert len(tg.messages(group)) == 0
    assert len(tg.requests("sendMessage", chat_id=group)) == 1  # only the first, refused
    assert news.scalar("SELECT address FROM recipient_state") == str(supergroup)


async def test_two_server_errors_then_delivered_once(
    sqlite_db: Database, tg: TelegramEmulator, telegram: TelegramChannel
) -> None:
    people = [telegram_recipient(A), telegram_recipient(B)]
    news = Newsroom(sqlite_db)
    news.story("Ferry story", people)
    tg.server_error(A, times=2)
    sender = make_sender(sqlite_db, {"telegram": telegram}, people)
    await run_until(sender, lambda: len(tg.messages(A)) == 1 and len(tg.messages(B)) == 1)
    await settle(sender, 0.2)
    assert [c.status for c in tg.requests("sendMessage", chat_id=A)] == [500, 500, 200]
    assert len(tg.messages(A)) == 1 and len(tg.messages(B)) == 1


async def test_hostile_titles_arrive_escaped_and_cut_to_the_limit(
    sqlite_db: Database, tg: TelegramEmulator, telegram: TelegramChannel
) -> None:
    people = [telegram_recipient(A)]
    news = Newsroom(sqlite_db)
    titles = ["<script>alert(1)</script> & </b> <i>", "Ferry " + "&lt;" * 3000 + " end"]
    for title in titles:
        news.story(title, people)
    await run_until(
        make_sender(sqlite_db, {"telegram": telegram}, people), lambda: len(tg.messages(A)) == 2
    )
    first, second = tg.messages(A)
    assert "<script>alert(1)</script> & </b> <i>" in first.text
    assert len(second.text) <= 4096
    assert not tg.requests(status=400)
