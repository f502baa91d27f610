"""The Telegram channel: alerts as HTML messages through python-telegram-bot's ``Bot``.

One ``Bot`` per channel (the factory makes one channel per process), initialised once
(getMe checks the token) on first use. The base URL is configurable so tests talk to the
local Bot API emulator. Messages come from ``monitor.core.render_telegram`` (escaped,
cut to 4096 visible units before escaping); link previews are off unless configured.

Errors are translated here and nowhere else (``BadRequest`` is caught before
``NetworkError``: it is a subclass):

- RetryAfter -> TransientDeliveryError(retry_after=seconds); the channel never waits
  and never retries: the outbox pauses that chat only;
- ChatMigrated -> RecipientMovedError(new_address=the supergroup id);
- Forbidden (blocked, kicked), BadRequest "chat not found" and kin -> PermanentDeliveryError;
- BadRequest "can't parse entities" -> the same message again as plain text, here;
- BadRequest "message is too long" -> cut to half once, then MessageRejectedError;
- any other BadRequest -> MessageRejectedError;
- TimedOut, NetworkError, 5xx, a rejected token -> TransientDeliveryError.

``update`` edits the sent message (``chat_id:message_id``); "not modified" is success;
a message that can no longer be edited is replaced by a new one (its ref returned).

When the bot is on (``enable_buttons``), an alert carries an inline keyboard ("Mute this
story", "Mute this outlet", "Not relevant", "All sources") whose callback data is signed
by monitor.bot.buttons; edits keep it. Digests and admin notices have no buttons.

The token is part of every request URL: it is registered with a logging filter that
redacts it from the records of httpx and python-telegram-bot, and it never appears in
an error we raise. Must not: sleep, retry on its own, or log message contents.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from pydantic import SecretStr
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from monitor.bot.buttons import ButtonCodec
from monitor.channels.base import Digest
from monitor.core.models import Alert, Recipient
from monitor.core.render_telegram import (
    TELEGRAM_LIMIT,
    Piece,
    TelegramText,
    alert_buttons,
    render_alert,
    render_digest,
    to_message,
)
from monitor.errors import (
    DeliveryError,
    MessageRejectedError,
    PermanentDeliveryError,
    RecipientMovedError,
    TransientDeliveryError,
)

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
TOKEN_REJECTED_WAIT_S = 300.0  # a rejected token is the operator's to fix; keep the alerts

# Lower-cased fragments of Bot API error descriptions (PTB strips "Bad Request: ").
_RECIPIENT_GONE = (
    "chat not found",
    "group is deactivated",
    "not enough rights",
    "have no rights",
    "need administrator rights",
    "peer_id_invalid",
    "user not found",
    "chat_write_forbidden",
    "chat_restricted",
    "bot is not a member",
    "user is deactivated",
)
_UNPARSABLE = ("can't parse entities", "can't find end", "unsupported start tag")
_TOO_LONG = ("message is too long", "message_too_long", "text is too long", "entities too long")
_NOT_MODIFIED = ("message is not modified",)
_NOT_EDITABLE = (
    "message to edit not found",
    "message can't be edited",
    "message_id_invalid",
    "message identifier is not specified",
)

# Loggers that see request URLs (and so the token): the filter is attached to each.
_URL_LOGGERS = (
    "httpx",
    "httpcore",
    "telegram.Bot",
    "telegram.request.BaseRequest",
    "telegram.request.HTTPXRequest",
    "telegram.ext.Updater",
    "telegram.ext.Application",
)


class _RedactTokens(logging.Filter):
    """Replaces every registered token in a record's message with ``[token]``."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.tokens:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        redacted = message
        for token in self.tokens:
            redacted = redacted.replace(token, "[token]")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_REDACT = _RedactTokens()


def protect_token(token: str) -> None:
    """Keep ``token`` out of the logs of httpx and python-telegram-bot from now on."""
    _REDACT.tokens.add(token)
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        if _REDACT not in logger.filters:
            logger.addFilter(_REDACT)


@dataclass
class TelegramCounters:
    """What the channel did, for tests and metrics."""

    sent: int = 0
    edited: int = 0
    not_modified: int = 0
    plain_fallbacks: int = 0  # HTML refused, resent as plain text
    recut: int = 0  # "message is too long", cut harder
    replaced: int = 0  # an edit impossible, a new message sent instead


