"""The console channel: prints alerts to standard output (the demo's alert channel)."""

from __future__ import annotations

import sys
from typing import TextIO

from monitor.core.models import Alert, Recipient
from monitor.core.render import render_plain


class ConsoleChannel:
    """Writes each alert as a block of plain text to a stream (stdout by default)."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self.sent = 0

    async def send(self, alert: Alert, recipient: Recipient) -> str | None:
        stream = self._stream or sys.stdout
        stream.write(render_plain(alert, timezone=recipient.timezone) + "\n\n")
        stream.flush()
        self.sent += 1
        return f"console:{self.sent}"

    async def aclose(self) -> None:
        return None
