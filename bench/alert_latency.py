"""Alert latency under load: from an item appearing in a local feed to its arrival at the Bot API.

Usage: python -m bench.alert_latency [--feeds 10000] [--interval 60] [--duration 240]
       [--window 1000000] [--hosts 20] [--quick]

The load of ``bench.poll_cycle`` (its feeds, servers and window database): ``--feeds``
generated feeds on loopback addresses, 45 % answering 304, 45 % the same body, and 10 %
where items appear over time, on average one per feed per poll interval, at times
fixed in advance. A small share of those items carries one of ten rare words, each
watched by a watchlist sent to its own Telegram chat (about half an alert a second in
all, well inside Telegram's limits, so the figure is the daemon's and not the rate
shaper's); the 1,000 other watchlist terms have no recipient. The local Telegram Bot
API emulator runs in the feed servers' process and stamps each message on arrival
(monotonic clock, shared by both processes).

The daemon is the product's own (``Daemon``: APScheduler ticks every 2 s claiming due
feeds, the outbox sender polling every second), every feed's poll interval pinned to
``--interval`` (min = default = max interval, so adaptive polling does not move it). The
feeds' baselines are polled first; items then appear for ``--duration`` seconds, and the
daemon runs one interval (plus a margin) longer so that the last ones can arrive.
Figures: p50, p95 and max latency, items delivered of those that appeared, duplicates.
Target (issue 9): p95 <= poll interval + 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import time
from collections import Counter
from typing import Any

from bench.common import ChildServers, OffsetClock, Reporter, Target, percentile, stopwatch
from bench.poll_cycle import (
    ITEMS_PER_FEED,
    WINDOW_NOW,
    appeared_at,
    appeared_count,
    baselines,
    cached_window,
    feed_entries,
    feed_kind,
    feed_urls,
    marker,
    serve,
    watchlist_config,
)
from monitor.logs import setup_logging
from monitor.service.daemon import Daemon
from monitor.service.runtime import Runtime
from tests.support.configs import write_config

SECTION = "alert latency"
HOW = "python -m bench.alert_latency"
TERMS = (
    "Arvandel", "Belmorrow", "Corvantis", "Dravenholt", "Elmsbrooke",
    "Fennimoor", "Galtravia", "Hollowmere", "Istravel", "Jorvikstad",
)  # fmt: skip
ALERTS_PER_S = 0.5
TOKEN_ENV = "BENCH_TELEGRAM_TOKEN"  # the name of the variable holding the token
REF = re.compile(r"ref f(\d+)n(\d+)")


def expected(schedule: dict[str, Any], feeds: int) -> dict[tuple[int, int], float]:
    """(feed, item number) -> when it appeared, for every item carrying a watched word."""
    found = {}
    for feed in range(feeds):
        if feed_kind(feed) != "busy":
            continue
        for n in range(appeared_count(schedule, feed, schedule["stop"])):
            number = ITEMS_PER_FEED + n
            if marker(schedule, feed, number):
                found[(feed, number)] = appeared_at(schedule, feed, n)
    return found


async def measure(args: argparse.Namespace) -> None:
    database, _ = cached_window(args.window, False)
    workdir = database.parent
    log_file = (workdir / "monitor.log").open("w")
    setup_logging("INFO", json=True, stream=log_file)
    busy = sum(feed_kind(f) == "busy" for f in range(args.feeds))
    share = min(1.0, ALERTS_PER_S * args.interval / busy)
    start_file = workdir / "start"
    schedule: dict[str, Any] = {
        "start_file": str(start_file), "gap": float(args.interval), "share": share,
        "terms": list(TERMS), "duration": float(args.duration),
    }  # fmt: skip
    params = {"hosts": args.hosts, "feeds": args.feeds, "telegram": True, "schedule": schedule}
    with ChildServers(serve, params) as servers:
        os.environ[TOKEN_ENV] = servers.info["token"]
        urls = feed_urls(servers.info["ports"], args.feeds, args.hosts)
        interval = int(args.interval)
        config = write_config(
            workdir,
            feeds=feed_entries(urls),
            watchlists=[
                *watchlist_config(1000),
                *({"name": f"latency{j}", "terms": [t]} for j, t in enumerate(TERMS)),
            ],
            database_url=f"sqlite:///{database}",
            monitor={
                "fetch": {
                    "allow_private_networks": True,
                    "min_interval": interval,
                    "default_interval": interval,
                    "max_interval": interval,
                },
                "channels": {
                    "telegram": {"token_env": TOKEN_ENV, "api_base_url": servers.info["telegram"]}
                },
            },
            recipients=[
                {
                    "name": f"desk{j}",
                    "channel": "telegram",
                    "chat_id": 7000 + j,
                    "watchlists": [f"latency{j}"],
                }
                for j in range(len(TERMS))
            ],
        )
        rt = await Runtime.open(config, clock=OffsetClock(WINDOW_NOW))
        try:
            with stopwatch() as t:
                summary = await baselines(rt, args.interval)
            print(f"baselines: {summary.polled:,} busy feeds polled in {t.wall:.0f} s")
            start = time.monotonic() + 2.0
            schedule |= {"start": start, "stop": start + args.duration}
            start_file.write_text(f"{start!r}")
            requests_before = summary.polled
            daemon = Daemon(rt, watch_files=False)
            running = asyncio.create_task(daemon.run())
            ends = schedule["stop"] + args.interval * 1.1 + 10
            await asyncio.wait([running], timeout=max(0.0, ends - time.monotonic()))
            daemon.request_stop("benchmark over")
            await running
            ran = time.monotonic() - start
        finally:
            await rt.aclose()
            log_file.close()
            shutil.rmtree(workdir, ignore_errors=True)
        result = servers.stop()
    report(args, schedule, result, ran, requests_before, share)


def report(
    args: argparse.Namespace,
    schedule: dict[str, Any],
    result: dict[str, Any],
    ran: float,
    requests_before: int,
    share: float,
) -> None:
    wanted = expected(schedule, args.feeds)
    arrivals: dict[tuple[int, int], list[float]] = {}
    for text, at, _chat in result.get("messages", []):
        refs = [(int(f), int(n)) for f, n in REF.findall(text)]
        key = next((r for r in refs if r in wanted), refs[-1] if refs else None)
        if key is not None:  # the matched item (a story's first item may be another)
            arrivals.setdefault(key, []).append(at)
    if args.verbose:
        print("wanted:", sorted(wanted.items())[:20])
        print("messages:", result.get("messages", [])[:10])
    latencies = sorted(min(arrivals[k]) - wanted[k] for k in wanted if k in arrivals)
    duplicates = sum(len(v) - 1 for v in arrivals.values())
    unexpected = Counter(k in wanted for k in arrivals)[False]
    out = Reporter(
        SECTION,
        f"{args.feeds:,} local feeds (10 % with items appearing, 90 % 304 or same body), "
        f"poll interval {args.interval:.0f} s, {args.window:,} stories in the window, "
        f"{len(wanted)} watched items over {args.duration:.0f} s to 10 Telegram chats",
        HOW + (" --quick" if args.quick else f" --feeds {args.feeds} --interval {args.interval}"),
    )
    requests = result.get("requests", 0) - requests_before
    print(
        f"{len(wanted)} watched items appeared; {len(latencies)} delivered, {duplicates} "
        f"duplicate messages, {unexpected} unexpected; {requests:,} feed requests in "
        f"{ran:.0f} s ({requests / ran:.0f}/s; share of items watched {share:.3f})"
    )
    if not latencies:
        out.figure("alert_latency.p95_s", "Alert latency p95", None, "s",
                   Target("<=", args.interval + 5, "s"), note="no alert arrived")  # fmt: skip
        return
    if len(latencies) >= 5:
        deciles = statistics.quantiles(latencies, n=10)
        print("latency deciles (s):", " ".join(f"{d:.1f}" for d in deciles))
    p95 = percentile(latencies, 95)
    out.figure("alert_latency.p50_s", "Alert latency p50", percentile(latencies, 50), "s")
    out.figure(
        "alert_latency.p95_s", "Alert latency p95", p95, "s",
        Target("<=", args.interval + 5, "s"),
        note=f"max {latencies[-1]:.1f} s; poll interval {args.interval:.0f} s, so the wait "
        "for the next poll alone is uniform over about 0-1.1 intervals (10 % jitter)",
    )  # fmt: skip
    out.figure(
        "alert_latency.delivered", "Watched items delivered", 100 * len(latencies) / len(wanted),
        "%", Target(">=", 100, "%"),
        note=f"{len(latencies)} of {len(wanted)}; {duplicates} duplicate messages",
    )  # fmt: skip
    out.figure("alert_latency.feed_requests_per_s", "Feed requests per second during the run",
               requests / ran, "/s")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--feeds", type=int, default=None)
    parser.add_argument("--interval", type=float, default=None, help="poll interval, seconds")
    parser.add_argument("--duration", type=float, default=None, help="seconds items appear")
    parser.add_argument("--window", type=int, default=None, help="stories in the window")
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="1,000 feeds, 10 s interval")
    parser.add_argument("--verbose", action="store_true", help="print the items and messages")
    args = parser.parse_args(argv)
    args.feeds = args.feeds or (1000 if args.quick else 10_000)
    args.interval = args.interval or (10.0 if args.quick else 60.0)
    args.duration = args.duration or (20.0 if args.quick else 240.0)
    args.window = args.window or (100_000 if args.quick else 1_000_000)
    started = time.perf_counter()
    asyncio.run(measure(args))
    print(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
