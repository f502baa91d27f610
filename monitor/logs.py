"""structlog set-up: JSON lines off a terminal, a readable console on one.

Also silences loggers that would leak secrets (httpx logs full request URLs,
which carry the Telegram bot token) by keeping them at WARNING.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_NOISY = (
    "httpx",
    "httpcore",
    "telegram",
    "apscheduler",
    "aiosmtplib",
    "trafilatura",
    "hpack",
    "alembic",
)


class _Stderr:
    """Whatever ``sys.stderr`` is at the moment of writing (test runners swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def setup_logging(level: str = "INFO", *, json: bool | None = None, stream: Any = None) -> None:
    """Configure structlog and the stdlib root logger once for the process."""
    stream = stream or _Stderr()
    if json is None:
        json = not (hasattr(stream, "isatty") and stream.isatty())
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=numeric, stream=stream, format="%(levelname)s %(name)s %(message)s")
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
