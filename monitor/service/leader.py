"""Leader election between instances sharing one database: exactly one leads.

Work that must run once across instances (Telegram update polling, digests' and
retention's housekeeping) runs only on the leader. On PostgreSQL the leader holds a
session-level advisory lock on a dedicated connection: if the leader dies or loses its
connection, the lock is released by the server and another instance takes over on its
next attempt. On SQLite (one host) an exclusive ``flock`` on a file beside the
database plays the same role, released by the kernel when the process dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from monitor.logs import get_logger
from monitor.store.database import Database

log = get_logger("monitor.leader")

LEADER_LOCK = 0x6D6F6E6C  # "monl": the advisory lock id of the leader


class Leadership:
    """Try to lead; ``is_leader`` says whether this instance leads right now."""

    def __init__(self, db: Database, *, name: str = "leader") -> None:
        self.db = db
        self.name = name
        self._conn: Connection | None = None
        self._file: IO[bytes] | None = None
        self.is_leader = False

    def try_acquire(self) -> bool:
        """One attempt (blocking I/O: call it in a thread); keeps the lock if it has it."""
        if self.is_leader and self._still_held():
            return True
        self._drop()
        if self.db.dialect == "postgresql":
            self.is_leader = self._acquire_pg()
        else:
            self.is_leader = self._acquire_file()
        if self.is_leader:
            log.info("leader_elected", name=self.name, pid=os.getpid())
        return self.is_leader

    def _acquire_pg(self) -> bool:
        conn = self.db.engine.connect()
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK})
            held = bool(got.scalar())
            conn.commit()
        except Exception:
            conn.close()
            raise
        if not held:
            conn.close()  # back to the pool, holding nothing
            return False
        self._conn = conn
        return True

    def _acquire_file(self) -> bool:
        database = make_url(self.db.url).database or "monitor.db"
        path = Path(f"{database}.leader")
        handle = path.open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def _still_held(self) -> bool:
        if self._file is not None:
            return True  # the kernel keeps it for as long as the process lives
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
            return True
        except Exception as exc:  # the connection died: so did the lock
            log.warning("leader_lost", name=self.name, error=repr(exc))
            return False

    def _drop(self) -> None:
        self.is_leader = False
        if self._conn is not None:
            try:  # pooled connections live on: give the lock back explicitly
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_LOCK})
                self._conn.commit()
                self._conn.close()
            except Exception:
                with contextlib.suppress(Exception):
                    self._conn.invalidate()
            self._conn = None
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def release(self) -> None:
        was = self.is_leader
        self._drop()
        if was:
            log.info("leader_released", name=self.name)

    async def keep_trying(self, stop: asyncio.Event, every_s: float = 5.0) -> None:
        """Try to become (or stay) leader every ``every_s`` seconds until ``stop``."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.try_acquire)
            except Exception as exc:  # the database may be restarting: try again later
                log.warning("leader_attempt_failed", error=repr(exc))
                self._drop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)
        await asyncio.to_thread(self.release)
