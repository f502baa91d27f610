"""The demo: serve sample feeds on 127.0.0.1, poll them three times, print the alerts.

Cycle 1 is the baseline (existing items stored, nothing alerted); cycle 2 brings new
items, alerts go through the outbox to the console channel; cycle 3 shows that an
unchanged feed costs a conditional GET (304) and nothing else. The database is a
fresh SQLite file under ./state/demo/ so the demo can be run again and again.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from monitor.commands.run_cmds import format_summary
from monitor.config import load_config
from monitor.core.query import validate_query
from monitor.demo.server import DemoServer, DemoSite
from monitor.service.runtime import Runtime


def fresh_database(state_dir: Path) -> Path:
    """An empty SQLite file path under ``state_dir`` (a previous demo's file is removed)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    db_file = state_dir / "monitor.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    return db_file


async def run_demo(
    config_dir: Path, *, database: Path, port: int = 0, out: TextIO | None = None
) -> int:
    out = out or sys.stdout
    site = DemoSite()
    with DemoServer(site, port) as server:
        environ = {**os.environ, "MONITOR_DEMO_PORT": str(server.port)}
        config = load_config(config_dir, query_validator=validate_query, environ=environ)
        db_file = database
        url = f"sqlite:///{db_file}"
        print(
            f"demo: {len(config.feeds)} sample feeds on http://127.0.0.1:{server.port}/", file=out
        )
        print(f"demo: database {db_file}\n", file=out)
        runtime = await Runtime.open(config, database_url=url, stream=out)
        try:
            for cycle, title in (
                (1, "first poll: a baseline, existing items are stored without alerting"),
                (2, "second poll: new items arrive, alerts go out"),
                (3, "third poll: nothing changed, conditional GET answers 304"),
            ):
                site.cycle = min(cycle, 2)
                print(f"== cycle {cycle}: {title}", file=out)
                started = time.perf_counter()
                summary = await runtime.poller.poll_all()
                sent = await runtime.sender.send_due()
                print(format_summary(summary, sent.sent, time.perf_counter() - started), file=out)
                print(file=out)
        finally:
            await runtime.aclose()
    print(f"demo: done. The items, stories and deliveries are in {db_file} (sqlite3)", file=out)
    return 0


def serve_demo(port: int, *, cycle: int = 2, out: TextIO | None = None) -> int:
    """Serve the sample site until interrupted (for `monitor poll --once` / `monitor run`)."""
    out = out or sys.stdout
    site = DemoSite()
    site.cycle = cycle
    with DemoServer(site, port) as server:
        print(
            f"serving the demo feeds on http://127.0.0.1:{server.port}/feeds/ (cycle {cycle});"
            f" Ctrl-C stops. Try: MONITOR_DEMO_PORT={server.port} monitor poll --once",
            file=out,
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0
