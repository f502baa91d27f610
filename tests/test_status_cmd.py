"""``monitor status [--json]`` on a real SQLite database built through the store functions."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.commands.status import add_arguments, cmd_status, format_status, status_report
from monitor.config import Config
from monitor.core.feed_health import HealthPlan, HealthPolicy, Opening
from monitor.core.models import Entry, PlannedDelivery
from monitor.store import feeds as feed_store
from monitor.store import health as health_store
from monitor.store import items as item_store
from monitor.store import outbox as outbox_store
from monitor.store.database import Database
from monitor.store.feeds import PollRecord
from monitor.store.migrate import upgrade
from tests.support.configs import write_config


def build(tmp_path: Path, now: datetime) -> Config:
    """Three feeds: one healthy with items, one failing, one never polled; an outbox."""
    config = write_config(
        tmp_path,
        feeds=[
            {"url": "https://good.example/rss", "name": "Good news"},
            {"url": "https://bad.example/rss", "name": "Broken feed"},
            {"url": "https://new.example/rss", "name": "Brand new"},
        ],
    )
    db = Database(config.database_url)
    upgrade(db)
    with db.writing() as conn:
        ids = feed_store.sync_feeds(conn, list(config.feeds), now - timedelta(days=10))
        good, bad = ids["https://good.example/rss"], ids["https://bad.example/rss"]
        for n in range(30):  # three items a day for ten days
            at = now - timedelta(hours=8 * n + 1)
            e = Entry(f"g{n}", f"https://good.example/{n}", None, f"T{n}", "x", at, f"h{n}")
            item_id = item_store.insert_items(conn, good, [e], at)[e.key]
            story = item_store.start_story(conn, item_id, e, at)
            if n < 2:
                planned = [PlannedDelivery("console:desk", "console", ("Starlink",))]
                outbox_store.add_deliveries(
                    conn, story, planned, now - timedelta(minutes=30 * (n + 1))
                )
        conn.exec_driver_sql("UPDATE delivery SET state = 'sent' WHERE id = 1")
        feed_store.record_poll(
            # next poll 7.5 min ahead: still "in 7m" when the command runs seconds later
            conn,
            good,
            PollRecord("ok", now - timedelta(minutes=3), now + timedelta(minutes=7, seconds=30)),
        )
        health_store.save_cadence(conn, good, 420.0, missed=False, now=now)
        failed = PollRecord(
            "error",
            now - timedelta(minutes=1),
            now + timedelta(hours=2),
            error="DeadlineError: 30s",
        )
        for _ in range(6):
            feed_store.record_poll(conn, bad, failed)
        health_store.apply_health_plan(
            conn,
            HealthPlan(opened=(Opening(bad, "failing", "down", True),)),
            now - timedelta(hours=1),
        )
    db.dispose()
    return config


def args(config: Config, *, as_json: bool) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    ns = parser.parse_args(["--json"] if as_json else [])
    ns.config, ns.log_level, ns.log_json = str(config.directory), "ERROR", None
    return ns


def test_status_json_for_scripts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)
    config = build(tmp_path, now)
    assert cmd_status(args(config, as_json=True)) == 0
    report = json.loads(capsys.readouterr().out)
    feeds = {f["name"]: f for f in report["feeds"]}
    good, bad, new = feeds["Good news"], feeds["Broken feed"], feeds["Brand new"]
    assert good["health"] == "ok" and good["error_streak"] == 0
    assert 2.9 <= good["items_per_day"] <= 3.1
    assert good["interval_s"] == 420 and good["last_success_at"] is not None
    assert bad["health"] == "failing" and bad["error_streak"] == 6
    assert bad["last_error"] == "DeadlineError: 30s" and bad["last_success_at"] is None
    assert new["health"] == "new" and new["items_per_day"] is None
    assert report["outbox"]["deliveries"] == {"pending": 1, "sent": 1}
    assert 3500 <= report["outbox"]["oldest_waiting_s"] <= 3700  # the pending one: 60 min
    assert [(i["feed"], i["kind"]) for i in report["incidents"]] == [("Broken feed", "failing")]


def test_status_table_for_people(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)
    config = build(tmp_path, now)
    assert cmd_status(args(config, as_json=False)) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == [
        "FEED",
        "HEALTH",
        "LAST",
        "SUCCESS",
        "ERRORS",
        "NEXT",
        "POLL",
        "ITEMS/DAY",
        "INTERVAL",
    ]
    good = next(line for line in lines if line.startswith("Good news"))
    assert "ok" in good and "3m ago" in good and "in 7m" in good and "3.0" in good
    assert good.rstrip().endswith("7m")
    bad = next(line for line in lines if line.startswith("Broken feed"))
    assert "failing" in bad and "never" in bad and " 6 " in bad
    assert "  Broken feed: DeadlineError: 30s" in lines
    assert "Outbox: 1 pending, 1 sent" in lines
    assert "  oldest alert waiting: 1h" in lines
    assert any(line.startswith("  failing Broken feed since 1h ago") for line in lines)


def test_status_refuses_a_missing_or_old_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, feeds=[{"url": "https://good.example/rss"}])
    assert cmd_status(args(config, as_json=False)) == 1
    assert "no database yet" in capsys.readouterr().err
    db = Database(config.database_url)
    upgrade(db, "0003")
    db.dispose()
    assert cmd_status(args(config, as_json=False)) == 1
    assert "run `monitor db upgrade`" in capsys.readouterr().err


def test_format_status_with_nothing_configured() -> None:
    now = datetime(2026, 11, 25, tzinfo=UTC)
    report = {
        "generated_at": now.isoformat(),
        "feeds": [],
        "outbox": {
            "deliveries": {},
            "notices": {},
            "oldest_waiting_at": None,
            "oldest_waiting_s": 0,
        },
        "incidents": [],
    }
    text = format_status(report)
    assert "(no active feeds)" in text and "Outbox: empty" in text


def test_status_report_in_memory(tmp_path: Path) -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    config = build(tmp_path, now)
    db = Database(config.database_url)
    with db.reading() as conn:
        report = status_report(conn, now, HealthPolicy(failures_before_alert=10))
    db.dispose()
    health = {f["name"]: f["health"] for f in report["feeds"]}
    assert health == {"Good news": "ok", "Broken feed": "erroring", "Brand new": "new"}
