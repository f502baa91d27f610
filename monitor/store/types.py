"""Column types that behave the same on SQLite and PostgreSQL.

``UTCDateTime`` stores timezone-aware UTC datetimes (SQLite has no time zones:
values are stored as naive UTC and come back aware). ``JSONList`` stores a list of
strings as JSON text, ``JSONValue`` any JSON value. ``utc_column`` is a table column of
``UTCDateTime``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JSONList(TypeDecorator[list[str]]):
    """A list of strings stored as JSON text (portable, readable in sqlite3)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: list[str] | None, dialect: Dialect) -> str | None:
        return None if value is None else json.dumps(list(value), ensure_ascii=False)

    def process_result_value(self, value: str | None, dialect: Dialect) -> list[str] | None:
        return None if value is None else list(json.loads(value))


class JSONValue(TypeDecorator[Any]):
    """Any JSON-serialisable value stored as JSON text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else json.dumps(value, ensure_ascii=False)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


def utc_column(*, nullable: bool = True, index: bool = False) -> Column[datetime]:
    """A column of aware UTC datetimes (`UTCDateTime`)."""
    return Column(UTCDateTime(), nullable=nullable, index=index)
