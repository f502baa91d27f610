"""Answers to users, sent straight through the Bot (they are replies, not alerts).

A reply is built as styled pieces (monitor.core.render_telegram), cut to Telegram's
4096 units before escaping, and sent as HTML (plain text if Telegram refuses the HTML).
Every message waits for the shared rate shaper, the same one the outbox sender uses, so
replies and alerts together stay under Telegram's per-chat, per-group and overall
limits. A 429 with a short wait is honoured once; anything else is logged and dropped:
a lost reply is a nuisance, a retry loop under a flood would be worse.

Handlers ``post`` replies: each chat has a small queue served in order by its own task,
so a chat waiting for its one-message-a-second slot never holds up the handling of
other chats' updates; a chat with more than ``MAX_QUEUED`` replies waiting loses the
newest. Button presses are answered (answerCallbackQuery) at once, without shaping:
they are not messages.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, RetryAfter, TelegramError

from monitor.channels.telegram import retry_after_seconds
from monitor.core.render_telegram import (
    NEWLINE,
    Piece,
    TelegramText,
    clean_text,
    safe_link,
    to_message,
)
from monitor.logs import get_logger
from monitor.service.shaping import Shaper

log = get_logger("monitor.bot")

SHORT_WAIT_S = 10.0
MAX_QUEUED = 20  # replies waiting per chat
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def text(*lines: str | Sequence[Piece]) -> list[Piece]:
    """A reply from lines: plain strings, or pieces already styled."""
    pieces: list[Piece] = []
    for index, line in enumerate(lines):
        if index:
            pieces.append(NEWLINE)
        if isinstance(line, str):
            pieces.append(Piece(line))
        else:
            pieces.extend(line)
    return pieces


def bold(value: str) -> Piece:
    return Piece(clean_text(value).strip(), bold=True)


def link(value: str, url: str | None) -> Piece:
    return Piece(clean_text(value).strip() or "(untitled)", link=safe_link(url))


def _message(reply: Sequence[Piece] | TelegramText) -> TelegramText:
    return reply if isinstance(reply, TelegramText) else to_message(list(reply))


class Replier:
    """Sends replies and answers button presses for the bot."""

    def __init__(self, bot: Bot, shaper: Shaper | None) -> None:
        self.bot = bot
        self.shaper = shaper
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._queues: dict[int, deque[tuple[TelegramText, InlineKeyboardMarkup | None]]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}

    def post(
        self,
        chat_id: int,
        reply: Sequence[Piece] | TelegramText,
        markup: InlineKeyboardMarkup | None = None,
    ) -> bool:
        """Queue a reply for ``chat_id`` (sent in order, shaped); False if the queue is full."""
        queue = self._queues.setdefault(chat_id, deque())
        if len(queue) >= MAX_QUEUED:
            self.dropped += 1
            log.info("reply_dropped", chat=chat_id)
            return False
        queue.append((_message(reply), markup))
        if chat_id not in self._workers:
            self._workers[chat_id] = asyncio.create_task(self._serve(chat_id))
        return True

    async def _serve(self, chat_id: int) -> None:
        queue = self._queues[chat_id]
        try:
            while queue:
                message, markup = queue[0]
                await self.send(chat_id, message, markup)
                queue.popleft()
        finally:
            self._workers.pop(chat_id, None)
            if not queue:
                self._queues.pop(chat_id, None)

    @property
    def waiting(self) -> int:
        """Replies queued and not sent yet."""
        return sum(len(q) for q in self._queues.values())

    async def drain(self, timeout_s: float | None = None) -> bool:
        """Wait until every queued reply went out (or ``timeout_s``); True if all did."""
        while self._workers:
            tasks = list(self._workers.values())
            _done, pending = await asyncio.wait(tasks, timeout=timeout_s)
            if pending:
                return False
        return True

    async def aclose(self, grace_s: float) -> None:
        """Let queued replies go for ``grace_s``, then drop the rest."""
        if not await self.drain(grace_s):
            for task in list(self._workers.values()):
                task.cancel()
            await asyncio.gather(*self._workers.values(), return_exceptions=True)
        self._queues.clear()

    async def send(
        self,
        chat_id: int,
        reply: Sequence[Piece] | TelegramText,
        markup: InlineKeyboardMarkup | None = None,
    ) -> bool:
        """Send one reply; False if it could not be sent (logged)."""
        message = _message(reply)
        if not message.plain.strip():
            return False
        for attempt in range(2):
            ticket = None
            if self.shaper is not None:
                ticket = await self.shaper.acquire(self.shaper.buckets("telegram", str(chat_id)))
                if ticket is None:  # the process is stopping
                    return False
            try:
                await self._post(chat_id, message, markup)
                self.sent += 1
                return True
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                if attempt or wait > SHORT_WAIT_S:
                    break
                await asyncio.sleep(wait)
            except TelegramError as exc:
                log.info("reply_failed", chat=chat_id, error=f"{type(exc).__name__}: {exc}")
                break
            finally:
                if ticket is not None and self.shaper is not None:
                    self.shaper.release(ticket)
        self.failed += 1
        return False

    async def _post(
        self, chat_id: int, message: TelegramText, markup: InlineKeyboardMarkup | None
    ) -> None:
        try:
            await self.bot.send_message(
                chat_id,
                message.html,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
                reply_markup=markup,
            )
        except BadRequest as exc:
            if "parse entities" not in exc.message.lower():
                raise
            await self.bot.send_message(
                chat_id, message.plain, link_preview_options=NO_PREVIEW, reply_markup=markup
            )

    async def answer(self, query_id: str, note: str | None = None, *, alert: bool = False) -> None:
        """Answer a button press (stops the client's spinner); errors are only logged."""
        try:
            await self.bot.answer_callback_query(
                query_id, text=note[:200] if note else None, show_alert=alert
            )
        except TelegramError as exc:  # too old, already answered: nothing to do
            log.info("answer_failed", error=f"{type(exc).__name__}: {exc}")