def retry_after_seconds(error: RetryAfter) -> float:
    """RetryAfter's wait in seconds: an int today, a timedelta under PTB_TIMEDELTA."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def _contains(error: TelegramError, fragments: Sequence[str]) -> bool:
    text = error.message.lower()
    return any(fragment in text for fragment in fragments)


def translate_error(error: TelegramError) -> DeliveryError:
    """A python-telegram-bot error as one of ours (the token never in the message)."""
    if isinstance(error, RetryAfter):
        wait = retry_after_seconds(error)
        return TransientDeliveryError(
            f"telegram flood control: retry after {wait:g}s", retry_after=wait
        )
    if isinstance(error, ChatMigrated):
        return RecipientMovedError(
            f"group migrated to supergroup {error.new_chat_id}", new_address=str(error.new_chat_id)
        )
    if isinstance(error, Forbidden):
        return PermanentDeliveryError(f"telegram refused the chat: {error.message}")
    if isinstance(error, InvalidToken):
        return TransientDeliveryError(
            "telegram rejected the bot token (check channels.telegram.token_env)",
            retry_after=TOKEN_REJECTED_WAIT_S,
        )
    if isinstance(error, BadRequest):
        if _contains(error, _RECIPIENT_GONE):
            return PermanentDeliveryError(f"telegram: {error.message}")
        return MessageRejectedError(f"telegram refused the message: {error.message}")
    if isinstance(error, TimedOut):
        return TransientDeliveryError(f"telegram timed out: {error.message}")
    if isinstance(error, NetworkError):
        return TransientDeliveryError(f"telegram unreachable or failing: {error.message}")
    return TransientDeliveryError(f"telegram error: {error.message}")


def chat_id_of(address: str) -> int | str:
    """A recipient address as a chat id: an integer, or ``@channelname`` as is."""
    text = address.strip()
    try:
        return int(text)
    except ValueError:
        return text


def parse_ref(ref: str) -> tuple[int | str, int]:
    """``"-1001234:56"`` -> (-1001234, 56); MessageRejectedError for anything else."""
    chat, _, message = ref.rpartition(":")
    try:
        return chat_id_of(chat), int(message)
    except ValueError:
        raise MessageRejectedError(f"not a telegram message reference: {ref!r}") from None


Post = Callable[[str, ParseMode | None], Awaitable[Message | bool]]


class TelegramChannel:
    """Sends alerts, updates and digests to Telegram chats; see the module docstring."""

    name = "telegram"

    def __init__(
        self,
        token: SecretStr | str,
        *,
        api_base_url: str = DEFAULT_API_BASE_URL,
        link_preview: bool = False,
        timeout_s: float = 10.0,
        connections: int = 64,
    ) -> None:
        secret = token.get_secret_value() if isinstance(token, SecretStr) else token
        protect_token(secret)
        request = HTTPXRequest(
            connection_pool_size=connections,
            read_timeout=timeout_s,
            write_timeout=timeout_s,
            connect_timeout=timeout_s,
            pool_timeout=timeout_s,
        )
        self.bot = Bot(secret, base_url=api_base_url, request=request)
        self.preview = None if link_preview else LinkPreviewOptions(is_disabled=True)
        self.counters = TelegramCounters()
        self.buttons: ButtonCodec | None = None
        self._ready = False
        self._starting = asyncio.Lock()

    def __repr__(self) -> str:
        return f"TelegramChannel(link_preview={self.preview is None})"

    def enable_buttons(self) -> ButtonCodec:
        """Put the bot's buttons under alerts from now on; the codec that reads them back."""
        if self.buttons is None:
            self.buttons = ButtonCodec.for_token(self.bot.token)
        return self.buttons

    def keyboard(self, alert: Alert) -> InlineKeyboardMarkup | None:
        """The inline keyboard under ``alert``, or None (no bot, or not a story alert)."""
        codec = self.buttons
        rows = alert_buttons(alert) if codec is not None else ()
        if codec is None or not rows:
            return None
        return InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        label, callback_data=codec.encode(action, alert.delivery_id)
                    )
                    for label, action in row
                ]
                for row in rows
            ]
        )

    async def start(self) -> None:
        """Initialise the bot once (getMe); safe to call again."""
        if self._ready:
            return
        async with self._starting:  # many chats' first sends arrive together: one getMe
            if self._ready:
                return
            rejected = False
            try:
                await self.bot.initialize()
            except InvalidToken:
                rejected = True  # PTB's message quotes the token: raise ours outside this block
            except TelegramError as exc:
                raise translate_error(exc) from exc
            if rejected:
                raise translate_error(InvalidToken())
            self._ready = True

    # -- the Channel protocol ---------------------------------------------------------------

    async def send(self, alert: Alert, recipient: Recipient) -> str:
        chat = chat_id_of(recipient.address)

        def render(limit: int) -> TelegramText:
            return render_alert(alert, timezone=recipient.timezone, limit=limit)

        message = await self._send(chat, render, self.keyboard(alert))
        return f"{message.chat_id}:{message.message_id}"

    async def update(self, ref: str, alert: Alert, recipient: Recipient) -> str:
        chat, message_id = parse_ref(ref)
        current = chat_id_of(recipient.address)

        def render(limit: int) -> TelegramText:
            return render_alert(alert, timezone=recipient.timezone, limit=limit)

        markup = self.keyboard(alert)
        if isinstance(chat, int) and isinstance(current, int) and chat != current:
            # The recipient moved (a migrated group): the old message cannot be edited.
            return await self._replace(current, render, markup)
        try:
            await self._edit(chat, message_id, render, markup)
        except _NotModified:
            self.counters.not_modified += 1
            return ref
        except _NotEditable:
            return await self._replace(current, render, markup)
        self.counters.edited += 1
        return ref

    async def send_digest(self, digest: Digest, recipient: Recipient) -> Sequence[str]:
        chat = chat_id_of(recipient.address)
        refs: list[str] = []
        parts = render_digest(
            digest.alerts,
            reason=digest.reason,
            period_start=digest.period_start,
            period_end=digest.period_end,
            timezone=recipient.timezone,
        )
        for part in parts:
            message = await self._send(chat, _fixed(part))
            refs.append(f"{message.chat_id}:{message.message_id}")
        return refs

    async def aclose(self) -> None:
        self._ready = False
        await self.bot.shutdown()  # a no-op when the bot never started

    # -- sending ---------------------------------------------------------------------------

    async def _send(
        self,
        chat: int | str,
        render: Callable[[int], TelegramText],
        markup: InlineKeyboardMarkup | None = None,
    ) -> Message:
        async def post(text: str, mode: ParseMode | None) -> Message:
            return await self.bot.send_message(
                chat, text, parse_mode=mode, link_preview_options=self.preview, reply_markup=markup
            )

        result = await self._post(post, render)
        assert isinstance(result, Message)
        self.counters.sent += 1
        return result

    async def _replace(
        self,
        chat: int | str,
        render: Callable[[int], TelegramText],
        markup: InlineKeyboardMarkup | None = None,
    ) -> str:
        message = await self._send(chat, render, markup)
        self.counters.replaced += 1
        return f"{message.chat_id}:{message.message_id}"

    async def _edit(
        self,
        chat: int | str,
        message_id: int,
        render: Callable[[int], TelegramText],
        markup: InlineKeyboardMarkup | None = None,
    ) -> None:
        async def post(text: str, mode: ParseMode | None) -> Message | bool:
            return await self.bot.edit_message_text(
                text,
                chat_id=chat,
                message_id=message_id,
                parse_mode=mode,
                link_preview_options=self.preview,
                reply_markup=markup,
            )

        await self._post(post, render, editing=True)

    async def _post(
        self, post: Post, render: Callable[[int], TelegramText], *, editing: bool = False
    ) -> Message | bool:
        """HTML first; plain text if Telegram cannot parse it; cut harder once if too long."""
        await self.start()
        limit, plain = TELEGRAM_LIMIT, False
        while True:
            text = render(limit)
            try:
                if plain:
                    return await post(text.plain, None)
                return await post(text.html, ParseMode.HTML)
            except BadRequest as exc:
                if editing and _contains(exc, _NOT_MODIFIED):
                    raise _NotModified from exc
                if editing and _contains(exc, _NOT_EDITABLE):
                    raise _NotEditable from exc
                if not plain and _contains(exc, _UNPARSABLE):
                    plain = True
                    self.counters.plain_fallbacks += 1
                    continue
                if limit == TELEGRAM_LIMIT and _contains(exc, _TOO_LONG):
                    limit = TELEGRAM_LIMIT // 2
                    self.counters.recut += 1
                    continue
                raise translate_error(exc) from exc
            except TelegramError as exc:
                raise translate_error(exc) from exc


class _NotModified(Exception):
    """editMessageText: the message already shows this content."""


class _NotEditable(Exception):
    """editMessageText: the message is gone or too old to edit."""


def _fixed(text: TelegramText) -> Callable[[int], TelegramText]:
    """A renderer that always gives ``text`` (digest parts are already cut to the limit)."""

    def render(limit: int) -> TelegramText:
        if limit >= text.length:
            return text
        return to_message([Piece(text.plain)], limit)

    return render
