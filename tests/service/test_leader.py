"""Leader election: one leader at a time, and a new one when the leader goes away."""

from __future__ import annotations

import multiprocessing
import time

from sqlalchemy import text

from monitor.service.leader import Leadership
from monitor.store.database import Database


def test_only_one_instance_leads_and_another_takes_over(db: Database) -> None:
    other_db = Database(db.url)
    first, second = Leadership(db), Leadership(other_db)
    try:
        assert first.try_acquire() is True
        assert first.try_acquire() is True  # keeps it
        if db.is_sqlite:  # flock is per open file: a second process is needed (below)
            return
        assert second.try_acquire() is False
        first.release()
        assert second.try_acquire() is True
        assert first.try_acquire() is False
    finally:
        first.release()
        second.release()
        other_db.dispose()


def test_the_lock_dies_with_the_leaders_connection(pg_url: str) -> None:
    db, other = Database(pg_url), Database(pg_url)
    leader, follower = Leadership(db), Leadership(other)
    try:
        assert leader.try_acquire()
        assert leader._conn is not None
        backend = leader._conn.execute(text("SELECT pg_backend_pid()")).scalar()
        leader._conn.commit()
        with other.engine.connect() as admin:  # the leader's connection is killed
            admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": backend})
            admin.commit()
        time.sleep(0.2)
        assert follower.try_acquire() is True
        assert leader.try_acquire() is False  # it notices it lost the lock
    finally:
        leader.release()
        follower.release()
        db.dispose()
        other.dispose()


def _lead_and_wait(
    url: str, ready: multiprocessing.synchronize.Event, done: multiprocessing.synchronize.Event
) -> None:
    database = Database(url)
    lead = Leadership(database)
    assert lead.try_acquire()
    ready.set()
    done.wait(10)


def test_sqlite_leader_lock_is_per_process(sqlite_url: str) -> None:
    ctx = multiprocessing.get_context("fork")
    ready, done = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_lead_and_wait, args=(sqlite_url, ready, done))
    proc.start()
    db = Database(sqlite_url)
    mine = Leadership(db)
    try:
        assert ready.wait(10)
        assert mine.try_acquire() is False
        done.set()
        proc.join(10)
        assert mine.try_acquire() is True  # the leader process is gone
    finally:
        done.set()
        proc.join(5)
        mine.release()
        db.dispose()
