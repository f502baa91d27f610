"""The one protocol every outbound channel implements.

A channel renders and sends alerts to one recipient at a time and returns the
channel's message reference (Telegram ``chat_id:message_id``, email Message-ID, ...).
It never retries and never sleeps: it raises and lets the outbox decide.

Errors (monitor.errors), every library exception translated into one of them:

- ``TransientDeliveryError(retry_after=...)``: network trouble, 5xx, 429, SMTP 4xx;
- ``RecipientMovedError(new_address=...)``: Telegram's ``migrate_to_chat_id``;
- ``MessageRejectedError``: this message can never go out (the recipient is fine);
- ``PermanentDeliveryError``: stop for this recipient (403 blocked, chat not found,
  SMTP 5xx on RCPT).

A channel handles what it can itself: Telegram resends as plain text when the HTML
is refused ("can't parse entities"); texts are cut to the channel's limits before
escaping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from monitor.core.models import Alert, Recipient


@dataclass(frozen=True, slots=True)
class Digest:
    """Several alerts for one recipient in one message, grouped by watchlist when rendered."""

    recipient: str
    alerts: tuple[Alert, ...]
    period_start: datetime
    period_end: datetime
    reason: str = "digest"  # "hourly", "daily", "quiet hours ended"


class Channel(Protocol):
    name: str

    async def send(self, alert: Alert, recipient: Recipient) -> str | None:
        """Deliver one alert; return the channel's message reference."""
        ...

    async def update(self, ref: str, alert: Alert, recipient: Recipient) -> str | None:
        """The story changed (more outlets, another watchlist): update the message
        sent as ``ref`` (Telegram edits it; email sends a reply in the same thread).
        Returns the (possibly new) reference."""
        ...

    async def send_digest(self, digest: Digest, recipient: Recipient) -> Sequence[str]:
        """Deliver a digest, split only at the channel's length limits; the references."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
