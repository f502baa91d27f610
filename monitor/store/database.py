"""The database handle: engine set-up for SQLite and PostgreSQL, and transactions.

SQLite runs in WAL mode with a busy timeout; write transactions start with
``BEGIN IMMEDIATE`` so that a read-then-write never fails with "database is locked".
Work runs in a worker thread (``await db.read(fn, ...)`` / ``await db.write(fn, ...)``):
``fn`` receives a SQLAlchemy ``Connection`` inside an open transaction.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from monitor.errors import StorageError

P = ParamSpec("P")
T = TypeVar("T")

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
    # 32 MiB page cache per connection (SQLite's default is 2 MiB): the story index's
    # document frequencies and key ranking stay in memory in a big window
    # (bench_cluster_db: assign_story at 100,000 stories 1.39x -> 1.27x the cost at 1,000)
    "PRAGMA cache_size=-32768",
    # checkpoint the WAL every 10,000 pages (~40 MiB; SQLite's default is 1,000): a poll's
    # transaction dirties ~1,000 scattered pages of the story index in a big window, so
    # with the default nearly every commit checkpointed (and synced); now the pages that
    # every poll touches are copied back once per ten. The file is cut back to 64 MiB.
    "PRAGMA wal_autocheckpoint=10000",
    "PRAGMA journal_size_limit=67108864",
)


def _prepare_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str, *, pool_size: int = 5, echo: bool = False) -> Engine:
    """Create an engine; for SQLite the parent directory is created when missing."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}
        )
        _prepare_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_recycle=1800,
        )
    raise StorageError(f"unsupported database_url scheme {parsed.drivername!r}")


class Database:
    """An engine plus the async-friendly way the shell runs transactions on it."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self.dialect = self.engine.dialect.name
        # One in-process writer at a time on SQLite: other processes wait on BEGIN IMMEDIATE.
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read transaction (deferred on SQLite)."""
        with self._translate(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A write transaction: ``BEGIN IMMEDIATE`` on SQLite, committed on success."""
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        try:
            with (
                self._translate(),
                self.engine.connect().execution_options(write=True) as conn,
                conn.begin(),
            ):
                yield conn
        finally:
            if lock is not None:
                lock.release()

    async def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        def run() -> T:
            with self.reading() as conn:
                return fn(conn, *args, **kwargs)

        return await asyncio.to_thread(run)

    async def write(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        def run() -> T:
            with self.writing() as conn:
                return fn(conn, *args, **kwargs)

        return await asyncio.to_thread(run)

    @contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:
            raise StorageError(f"database error: {exc.orig or exc}") from exc

    def dispose(self) -> None:
        self.engine.dispose()
