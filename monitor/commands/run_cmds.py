"""``monitor poll --once``, ``monitor run`` and ``monitor db upgrade``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable

from monitor.commands.common import load, run
from monitor.core.models import PollSummary
from monitor.errors import StorageError
from monitor.service.daemon import Daemon
from monitor.service.runtime import Runtime
from monitor.store.database import Database
from monitor.store.migrate import current_revision, upgrade


def format_summary(summary: PollSummary, sent: int, seconds: float) -> str:
    lines = [
        f"polled {summary.polled} feed(s) in {seconds:.2f} s: "
        f"{summary.polled - summary.failed - summary.not_modified - summary.unchanged} updated, "
        f"{summary.not_modified} not modified, {summary.unchanged} unchanged, "
        f"{summary.failed} failed",
        f"new items: {summary.new_items}; alerts planned: {summary.alerts}; alerts sent: {sent}",
    ]
    lines += [f"  failed: {failure}" for failure in summary.failures]
    return "\n".join(lines)


def with_runtime(args: argparse.Namespace, work: Callable[[Runtime], Awaitable[None]]) -> int:
    """Load the config, open a Runtime, run ``work`` on it, close it; storage errors exit 1."""
    config = load(args)

    async def main() -> None:
        runtime = await Runtime.open(config)
        try:
            await work(runtime)
        finally:
            await runtime.aclose()

    try:
        run(main())
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    """Poll every configured feed once, deliver what is due, print a summary."""

    async def once(runtime: Runtime) -> None:
        started = time.perf_counter()
        summary = await runtime.poller.poll_all()
        report = await runtime.sender.send_due()
        print(format_summary(summary, report.sent, time.perf_counter() - started))

    return with_runtime(args, once)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon until SIGTERM or SIGINT."""

    async def forever(runtime: Runtime) -> None:
        await Daemon(runtime).run()

    return with_runtime(args, forever)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Create or upgrade the database schema to this version's newest revision."""
    config = load(args)
    db = Database(config.database_url)
    try:
        before = current_revision(db)
        after = upgrade(db)
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(f"database schema: {before or 'empty'} -> {after}")
    return 0
