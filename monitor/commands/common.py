"""Helpers shared by command handlers: loading the configuration, running async code."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

from monitor.config import Config, config_directory, load_config
from monitor.core.query import validate_query
from monitor.errors import ConfigError, StorageError
from monitor.logs import setup_logging
from monitor.store.database import Database
from monitor.store.migrate import upgrade

T = TypeVar("T")


def load(args: argparse.Namespace) -> Config:
    """Load the configuration named by --config / $MONITOR_CONFIG, or exit 1 with every error."""
    directory = config_directory(getattr(args, "config", None))
    try:
        config = load_config(directory, query_validator=validate_query)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in {directory}", file=sys.stderr)
        raise SystemExit(1) from exc
    level = getattr(args, "log_level", None) or config.monitor.log_level
    setup_logging(level, json=getattr(args, "log_json", None))
    return config


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def open_database(config: Config) -> Database:
    """The configured database, migrated to this version's schema (or exit 1 saying why)."""
    db = Database(config.database_url, pool_size=config.monitor.database_pool_size)
    try:
        upgrade(db)
    except StorageError as exc:
        db.dispose()
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    return db
