"""Quiet hours and digest modes with an injected clock, counted at the emulator."""

from __future__ import annotations

from monitor.channels.telegram import TelegramChannel
from monitor.clock import FixedClock
from monitor.service.outbox import OutboxSender
from monitor.store.database import Database
from tests.service.test_outbox_support import (
    Newsroom,
    make_sender,
    run_until,
    settle,
    telegram_recipient,
    utc,
)
from tests.service.test_outbox_support import sqlite_db as sqlite_db
from tests.service.test_outbox_support import telegram as telegram
from tests.service.test_outbox_support import tg as tg
from tests.support.telegram_emulator import TelegramEmulator

NIGHT_OWL, HOURLY, DAILY = 3001, 3002, 3003


async def test_quiet_hours_hold_alerts_until_they_end_then_one_digest_high_goes_through(
    sqlite_db: Database, tg: TelegramEmulator, telegram: TelegramChannel
) -> None:
    clock = FixedClock(utc(2026, 1, 10, 21, 30))  # 22:30 in Berlin
    person = telegram_recipient(NIGHT_OWL, timezone="Europe/Berlin", quiet_hours=("22:00", "07:00"))
    news = Newsroom(sqlite_db, clock)
    news.story("Night ferry delayed", [person])
    news.story("Harbour closed by storm", [person], watchlists=["Storms"], priority="high")
    clock.advance(3600)
    news.story("Ferry fares rise", [person])

    def sender() -> OutboxSender:
        return make_sender(sqlite_db, {"telegram": telegram}, [person], clock=clock)

    await run_until(sender(), lambda: len(tg.messages(NIGHT_OWL)) == 1)
    await settle(sender(), 0.3)
    (urgent,) = tg.messages(NIGHT_OWL)
    assert "Harbour closed by storm" in urgent.text
    held = news.rows("SELECT hold, due_at FROM delivery WHERE state = 'pending'")
    assert [h.hold for h in held] == ["quiet hours", "quiet hours"]
    assert {str(h.due_at)[:19] for h in held} == {"2026-01-11 06:00:00"}  # 07:00 in Berlin

    clock.current = utc(2026, 1, 11, 5, 59)
    await settle(sender(), 0.3)
    assert len(tg.messages(NIGHT_OWL)) == 1
    clock.current = utc(2026, 1, 11, 6, 0, 30)
    await run_until(sender(), lambda: len(tg.messages(NIGHT_OWL)) == 2)
    await settle(sender(), 0.3)
    digest = tg.messages(NIGHT_OWL)[1].text
    assert "Night ferry delayed" in digest and "Ferry fares rise" in digest
    assert len(tg.messages(NIGHT_OWL)) == 2
    assert news.scalar("SELECT count(*) FROM delivery WHERE state = 'sent'") == 3


async def test_hourly_and_daily_recipients_get_one_digest_at_the_end_of_their_window(
    sqlite_db: Database, tg: TelegramEmulator, telegram: TelegramChannel
) -> None:
    clock = FixedClock(utc(2026, 3, 2, 3, 5))  # 10:05 in Jakarta
    hourly = telegram_recipient(HOURLY, timezone="Asia/Jakarta", mode="hourly")
    daily = telegram_recipient(DAILY, timezone="Asia/Jakarta", mode="daily", daily_at="08:00")
    people = [hourly, daily]
    news = Newsroom(sqlite_db, clock)

    def sender() -> OutboxSender:
        return make_sender(sqlite_db, {"telegram": telegram}, people, clock=clock)

    news.story("First ferry story", people)
    await settle(sender(), 0.2)
    clock.advance(15 * 60)
    news.story("Second ferry story", people, watchlists=["Ferries", "Batam"])
    await settle(sender(), 0.2)
    assert tg.all_messages() == []

    clock.current = utc(2026, 3, 2, 4, 0, 5)  # 11:00:05 in Jakarta
    await run_until(sender(), lambda: len(tg.messages(HOURLY)) == 1)
    await settle(sender(), 0.2)
    text = tg.messages(HOURLY)[0].text
    assert "First ferry story" in text and "Second ferry story" in text
    assert "Ferries" in text and "Batam" in text  # grouped by watchlist
    assert tg.messages(DAILY) == []

    clock.current = utc(2026, 3, 3, 1, 0, 5)  # 08:00:05 the next day in Jakarta
    await run_until(sender(), lambda: len(tg.messages(DAILY)) == 1)
    assert "First ferry story" in tg.messages(DAILY)[0].text
    assert len(tg.messages(HOURLY)) == 1
