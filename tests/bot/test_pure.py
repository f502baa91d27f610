"""The bot's pure parts: parsing, signatures, access rules, rates, planning and merging."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from monitor.bot.access import access_state
from monitor.bot.buttons import ButtonCodec
from monitor.bot.commands import COMMANDS, menu, parse_command
from monitor.bot.directory import BotAudience, merged_recipients, merged_watchlists, personal_specs
from monitor.bot.quotas import CommandRate
from monitor.core.models import Alert, AlertMatch, Match, Recipient, WatchlistSpec
from monitor.core.plan import (
    Muting,
    display_watchlist,
    personal_watchlist,
    plan_deliveries,
    split_personal,
)
from monitor.core.query import BOT_LIMITS
from monitor.core.render_telegram import alert_buttons, render_alert
from monitor.store.bot import ChatSettings, PersonalWatchlist


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/start", ("start", "")),
        ("/Subscribe  Musk and Putin ", ("subscribe", "Musk and Putin")),
        ("/mute@monitor_test_bot Starlink 2h", ("mute", "Starlink 2h")),
        ("/watch floods flood*\nNEAR/5 Jakarta", ("watch", "floods flood*\nNEAR/5 Jakarta")),
        ("/start@other_bot", None),
        ("hello /start", None),
        ("", None),
        ("/", None),
    ],
)
def test_parse_command(text: str, expected: tuple[str, str] | None) -> None:
    found = parse_command(text, "monitor_test_bot")
    assert (None if found is None else (found.name, found.args)) == expected


def test_the_menu_fits_telegrams_rules() -> None:
    for admin in (False, True):
        for name, description in menu(admin=admin):
            assert name.islower() and 1 <= len(name) <= 32
            assert 1 <= len(description) <= 256
    assert len(menu(admin=True)) == len(COMMANDS) == len(menu(admin=False)) + 3


def test_button_data_is_signed_per_bot() -> None:
    mine, theirs = ButtonCodec.for_token("1:a"), ButtonCodec.for_token("1:b")
    data = mine.encode("s", 987654321)
    assert mine.decode(data) is not None and theirs.decode(data) is None
    assert mine.decode(data.replace("987654321", "987654322")) is None
    assert len(mine.encode("A", -1001234567890).encode()) <= 64
    with pytest.raises(ValueError):
        mine.encode("x", 1)


@pytest.mark.parametrize(
    ("mode", "principal", "stored", "expected"),
    [
        ("allowlist", 1, None, "allowed"),
        ("allowlist", 5, None, "unknown"),
        ("allowlist", 5, "approved", "unknown"),  # only the list counts
        ("allowlist", 9, "denied", "allowed"),  # admins always
        ("approval", 5, None, "unknown"),
        ("approval", 5, "pending", "pending"),
        ("approval", 5, "approved", "allowed"),
        ("approval", 1, "denied", "denied"),
        ("open", 5, None, "allowed"),
        ("open", 5, "denied", "denied"),
    ],
)
def test_access_state(mode: str, principal: int, stored: str | None, expected: str) -> None:
    state = access_state(mode, principal, allowed=[1], admins=[9], stored=stored)  # type: ignore[arg-type]
    assert state == expected


def test_command_rate_is_a_token_bucket_that_warns_once_per_burst() -> None:
    rate = CommandRate(per_minute=3)
    results = [rate.allow(7, 0.0) for _ in range(5)]
    assert results == [(True, False)] * 3 + [(False, True), (False, False)]
    assert rate.wait_s(7) == pytest.approx(20.0)
    assert rate.allow(7, 20.0) == (True, False)  # one token back after 20 s
    assert rate.allow(8, 0.0) == (True, False)  # another user is not affected
    assert rate.dropped == 2


def test_personal_watchlists_go_to_their_owner_only_and_mutes_apply() -> None:
    mine = personal_watchlist("telegram:42", "floods")
    assert split_personal(mine) == ("telegram:42", "floods")
    assert display_watchlist(mine) == "floods" and display_watchlist("Starlink") == "Starlink"
    everyone = Recipient("console:desk", "console", "desk")
    owner = Recipient("telegram:42", "telegram", "42", watchlists=())
    other = Recipient("telegram:43", "telegram", "43", watchlists=("Starlink",))
    matches = [Match(mine, ("flood",), ""), Match("Starlink", ("starlink",), "")]
    planned = {
        p.recipient: p.watchlists for p in plan_deliveries(matches, [everyone, owner, other])
    }
    assert planned == {
        "console:desk": ("Starlink",),
        "telegram:42": (mine,),
        "telegram:43": ("Starlink",),
    }
    muting = Muting(frozenset({"telegram:42"}), frozenset({("telegram:43", "Starlink")}))
    assert [p.recipient for p in plan_deliveries(matches, [everyone, owner, other], muting)] == [
        "console:desk"
    ]


def test_directory_merges_bot_chats_after_configured_recipients() -> None:
    configured = [Recipient("telegram:42", "telegram", "42", watchlists=("Ferries",))]
    chats = (
        ChatSettings(42, "private", "A", True, subscriptions=("Starlink",)),
        ChatSettings(43, "private", "B", True, "daily", "08:00", ("22:00", "07:00"), None,
                     ("Starlink", "Gone")),
        ChatSettings(44, "private", "C", False, subscriptions=("Starlink",)),
    )  # fmt: skip
    specs = [WatchlistSpec("Starlink", '"Starlink"'), WatchlistSpec("Ferries", "ferry")]
    merged = merged_recipients(configured, BotAudience(chats), specs, "Asia/Jakarta")
    assert [r.key for r in merged] == ["telegram:42", "telegram:43"]  # configured wins, 44 left
    assert merged[0].watchlists == ("Ferries",)
    bot_chat = merged[1]
    assert bot_chat.watchlists == ("Starlink",)  # "Gone" is no longer configured
    assert (bot_chat.mode, bot_chat.daily_at, bot_chat.timezone) == (
        "daily",
        "08:00",
        "Asia/Jakarta",
    )
    personal = personal_specs(
        [
            PersonalWatchlist("telegram:43", "ok", "quay"),
            PersonalWatchlist("telegram:43", "bad", "("),
        ],
        BOT_LIMITS,
    )
    assert [p.name for p in personal] == ["~telegram:43/ok"]
    assert [w.name for w in merged_watchlists(specs, personal)] == [
        "Starlink", "Ferries", "~telegram:43/ok",
    ]  # fmt: skip


def test_alerts_show_personal_names_and_notices_get_no_buttons() -> None:
    alert = Alert(
        delivery_id=5, recipient="telegram:42", channel="telegram", story_id=3, title="Quay",
        url=None, source="Coast Times", published=datetime(2026, 1, 1, tzinfo=UTC),
        matches=(AlertMatch(personal_watchlist("telegram:42", "floods"), ("flood",), "a flood"),),
    )  # fmt: skip
    assert render_alert(alert).plain.startswith("🔔 floods\n")
    assert len(alert_buttons(alert)) == 2
    assert alert_buttons(replace(alert, delivery_id=-1, story_id=0)) == ()  # an admin notice
