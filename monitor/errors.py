"""One exception tree for monitor; library exceptions are translated at the boundary.

    MonitorError
    ├── ConfigError            invalid configuration (carries every problem, with file:line)
    ├── StorageError           database unavailable, schema unknown or too old
    │   └── SchemaError        the database schema is not the one this code knows
    ├── FetchError             a feed or article could not be fetched (carries `reason`)
    │   ├── BlockedURLError    scheme, host or address refused before any I/O
    │   ├── TooLargeError      body over the cap (after decompression)
    │   ├── DeadlineError      the whole request took longer than its deadline
    │   ├── RedirectError      too many redirects or a redirect loop
    │   └── HTTPStatusError    the server answered with an error status
    ├── ParseError             the bytes are not a feed we can use
    └── DeliveryError          an alert could not be delivered
        ├── TransientDeliveryError   retry later (carries `retry_after` seconds)
        ├── RecipientMovedError      the chat moved (group -> supergroup): use `new_address`
        ├── MessageRejectedError     this one message can never be sent; the recipient is fine
        └── PermanentDeliveryError   stop retrying this recipient (blocked, unknown, refused)

Library exceptions (httpx, feedparser, SQLAlchemy, telegram, aiosmtplib) never leave
the module that calls the library: they become one of these with ``raise ... from exc``.
"""

from __future__ import annotations

from dataclasses import dataclass


class MonitorError(Exception):
    """Base of every error monitor raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a configuration file: where it is and what is wrong."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class ConfigError(MonitorError):
    """The configuration is invalid; ``problems`` lists every error found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class StorageError(MonitorError):
    """The database cannot be used."""


class SchemaError(StorageError):
    """The database schema is not one this version of monitor knows."""


class FetchError(MonitorError):
    """A URL could not be fetched; ``reason`` is a short machine-readable word."""

    reason = "fetch_error"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BlockedURLError(FetchError):
    reason = "blocked_url"


class TooLargeError(FetchError):
    reason = "too_large"


class DeadlineError(FetchError):
    reason = "deadline"


class RedirectError(FetchError):
    reason = "redirects"


class HTTPStatusError(FetchError):
    reason = "http_status"

    def __init__(self, status: int, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status = status


class ParseError(MonitorError):
    """The fetched bytes could not be used as a feed."""


class DeliveryError(MonitorError):
    """An alert could not be delivered."""


class TransientDeliveryError(DeliveryError):
    """Try again later; ``retry_after`` is the wait the remote side asked for, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Retrying will not help for this recipient (blocked, unknown chat, rejected address)."""


class RecipientMovedError(DeliveryError):
    """The recipient lives at a new address now (e.g. ``migrate_to_chat_id``)."""

    def __init__(self, message: str, *, new_address: str) -> None:
        super().__init__(message)
        self.new_address = new_address


class MessageRejectedError(DeliveryError):
    """The channel refuses this one message for good; the recipient is fine."""
