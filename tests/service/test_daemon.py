"""`monitor run` as a real process: polls on schedule, survives bad feeds, stops cleanly."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.support.configs import item, rss, write_config
from tests.support.feed_server import FeedServer, Response, closed_port


def wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def scalar(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def items_in(db: Path) -> int:
    return scalar(db, "SELECT count(*) FROM item")


def test_daemon_polls_new_items_and_stops_on_sigterm(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    items = [item(1)]
    feed_server.route("/live.xml", lambda _r: Response(rss(items)))
    feed_server.route("/html.xml", Response("<html>not a feed</html>", content_type="text/html"))
    config = write_config(
        tmp_path,
        feeds=[
            {"url": feed_server.url("/live.xml"), "name": "Live", "interval": 1},
            {"url": feed_server.url("/html.xml"), "name": "Broken", "interval": 1},
            {"url": f"http://127.0.0.1:{closed_port()}/x.xml", "name": "Down", "interval": 1},
        ],
        watchlists=[{"name": "Starlink", "terms": ["Starlink"]}],
        monitor={"fetch": {"min_interval": 1}},
    )
    db = tmp_path / "monitor.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "run", "--config", str(config.directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert wait_for(lambda: items_in(db) == 1), "first poll did not store the item"
        items.append(item(2, "Starlink launches again"))
        assert wait_for(lambda: items_in(db) == 2), "the daemon did not pick up the new item"
        sent = "SELECT count(*) FROM delivery WHERE state = 'sent'"
        assert wait_for(lambda: scalar(db, sent) == 1), "the alert was not sent"
        assert proc.poll() is None, "the daemon died"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        stop_time = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert stop_time < 10
    assert "Story number 2" in out and "Starlink" in out  # the console channel printed it
    assert '"feed": "Broken"' in err and '"status": "error"' in err
    assert "daemon_stopped" in err
