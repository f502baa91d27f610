"""Value types of the configuration files: how each YAML scalar is read and described.

Each type is an ``Annotated`` pydantic type with one plain validator (one clear error
message, never a union's list of attempts) and the JSON Schema that editors use.
Messages never echo values of ``*_env`` fields (a pasted secret must not reach a log).
No I/O here beyond looking up time-zone names.
"""

from __future__ import annotations

import re
import zoneinfo
from email.utils import parseaddr
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import PlainValidator, WithJsonSchema
from rapidfuzz import process

from monitor.core.identity import canonical_url

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DURATION_PART = re.compile(r"(\d+)([smhd])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION_PATTERN = r"^([0-9]+|([0-9]+[smhd])+)$"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_CHAT_USERNAME = re.compile(r"@[A-Za-z][A-Za-z0-9_]{3,31}")


def _string(value: Any, what: str = "a string") -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected {what}")
    value = value.strip()
    if not value:
        raise ValueError(f"expected {what}, got an empty value")
    return value


def parse_name(value: Any) -> str:
    """A name or tag: one line of text, no control characters."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    text = _string(value, "a name")
    if _CONTROL.search(text):
        raise ValueError("names cannot contain control characters or line breaks")
    if len(text) > 200:
        raise ValueError("names are at most 200 characters")
    return text


def parse_duration(value: Any) -> int:
    """Seconds: an integer (600) or a duration string: 90s, 10m, 1h, 1h30m, 2d."""
    hint = "use seconds (600) or a duration like 90s, 10m, 1h, 1h30m, 2d"
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {hint}")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and value.strip().isdigit():
        seconds = int(value.strip())
    elif isinstance(value, str) and re.fullmatch(_DURATION_PATTERN, value.strip()):
        seconds = sum(
            int(n) * _DURATION_UNITS[unit] for n, unit in _DURATION_PART.findall(value.strip())
        )
    else:
        raise ValueError(f"invalid duration {value!r}: {hint}")
    if seconds <= 0:
        raise ValueError(f"a duration must be positive: {hint}")
    return seconds


def parse_backfill(value: Any) -> int | Literal["all"]:
    """Items alerted on a feed's first poll: ``none`` (0), a number N, or ``all``."""
    if isinstance(value, str) and value.strip().lower() in ("none", "all"):
        return "all" if value.strip().lower() == "all" else 0
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError("backfill is none, all or a number of items (0 or more)")


def parse_fuzzy(value: Any) -> Literal["off", "auto"] | int:
    """``off``, ``auto`` or the maximum number of edits (0-3)."""
    if isinstance(value, str) and value.strip().lower() in ("off", "auto"):
        return "off" if value.strip().lower() == "off" else "auto"
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 3:
        return value
    raise ValueError("fuzzy is off, auto or a maximum number of edits from 0 to 3")


def parse_timezone(value: Any) -> str:
    """An IANA time-zone name such as Europe/Moscow or Asia/Jakarta."""
    name = _string(value, "a time-zone name")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        message = f"unknown time zone {name!r}: use an IANA name like Asia/Jakarta"
        best = process.extractOne(name, sorted(zoneinfo.available_timezones()), score_cutoff=80)
        if best:
            message += f" (did you mean {best[0]!r}?)"
        raise ValueError(message) from None
    return name


def parse_env_name(value: Any) -> str:
    """The *name* of an environment variable or systemd credential, never a secret."""
    if not isinstance(value, str) or not _ENV_NAME.fullmatch(value.strip()):
        raise ValueError(
            "must be the name of an environment variable or systemd credential "
            "(letters, digits and _, e.g. TELEGRAM_BOT_TOKEN), never the secret itself"
        )
    return value.strip()


def parse_http_url(value: Any) -> str:
    """An absolute http:// or https:// URL without credentials."""
    url = _string(value, "a URL")
    if _CONTROL.search(url) or " " in url:
        raise ValueError("a URL cannot contain spaces or control characters")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a bad port
    except ValueError as exc:
        raise ValueError(f"invalid URL {url!r}: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"invalid URL {url!r}: only http:// and https:// URLs are allowed")
    if not parts.hostname:
        raise ValueError(f"invalid URL {url!r}: no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("credentials in a URL are not allowed (secrets never go in YAML)")
    return url


def parse_email(value: Any) -> str:
    """A plain address (no display name, no line breaks)."""
    if isinstance(value, str) and _CONTROL.search(value):
        raise ValueError("an email address cannot contain line breaks or control characters")
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str) or not _EMAIL.fullmatch(text):
        raise ValueError("not a valid email address (expected name@example.org)")
    return text


def parse_sender(value: Any) -> str:
    """A From address, optionally with a display name: ``Monitor <alerts@example.org>``."""
    text = _string(value, "an email address")
    if _CONTROL.search(text):
        raise ValueError("an email address cannot contain line breaks or control characters")
    _, address = parseaddr(text)
    parse_email(address)
    return text


def parse_language(value: Any) -> str:
    """A language code: en, id, ru, pt-BR ... (lower-cased primary subtag)."""
    if not isinstance(value, str) or not _LANGUAGE.fullmatch(value.strip()):
        raise ValueError("not a language code (expected e.g. en, id, ru, pt-BR)")
    head, _, rest = value.strip().partition("-")
    return head.lower() + ("-" + rest if rest else "")


def parse_chat_id(value: Any) -> int | str:
    """A Telegram chat id (an integer, negative for groups) or a public @channelname."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"-?[0-9]+", text):
            return int(text)
        if _CHAT_USERNAME.fullmatch(text):
            return text
    raise ValueError("a Telegram chat_id is an integer (negative for groups) or @channelname")


def parse_clock(value: str) -> str:
    match = _CLOCK.fullmatch(value.strip())
    if not match:
        raise ValueError(f"{value.strip()!r} is not a time of day HH:MM (00:00-23:59)")
    return match.group(0)


def parse_mode(value: Any) -> str:
    """``immediate``, ``hourly`` or ``daily HH:MM``."""
    hint = "mode is immediate, hourly or daily HH:MM (e.g. daily 08:00)"
    if not isinstance(value, str):
        raise ValueError(hint)
    words = value.split()
    if words in (["immediate"], ["hourly"]):
        return words[0]
    if len(words) == 2 and words[0] == "daily":
        try:
            return "daily " + parse_clock(words[1])
        except ValueError as exc:
            raise ValueError(f"{exc}; {hint}") from None
    raise ValueError(hint)


def parse_quiet_hours(value: Any) -> tuple[str, str]:
    """``HH:MM-HH:MM`` in the recipient's time zone; may wrap midnight (22:00-07:00)."""
    hint = "quiet_hours is HH:MM-HH:MM, e.g. 22:00-07:00"
    if not isinstance(value, str) or value.count("-") != 1:
        raise ValueError(hint)
    start, end = (parse_clock(part) for part in value.split("-"))
    if start == end:
        raise ValueError(f"quiet hours start and end at the same time; {hint}")
    return start, end


def parse_exclude(value: Any) -> str | tuple[str, ...]:
    """A query string, or a list of phrases (any of which vetoes a match)."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    phrases = isinstance(value, list | tuple) and value
    if phrases and all(isinstance(item, str) and item.strip() for item in value):
        return tuple(item.strip() for item in value)
    raise ValueError("exclude is a query string or a non-empty list of phrases")


def parse_database_url(value: Any) -> str:
    """A SQLAlchemy URL for SQLite or PostgreSQL, without a password (never echoed back)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = _string(value, "a database URL")
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise ValueError(
            "not a database URL (e.g. sqlite:///state/monitor.db or "
            "postgresql+psycopg://monitor@localhost/monitor)"
        ) from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError("only sqlite:// and postgresql:// database URLs are supported")
    if url.password is not None:
        raise ValueError(
            "never put the password in database_url (secrets never go in YAML): "
            "give its environment variable or credential name with database_password_env"
        )
    return text


_STRING_NAME = {"type": "string", "minLength": 1, "maxLength": 200}

Name = Annotated[str, PlainValidator(parse_name), WithJsonSchema(_STRING_NAME)]
Duration = Annotated[
    int,
    PlainValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": _DURATION_PATTERN},
            ],
            "description": "seconds, or a duration such as 90s, 10m, 1h, 1h30m, 2d",
        }
    ),
]
Backfill = Annotated[
    int | Literal["all"],
    PlainValidator(parse_backfill),
    WithJsonSchema({"anyOf": [{"enum": ["none", "all"]}, {"type": "integer", "minimum": 0}]}),
]
Fuzzy = Annotated[
    Literal["off", "auto"] | int,
    PlainValidator(parse_fuzzy),
    WithJsonSchema(
        {"anyOf": [{"enum": ["off", "auto"]}, {"type": "integer", "minimum": 0, "maximum": 3}]}
    ),
]
TimeZoneName = Annotated[
    str, PlainValidator(parse_timezone), WithJsonSchema({"type": "string", "examples": ["UTC"]})
]
EnvName = Annotated[
    str,
    PlainValidator(parse_env_name),
    WithJsonSchema({"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}),
]
HttpURL = Annotated[
    str,
    PlainValidator(parse_http_url),
    WithJsonSchema({"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"}),
]
EmailAddress = Annotated[
    str,
    PlainValidator(parse_email),
    WithJsonSchema({"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+$"}),
]
Sender = Annotated[
    str, PlainValidator(parse_sender), WithJsonSchema({"type": "string", "pattern": "@"})
]
Language = Annotated[
    str,
    PlainValidator(parse_language),
    WithJsonSchema({"type": "string", "pattern": "^[A-Za-z]{2,3}(-[A-Za-z0-9]+)*$"}),
]
ChatId = Annotated[
    int | str,
    PlainValidator(parse_chat_id),
    WithJsonSchema(
        {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^(-?[0-9]+|@\\w+)$"}]}
    ),
]
Mode = Annotated[
    str,
    PlainValidator(parse_mode),
    WithJsonSchema(
        {"type": "string", "pattern": "^(immediate|hourly|daily [0-2][0-9]:[0-5][0-9])$"}
    ),
]
Exclude = Annotated[
    str | tuple[str, ...],
    PlainValidator(parse_exclude),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
            ]
        }
    ),
]
DatabaseURL = Annotated[
    str,
    PlainValidator(parse_database_url),
    WithJsonSchema({"type": "string", "pattern": "^(sqlite|postgresql)(\\+\\w+)?://"}),
]
QuietHours = Annotated[
    tuple[str, str],
    PlainValidator(parse_quiet_hours),
    WithJsonSchema({"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9]$"}),
]


def feed_url_key(url: str) -> str:
    """The identity of a feed URL for duplicate detection: the item identity's canonical URL
    (http and https one, host lower-cased, default port, fragment and tracking parameters
    dropped, query sorted), so feeds.yaml and the store agree on "the same feed"."""
    return canonical_url(url) or url.strip()
