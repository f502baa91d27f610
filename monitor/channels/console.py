"""The console channel: prints alerts to standard output (the demo's alert channel)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from monitor.channels.base import Digest
from monitor.core.models import Alert, Recipient
from monitor.core.render import render_plain


class ConsoleChannel:
    """Writes each alert as a block of plain text to a stream (stdout by default)."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self.sent = 0

    def _write(self, text: str) -> str:
        stream = self._stream or sys.stdout
        stream.write(text + "\n\n")
        stream.flush()
        self.sent += 1
        return f"console:{self.sent}"

    async def send(self, alert: Alert, recipient: Recipient) -> str | None:
        return self._write(render_plain(alert, timezone=recipient.timezone))

    async def update(self, ref: str, alert: Alert, recipient: Recipient) -> str | None:
        return self._write(
            f"(update of {ref})\n" + render_plain(alert, timezone=recipient.timezone)
        )

    async def send_digest(self, digest: Digest, recipient: Recipient) -> Sequence[str]:
        header = f"== {digest.reason}: {len(digest.alerts)} stories"
        body = "\n\n".join(render_plain(a, timezone=recipient.timezone) for a in digest.alerts)
        return [self._write(f"{header}\n{body}")]

    async def aclose(self) -> None:
        return None
