"""The one protocol every outbound channel implements.

A channel sends one rendered alert to one recipient and returns the channel's
message reference (or None). It raises ``TransientDeliveryError`` (retry later,
possibly with ``retry_after``) or ``PermanentDeliveryError`` (stop for this
recipient); every library exception is translated into one of these.
"""

from __future__ import annotations

from typing import Protocol

from monitor.core.models import Alert, Recipient


class Channel(Protocol):
    name: str

    async def send(self, alert: Alert, recipient: Recipient) -> str | None:
        """Deliver the alert; return the channel's message reference."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
