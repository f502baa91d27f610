"""Fixtures for the channel tests: alerts to send, and the real local servers to send them to.

The Telegram emulator and the aiosmtpd server are the project's test servers on
127.0.0.1 (tests/support); nothing here contacts an outside host.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import strategies as st

from monitor.channels.email import EmailChannel
from monitor.channels.telegram import TelegramChannel
from monitor.core.models import Alert, AlertMatch, Recipient
from tests.support.smtp_server import LocalSMTPServer
from tests.support.telegram_emulator import TelegramEmulator

PUBLISHED = datetime(2026, 11, 26, 4, 47, tzinfo=UTC)
SENDER = "Monitor Alerts <alerts@monitor.test>"

MakeAlert = Callable[..., Alert]

# Text a hostile or broken feed could carry: any characters, markup, entities, bidi
# overrides, emoji, controls.
TRICKY = ["&", "<", ">", "&amp;", "&#x27;", "</b>", "<a href='x'>", "<script>", "\u202e", "😀"]
feed_text = st.lists(
    st.one_of(st.text(st.characters(codec="utf-8"), max_size=6), st.sampled_from(TRICKY)),
    max_size=60,
).map("".join)


def build_alert(**overrides: Any) -> Alert:
    """A two-watchlist alert about a made-up story; any field can be overridden."""
    snippet = "The harbour authority said the new ferry line to Batam opens in March."
    fields: dict[str, Any] = {
        "delivery_id": 42,
        "recipient": "telegram:4242",
        "channel": "telegram",
        "story_id": 7,
        "title": "Ferry line to Batam opens in March",
        "url": "https://news.example.org/2026/11/ferry-batam?ref=rss&x=1",
        "source": "Harbour Daily",
        "published": PUBLISHED,
        "matches": (
            AlertMatch("Ferries", ("ferry",), snippet, ((35, 40),)),
            AlertMatch("Batam", ("Batam",), snippet, ((49, 54),)),
        ),
        "also_reported_by": ("Coast Times", "Island Post"),
    }
    fields.update(overrides)
    return Alert(**fields)


@pytest.fixture
def make_alert() -> MakeAlert:
    return build_alert


def telegram_recipient(chat_id: int, timezone: str = "Asia/Jakarta") -> Recipient:
    return Recipient(f"telegram:{chat_id}", "telegram", str(chat_id), timezone=timezone)


def email_recipient(address: str, timezone: str = "Europe/Berlin") -> Recipient:
    return Recipient(f"email:{address}", "email", address, timezone=timezone)


@pytest.fixture
def tg() -> Iterator[TelegramEmulator]:
    with TelegramEmulator() as emulator:
        yield emulator


@pytest.fixture
async def telegram(tg: TelegramEmulator) -> AsyncIterator[TelegramChannel]:
    channel = TelegramChannel(tg.token, api_base_url=tg.base_url, timeout_s=2.0)
    yield channel
    await channel.aclose()


@pytest.fixture
def smtp() -> Iterator[LocalSMTPServer]:
    with LocalSMTPServer() as server:
        yield server


def email_channel_for(server: LocalSMTPServer, **options: Any) -> EmailChannel:
    settings: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "sender": SENDER,
        "starttls": False,
        "timeout_s": 1.0,
        "local_hostname": "monitor.test",
    }
    settings.update(options)
    return EmailChannel(**settings)


@pytest.fixture
def email(smtp: LocalSMTPServer) -> EmailChannel:
    return email_channel_for(smtp)
