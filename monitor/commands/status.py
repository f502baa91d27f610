"""``monitor status [--json]``: every feed's health and the outbox, from the database.

A table of the active feeds (health, last success, error streak, next poll, items per day
over the last 7 days, adaptive interval), then the outbox (alerts by state, the oldest
waiting past its due time), admin notices and the open incidents. ``--json`` prints the
same as one JSON document for scripts. Read-only: it never migrates nor writes; a
database at another schema revision is refused with the command that fixes it.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from monitor.clock import SystemClock
from monitor.commands.common import load
from monitor.core.feed_health import HealthPolicy, feed_condition, human_duration
from monitor.errors import StorageError
from monitor.service.feed_health import policy_from_settings
from monitor.store import health as health_store
from monitor.store.database import Database
from monitor.store.migrate import check_schema, head_revision


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``monitor status`` (for cli.py)."""
    parser.add_argument("--json", action="store_true", help="one JSON document, for scripts")


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def status_report(conn: Connection, now: datetime, policy: HealthPolicy) -> dict[str, Any]:
    """Everything ``monitor status`` shows, as plain JSON-ready data."""
    signals = {s.feed_id: s for s in health_store.feed_signals(conn)}
    feeds = []
    for f in health_store.feed_status(conn, now):
        signal = signals.get(f.id)
        feeds.append(
            {
                "name": f.name,
                "url": f.url,
                "health": feed_condition(signal, now, policy) if signal else "unknown",
                "last_status": f.last_status,
                "last_success_at": _iso(f.last_success_at),
                "last_polled_at": _iso(f.last_polled_at),
                "error_streak": f.error_streak,
                "last_error": f.last_error,
                "next_poll_at": _iso(f.next_poll_at),
                "items_per_day": None if f.items_per_day is None else round(f.items_per_day, 2),
                "interval_s": None if f.interval_s is None else round(f.interval_s),
                "missed_polls": f.missed_polls,
            }
        )
    outbox = health_store.outbox_status(conn, now)
    incidents = [
        {
            "feed": i.feed,
            "kind": i.kind,
            "opened_at": _iso(i.opened_at),
            "announced": i.announced,
            "detail": i.detail,
        }
        for i in health_store.incidents(conn, open_only=True)
    ]
    return {
        "generated_at": now.isoformat(),
        "feeds": feeds,
        "outbox": {
            "deliveries": outbox.deliveries,
            "notices": outbox.notices,
            "oldest_waiting_at": _iso(outbox.oldest_due_at),
            "oldest_waiting_s": round(outbox.oldest_age_s(now), 1),
        },
        "incidents": incidents,
    }


def _ago(value: str | None, now: datetime) -> str:
    if value is None:
        return "never"
    seconds = (now - datetime.fromisoformat(value)).total_seconds()
    return f"{human_duration(seconds)} ago" if seconds >= 0 else f"in {human_duration(-seconds)}"


def _until(value: str | None, now: datetime) -> str:
    if value is None:
        return "-"
    seconds = (datetime.fromisoformat(value) - now).total_seconds()
    return "due" if seconds <= 0 else f"in {human_duration(seconds)}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_status(report: dict[str, Any]) -> str:
    """The human-readable table."""
    now = datetime.fromisoformat(report["generated_at"])
    header = ("FEED", "HEALTH", "LAST SUCCESS", "ERRORS", "NEXT POLL", "ITEMS/DAY", "INTERVAL")
    rows = [header]
    notes: list[str] = []
    for f in report["feeds"]:
        per_day = "-" if f["items_per_day"] is None else f"{f['items_per_day']:.1f}"
        interval = "-" if f["interval_s"] is None else human_duration(f["interval_s"])
        rows.append(
            (
                _clip(f["name"], 32),
                f["health"],
                _ago(f["last_success_at"], now),
                str(f["error_streak"]),
                _until(f["next_poll_at"], now),
                per_day,
                interval,
            )
        )
        if f["error_streak"] and f["last_error"]:
            notes.append(f"  {_clip(f['name'], 32)}: {_clip(f['last_error'], 160)}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if not report["feeds"]:
        lines.append("(no active feeds)")
    if notes:
        lines += ["", "Errors:", *notes]
    outbox = report["outbox"]
    counts = ", ".join(f"{n} {s}" for s, n in sorted(outbox["deliveries"].items())) or "empty"
    lines += ["", f"Outbox: {counts}"]
    if outbox["oldest_waiting_at"]:
        lines.append(f"  oldest alert waiting: {human_duration(outbox['oldest_waiting_s'])}")
    if outbox["notices"]:
        notices = ", ".join(f"{n} {s}" for s, n in sorted(outbox["notices"].items()))
        lines.append(f"Admin notices: {notices}")
    if report["incidents"]:
        lines += ["", "Open incidents:"]
        for i in report["incidents"]:
            who = i["feed"] or "every feed"
            lines.append(f"  {i['kind']} {who} since {_ago(i['opened_at'], now)}")
    return "\n".join(lines)


def _database_exists(url: str) -> bool:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return True
    return Path(parsed.database).expanduser().exists()


def cmd_status(args: argparse.Namespace) -> int:
    """Print the feeds' health and the outbox (``--json`` for scripts)."""
    config = load(args)
    if not _database_exists(config.database_url):
        print(
            "error: no database yet (the daemon creates it when it starts; "
            "or run `monitor db upgrade`)",
            file=sys.stderr,
        )
        return 1
    db = Database(config.database_url, pool_size=1)
    try:
        revision = check_schema(db)
        if revision != head_revision():
            print(
                f"error: the database schema is at {revision or 'nothing'}, this monitor "
                f"needs {head_revision()}: run `monitor db upgrade`",
                file=sys.stderr,
            )
            return 1
        policy = policy_from_settings(config.monitor.health)
        with db.reading() as conn:
            report = status_report(conn, SystemClock().now(), policy)
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    if getattr(args, "json", False):
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(format_status(report))
    return 0
