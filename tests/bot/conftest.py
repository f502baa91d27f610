"""A bot under test: the real runtime, bot and sender against the local Bot API emulator.

``world`` gives a ``BotWorld``: a configuration directory whose Telegram channel points
at the emulator, a feed on the local feed server, and helpers that queue what users do
(``say``, ``press``) and wait until the bot has handled it (its stored offset moved),
then return what the chat received. Nothing is mocked: replies are read at the emulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from monitor.bot.service import BotService
from monitor.service.runtime import Runtime
from tests.support.configs import item, rss, write_config
from tests.support.feed_server import FeedServer, Request, Response
from tests.support.telegram_emulator import CallbackAnswer, ReceivedMessage, TelegramEmulator

ADMIN = 9001
USER = 4242
OTHER = 4343
GROUP = -1005001
CHANNEL = -1006001
TOKEN_ENV = "MONITOR_TEST_BOT_TOKEN"
DESK = {"name": "desk", "channel": "console", "watchlists": ["Kiriyenko"]}  # not Starlink

WATCHLISTS: list[dict[str, Any]] = [
    {"name": "Starlink", "terms": ["Starlink"]},
    {"name": "Kiriyenko", "terms": ["Kiriyenko"]},
    {"name": "Ferries", "query": "ferry OR ferries"},
]


class BotWorld:
    """One test's bot, feeds and emulator; see the module docstring."""

    def __init__(
        self, tg: TelegramEmulator, feeds: FeedServer, tmp: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.tg = tg
        self.feeds = feeds
        self.tmp = tmp
        self.items: dict[str, list[dict[str, str]]] = {"a": [item(1)], "b": []}
        for name, listed in self.items.items():
            feeds.route(f"/{name}.xml", serve(listed))
        monkeypatch.setenv(TOKEN_ENV, tg.token)
        self._rt: Runtime | None = None

    def config(
        self,
        bot: Mapping[str, Any] | None = None,
        *,
        recipients: list[dict[str, Any]] | None = None,
        admins: list[int] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Any:
        settings: dict[str, Any] = {"enabled": True, "access": "open", "poll_timeout": 1}
        settings.update(bot or {})
        return write_config(
            self.tmp / "config",
            feeds=[
                {"url": self.feeds.url(f"/{name}.xml"), "name": title, "full_text": "never"}
                for name, title in (("a", "Coast Times"), ("b", "Island Post"))
            ],
            watchlists=WATCHLISTS,
            recipients=recipients or [DESK],
            monitor={
                "channels": {
                    "telegram": {"token_env": TOKEN_ENV, "api_base_url": self.tg.base_url}
                },
                "admins": {"telegram": [ADMIN] if admins is None else admins},
                "bot": settings,
                # bursts of replies to one chat: a test sends many commands in a row
                "delivery": {"update_interval": 1, "telegram": {"per_chat_per_second": 30}},
                **(extra or {}),
            },
        )

    async def open(self, bot: Mapping[str, Any] | None = None, **kwargs: Any) -> Runtime:
        rt = await Runtime.open(self.config(bot, **kwargs))
        self._rt = rt
        rt.start_bot()
        assert rt.bot is not None
        await asyncio.wait_for(rt.bot.started.wait(), 5.0)
        return rt

    @property
    def rt(self) -> Runtime:
        assert self._rt is not None
        return self._rt

    @property
    def bot(self) -> BotService:
        assert self.rt.bot is not None
        return self.rt.bot

    async def close(self) -> None:
        if self._rt is not None:
            await self._rt.aclose()
            self._rt = None

    async def handled(self, update: Mapping[str, Any], timeout: float = 5.0) -> None:
        """Wait until the bot stored an offset at or past this update."""
        wanted = int(update["update_id"])

        def done() -> bool:
            offset = self.bot.poller.offset
            return offset is not None and offset >= wanted

        assert await self.tg.wait_for_async(done, timeout), f"update {wanted} not handled"
        assert await self.bot.ctx.replier.drain(timeout), "replies still queued"

    async def say(self, chat: int, words: str, *, from_user: int | None = None) -> list[str]:
        """A user writes; the texts the chat received in answer."""
        before = len(self.tg.messages(chat))
        await self.handled(self.tg.user_message(chat, words, from_user=from_user))
        return [m.text for m in self.tg.messages(chat)[before:]]

    async def press(
        self, chat: int, message_id: int, data: str, *, from_user: int | None = None
    ) -> CallbackAnswer:
        before = len(self.tg.callback_answers())
        await self.handled(self.tg.press_button(chat, message_id, data, from_user=from_user))
        answers = self.tg.callback_answers()[before:]
        assert len(answers) == 1, answers
        return answers[0]

    def add_item(self, feed: str, entry: dict[str, str]) -> None:
        self.items[feed].append(entry)

    async def poll_and_send(self) -> int:
        """Poll both feeds once and deliver what is due; the alerts sent."""
        await self.rt.poller.poll_all()
        return (await self.rt.sender.send_due()).sent

    def alerts(self, chat: int) -> list[ReceivedMessage]:
        """Messages with the alert keyboard (alerts, not replies)."""
        return [m for m in self.tg.messages(chat) if buttons(m)]

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.rt.db.reading() as conn:
            return conn.execute(text(sql), params).scalar()


def serve(listed: list[dict[str, str]]) -> Callable[[Request], Response]:
    """A route serving the items of ``listed`` as they are at each request."""
    return lambda _request: Response(rss(listed))


def buttons(message: ReceivedMessage) -> dict[str, str]:
    """label -> callback data of a message's inline keyboard."""
    markup = message.current_markup or {}
    return {
        b["text"]: b.get("callback_data", "")
        for row in markup.get("inline_keyboard", [])
        for b in row
    }


@pytest.fixture
def tg() -> Iterator[TelegramEmulator]:
    with TelegramEmulator() as emulator:
        yield emulator


@pytest.fixture
async def world(
    tg: TelegramEmulator, feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[BotWorld]:
    w = BotWorld(tg, feed_server, tmp_path, monkeypatch)
    try:
        yield w
    finally:
        await w.close()
