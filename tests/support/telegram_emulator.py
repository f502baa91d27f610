"""Entry point for tests that need Telegram: the local Bot API emulator and its helpers.

    with TelegramEmulator() as tg:
        bot = telegram.Bot(tg.token, base_url=tg.base_url)
        ...
        assert tg.messages(chat_id)[0].text == "..."

The implementation lives in ``tests.support.telegram``; this module only gathers the
names a test needs. Test support only.
"""

from __future__ import annotations

from tests.support.telegram import objects
from tests.support.telegram.emulator import (
    MESSAGE_METHODS,
    TELEGRAM_LIMITS,
    TelegramEmulator,
    new_token,
)
from tests.support.telegram.markup import EntityParseError, ParsedText, parse_html, utf16_len
from tests.support.telegram.records import (
    ApiCall,
    CallbackAnswer,
    Edit,
    Fault,
    RateLimits,
    RateReport,
    ReceivedMessage,
    max_in_window,
)

__all__ = [
    "MESSAGE_METHODS",
    "TELEGRAM_LIMITS",
    "ApiCall",
    "CallbackAnswer",
    "Edit",
    "EntityParseError",
    "Fault",
    "ParsedText",
    "RateLimits",
    "RateReport",
    "ReceivedMessage",
    "TelegramEmulator",
    "max_in_window",
    "new_token",
    "objects",
    "parse_html",
    "utf16_len",
]
