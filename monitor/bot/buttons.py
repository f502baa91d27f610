"""Callback data of inline buttons: small, signed, checked before anything is done.

A button carries ``<action>:<number>:<signature>`` (at most about 30 bytes of
Telegram's 64): the action (one letter: mute story, mute outlet, not relevant, all
sources, approve, deny), a number (the delivery id of the alert, or the user id of an
access request) and an HMAC-SHA256 of both, cut to 12 characters of base64url. The key
is derived from the bot token, so only this bot makes buttons this bot accepts: a
client cannot forge a press on someone else's alert by guessing ids. The handler checks
again that the alert belongs to the chat where the button was pressed.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from monitor.core.render_telegram import ALL_SOURCES, MUTE_OUTLET, MUTE_STORY, NOT_RELEVANT

APPROVE, DENY = "A", "D"
ACTIONS = frozenset({MUTE_STORY, MUTE_OUTLET, NOT_RELEVANT, ALL_SOURCES, APPROVE, DENY})
_SIGNATURE = 12
_DATA = re.compile(rf"([A-Za-z]):(-?[0-9]{{1,20}}):([A-Za-z0-9_-]{{{_SIGNATURE}}})")


@dataclass(frozen=True, slots=True)
class Press:
    """A decoded, authentic button press: what to do, about which number."""

    action: str
    number: int


class ButtonCodec:
    """Encodes and verifies callback data with a key of its own."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def for_token(cls, token: str) -> ButtonCodec:
        """The codec of one bot: its key is derived from the token (never the token itself)."""
        return cls(hashlib.sha256(b"monitor buttons\0" + token.encode()).digest())

    def _sign(self, action: str, number: int) -> str:
        mac = hmac.new(self._key, f"{action}:{number}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode()[:_SIGNATURE]

    def encode(self, action: str, number: int) -> str:
        if action not in ACTIONS:
            raise ValueError(f"unknown button action {action!r}")
        return f"{action}:{number}:{self._sign(action, number)}"

    def decode(self, data: str | None) -> Press | None:
        """The press, or None for data this bot did not sign (or that is malformed)."""
        found = _DATA.fullmatch(data or "")
        if found is None:
            return None
        action, number = found.group(1), int(found.group(2))
        if action not in ACTIONS:
            return None
        if not hmac.compare_digest(found.group(3), self._sign(action, number)):
            return None
        return Press(action, number)
