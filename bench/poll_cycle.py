"""Poll cycles at scale: 10,000 local feeds, 10 % with new items, 1,000,000 stories in the window.

Usage: python -m bench.poll_cycle [--feeds 10000] [--window 1000000] [--cycles 3]
       [--hosts 20] [--quick] [--profile]

No corpus: feeds are generated (synthetic English news written here, 5 items each, on
``--hosts`` loopback addresses 127.0.1.x served by a child process). Every tenth feed
gains two new items on each request; of the others, half answer 304 to the
conditional GET (ETag) and half send the same body again without validators (the
body-hash short-circuit). The database is a SQLite file whose clustering window holds
``--window`` single-item stories, bulk-loaded in a child process by
``bench.bench_cluster_db.build_sqlite`` (synthetic fingerprints), so that the measured
process's memory is the daemon's own. The runtime is the product's (``Runtime.open``,
default fetch settings: 10 requests in flight, 2 per host), with 1,000 watchlist terms
and one console recipient (deliveries are planned, not sent); its clock runs from the
window's date so that every story is inside the window.

A first cycle (each feed's baseline: all its items stored and clustered) is timed and
reported apart; then ``--cycles`` cycles of ``Poller.poll_all`` are timed: wall seconds,
CPU seconds of this process (all threads) and of the server process, resident memory
after each (VmRSS) and the peak (VmHWM). Targets (issue 9): a cycle <= 60 s; resident
memory <= 300 MB with 1,000,000 stories in the window (judged on the peak).
``--profile`` (automatic when the cycle target is missed): one more cycle sampled by
py-spy.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import multiprocessing.connection
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.bench_cluster import START
from bench.bench_match import make_terms, watchlists
from bench.common import (
    OUT,
    ChildServers,
    OffsetClock,
    Reporter,
    Target,
    cpu_seconds,
    emit_profile,
    memory_mb,
    profile_pass,
    stopwatch,
)
from monitor.core.cluster import DEFAULT_SETTINGS
from monitor.core.models import Document, PollSummary
from monitor.logs import setup_logging
from monitor.service.poller import Poller
from monitor.service.runtime import Runtime
from tests.support.configs import write_config

SECTION = "poll cycle"
HOW = "python -m bench.poll_cycle"
ITEMS_PER_FEED = 5
NEW_PER_POLL = 2
MIGRATIONS = Path(__file__).resolve().parent.parent / "monitor/store/migrations/versions"
WINDOW_NOW = START + DEFAULT_SETTINGS.window * 0.9  # every window story is inside the window

# --- synthetic news (written for the benchmark, nothing copied) ---------------------------

_SYLLABLES = (
    "ka", "lo", "mer", "vin", "dra", "so", "tel", "bru", "nov", "ik", "ste", "por", "an",
    "bel", "cor", "dun", "el", "fa", "gor", "hul", "is", "jan", "kel", "lun", "mo", "nar",
    "ol", "pe", "qua", "ri", "sal", "tor", "ur", "ve", "wil", "yar", "zen", "ba", "cu", "di",
)  # fmt: skip
_GLUE = ("the", "of", "and", "in", "to", "a", "for", "on", "with", "said", "after", "over")


def surname(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(3)).capitalize()


def _word(rng: random.Random) -> str:
    """A pseudo-word: 40 syllables give 65,000 words of 2-3 syllables, so two items share
    few words and each is its own story (no text is borrowed from anywhere)."""
    if rng.random() < 0.3:
        return rng.choice(_GLUE)
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 3))))


def news_item(feed: int, number: int, marker: str = "") -> dict[str, str]:
    """Item ``number`` of feed ``feed``: the same text every time it is asked for."""
    rng = random.Random(feed * 1_000_003 + number)
    title = " ".join(_word(rng) for _ in range(8)).capitalize()
    person = f"{surname(rng)} {surname(rng)}"
    text = " ".join(_word(rng) for _ in range(60))
    if marker:
        title = f"{marker}: {title}"
    return {
        "title": f"{title} (ref f{feed}n{number})",
        "link": f"https://news{feed % 997}.example/{feed}/{number}",
        "guid": f"f{feed}-{number}",
        "description": f"{person} {text}.",
    }


def rss_document(
    feed: int, items: Sequence[tuple[int, str]], published: Callable[[int], datetime]
) -> bytes:
    """An RSS 2.0 document of feed ``feed`` with the given (number, marker) items, newest first."""
    parts = []
    for number, marker in items:
        item = news_item(feed, number, marker)
        parts.append(
            "<item>"
            + "".join(f"<{k}>{v}</{k}>" for k, v in item.items())
            + f"<pubDate>{format_datetime(published(number))}</pubDate></item>"
        )
    head = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Feed {feed}</title><link>https://news{feed % 997}.example/</link>"
        "<language>en</language>"
    )
    return (head + "".join(parts) + "</channel></rss>").encode()


def published(number: int) -> datetime:
    return START - timedelta(days=1) + timedelta(minutes=number)


def quiet_body(feed: int) -> bytes:
    """The document a feed without new items always sends."""
    return rss_document(feed, [(n, "") for n in reversed(range(ITEMS_PER_FEED))], published)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha1(body).hexdigest()[:16] + '"'


def feed_kind(feed: int) -> str:
    """busy (new items), etag (answers 304) or plain (same body, no validators)."""
    if feed % 10 == 0:
        return "busy"
    return "etag" if feed % 20 < 10 else "plain"


def host(feed: int, hosts: int) -> str:
    return f"127.0.1.{1 + feed % hosts}"


# --- the feed servers (child process) -----------------------------------------------------


def serve(conn: multiprocessing.connection.Connection, params: Mapping[str, Any]) -> None:
    """Child process: ``hosts`` feed servers (and a Telegram emulator when asked)."""
    from tests.support.feed_server import FeedServer, Request, Response

    hosts, feeds = int(params["hosts"]), int(params["feeds"])

    def quiet(feed: int) -> Response:
        body = quiet_body(feed)
        return Response(body, etag=etag_of(body) if feed_kind(feed) == "etag" else None)

    schedule: dict[str, Any] | None = params.get("schedule")  # alert_latency's timed items

    def started() -> dict[str, Any] | None:
        """The schedule once alert_latency has written its start time, else None."""
        if schedule is not None and "start" not in schedule:
            try:
                begin = float(Path(schedule["start_file"]).read_text())
            except (OSError, ValueError):
                return None
            schedule["stop"] = begin + schedule["duration"]
            schedule["start"] = begin
        return schedule

    def busy(feed: int) -> Callable[[Request], Response]:
        base = [(n, "") for n in reversed(range(ITEMS_PER_FEED))]

        def respond(request: Request) -> Response:
            if schedule is None:
                newest = ITEMS_PER_FEED - 1 + NEW_PER_POLL * request.index
                items = [(n, "") for n in range(newest, newest - ITEMS_PER_FEED, -1)]
            else:
                timed = started()
                items = schedule_items(timed, feed, time.monotonic()) if timed else base
            body = rss_document(feed, items, published)
            return Response(body, etag=etag_of(body))

        return respond

    servers = [FeedServer(host=f"127.0.1.{1 + h}").start() for h in range(hosts)]
    for feed in range(feeds):
        server = servers[feed % hosts]
        server.route(f"/feed/{feed}", busy(feed) if feed_kind(feed) == "busy" else quiet(feed))
    info: dict[str, Any] = {"ports": [s.port for s in servers]}
    emulator = None
    if params.get("telegram"):
        from tests.support.telegram_emulator import TelegramEmulator

        emulator = TelegramEmulator().start()
        info |= {"telegram": emulator.base_url, "token": emulator.token}
    conn.send(info)
    conn.recv()
    result: dict[str, Any] = {"requests": sum(s.hits for s in servers)}
    if emulator is not None:
        result["messages"] = [(m.text, m.at, m.chat_id) for m in emulator.all_messages()]
        emulator.stop()
    for server in servers:
        server.stop()
    conn.send(result)


def schedule_items(schedule: Mapping[str, Any], feed: int, now: float) -> list[tuple[int, str]]:
    """alert_latency's timed feeds: the items that have appeared by ``now`` (monotonic)."""
    appeared = appeared_count(schedule, feed, now)
    newest = ITEMS_PER_FEED - 1 + appeared
    return [(n, marker(schedule, feed, n)) for n in range(newest, newest - ITEMS_PER_FEED, -1)]


def appeared_count(schedule: Mapping[str, Any], feed: int, now: float) -> int:
    """Items of ``feed`` that have appeared by ``now`` (monotonic) after its baseline."""
    if now < schedule["start"]:
        return 0
    phase = random.Random(feed).random() * schedule["gap"]
    elapsed = min(now, schedule["stop"]) - schedule["start"] - phase
    return 0 if elapsed < 0 else int(elapsed // schedule["gap"]) + 1


def appeared_at(schedule: Mapping[str, Any], feed: int, number: int) -> float:
    """When item ``number`` (counted from the first new one, 0) of ``feed`` appeared."""
    phase = random.Random(feed).random() * schedule["gap"]
    return float(schedule["start"] + phase + number * schedule["gap"])


def marker(schedule: Mapping[str, Any], feed: int, number: int) -> str:
    """The latency watchlist term carried by a new item, or "" (most items carry none)."""
    first_new = ITEMS_PER_FEED
    if number < first_new:
        return ""
    rng = random.Random(feed * 7_919 + number)
    if rng.random() >= schedule["share"]:
        return ""
    terms: list[str] = schedule["terms"]
    return rng.choice(terms)


# --- the measured process -----------------------------------------------------------------


def build_window(path: Path, size: int) -> float:
    """Bulk-load the window in a child process (its memory is not the daemon's).

    Built under another name and renamed when complete: an interrupted build leaves no
    file that a later run would take for a cached window.
    """
    context = multiprocessing.get_context("spawn")
    partial = path.with_name(f"{path.name}.partial")
    with stopwatch() as t:
        child = context.Process(target=_build, args=(str(partial), size))
        child.start()
        child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"building the window failed ({child.exitcode})")
    partial.replace(path)
    return t.wall


def _build(path: str, size: int) -> None:
    from bench.bench_cluster_db import build_sqlite

    build_sqlite(Path(path), size, seed=size)


def cached_window(size: int, fresh: bool) -> tuple[Path, float]:
    """A pristine window database of ``size`` stories in bench/out/ (built once), copied to
    a work file; returns the work file and the seconds spent building (0 when cached)."""
    OUT.mkdir(parents=True, exist_ok=True)
    migrations = sorted(p.name for p in MIGRATIONS.glob("*.py"))
    schema = hashlib.sha1(" ".join(migrations).encode()).hexdigest()[:8]
    pristine = OUT / f"window_{size}_{schema}.db"
    built = 0.0
    if fresh or not pristine.exists():
        built = build_window(pristine, size)
    work = Path(tempfile.mkdtemp(prefix="poll_cycle_")) / "monitor.db"
    shutil.copyfile(pristine, work)
    return work, built


def watchlist_config(terms: int) -> list[dict[str, Any]]:
    """``terms`` terms in watchlists of ten (as bench.bench_match), names from the news."""
    documents = []
    for feed in range(200):
        for n in range(ITEMS_PER_FEED):
            item = news_item(feed, n)
            documents.append(Document(title=item["title"], text=item["description"]))
    chosen = make_terms(terms, documents, random.Random(11))
    return [{"name": s.name, "query": s.query} for s in watchlists(chosen)]


def feed_urls(ports: Sequence[int], feeds: int, hosts: int) -> list[str]:
    return [f"http://{host(f, hosts)}:{ports[f % hosts]}/feed/{f}" for f in range(feeds)]


def feed_entries(urls: Sequence[str]) -> list[dict[str, Any]]:
    """The configuration's feeds: one per URL, named by its number, article text off."""
    return [{"url": u, "name": f"feed{n}", "full_text": "never"} for n, u in enumerate(urls)]


async def baselines(rt: Runtime, spread_s: float) -> PollSummary:
    """Every feed past its first poll. The feeds with new items take it through the
    pipeline (their items stored and clustered); then the 90 % that never change get, in
    bulk, the state that poll would leave (validators, baseline done, next poll spread
    over ``spread_s`` from now): their baseline is not what is measured."""
    numbers = {url: int(url.rsplit("/", 1)[1]) for url in rt.poller.feeds}
    busy = [f for u, f in rt.poller.feeds.items() if feed_kind(numbers[u]) == "busy"]
    poller = Poller(rt.poller.ctx, busy, concurrency=rt.config.monitor.fetch.concurrency)
    summary = await poller.poll_all()
    now = rt.clock.now()
    rng = random.Random(5)
    quiet = []
    for url, number in numbers.items():
        if feed_kind(number) == "busy":
            continue
        body = quiet_body(number)
        etag = etag_of(body) if feed_kind(number) == "etag" else None
        digest = hashlib.blake2b(body, digest_size=16).hexdigest()
        due = now + timedelta(seconds=rng.uniform(0, spread_s))
        quiet.append({"url": url, "etag": etag, "hash": digest, "now": now, "due": due})
    with rt.db.writing() as conn:
        conn.execute(
            text(
                "UPDATE feed SET etag = :etag, body_hash = :hash, baseline_done = true, "
                "last_status = 'ok', last_polled_at = :now, last_success_at = :now, "
                "next_poll_at = :due WHERE url = :url"
            ),
            quiet,
        )
    return summary


async def measure(args: argparse.Namespace) -> None:
    database, built_s = cached_window(args.window, args.rebuild)
    print(
        f"window: {args.window:,} stories"
        + (f" (built in {built_s:.0f} s)" if built_s else " (cached build)")
    )
    workdir = database.parent
    log_file = (workdir / "monitor.log").open("w")
    setup_logging("INFO", json=True, stream=log_file)
    params = {"hosts": args.hosts, "feeds": args.feeds}
    with ChildServers(serve, params) as servers:
        urls = feed_urls(servers.info["ports"], args.feeds, args.hosts)
        with stopwatch() as t:
            config = write_config(
                workdir,
                feeds=feed_entries(urls),
                watchlists=watchlist_config(1000),
                database_url=f"sqlite:///{database}",
                monitor={"fetch": {"allow_private_networks": True}},
            )
            rt = await Runtime.open(config, clock=OffsetClock(WINDOW_NOW))
        print(f"configuration loaded and {args.feeds:,} feeds synced in {t.wall:.1f} s")
        try:
            await cycles(rt, servers, args)
        finally:
            await rt.aclose()
            log_file.close()
    shutil.rmtree(workdir, ignore_errors=True)


async def cycles(rt: Runtime, servers: ChildServers, args: argparse.Namespace) -> None:
    out = Reporter(
        SECTION,
        f"{args.feeds:,} local feeds on {args.hosts} loopback hosts (10 % with 2 new items a "
        f"poll, 45 % 304, 45 % same body), {args.window:,} stories in the window, SQLite",
        HOW + (" --quick" if args.quick else f" --feeds {args.feeds} --window {args.window}"),
    )
    with stopwatch() as t:
        summary = await baselines(rt, 600.0)
    print(f"baselines: {t.wall:.1f} s wall, {t.cpu:.1f} s CPU, {summary}")
    out.figure(
        "poll_cycle.baseline_ms_per_item", "Baseline polls per item stored (busy feeds' first "
        "poll)", t.wall / max(1, summary.new_items) * 1e3, "ms",
        note=f"{summary.polled:,} first polls storing and clustering {summary.new_items:,} "
        "items; the other feeds' state was set in bulk",
    )  # fmt: skip
    walls, cpus, servers_cpu, rss = [], [], [], []
    for number in range(args.cycles):
        server_before = cpu_seconds(servers.pid)
        with stopwatch() as t:
            summary = await rt.poller.poll_all()
        walls.append(t.wall)
        cpus.append(t.cpu)
        servers_cpu.append(cpu_seconds(servers.pid) - server_before)
        rss.append(memory_mb())
        print(
            f"cycle {number + 1}: {t.wall:.1f} s wall, {t.cpu:.1f} s CPU (servers "
            f"{servers_cpu[-1]:.1f} s), RSS {rss[-1]:.0f} MB: polled {summary.polled}, "
            f"304 {summary.not_modified}, unchanged {summary.unchanged}, failed "
            f"{summary.failed}, new items {summary.new_items}, alerts {summary.alerts}"
        )
        if summary.failures:
            print("  failures:", *summary.failures[:5], sep="\n    ")
    worst = max(walls)
    cycle = out.figure(
        "poll_cycle.wall_s", "Poll cycle wall time (slowest cycle)", worst, "s",
        Target("<=", 60, "s"),
        note=f"median {statistics.median(walls):.1f} s over {len(walls)} cycles; "
        f"{summary.polled:,} polls, {summary.new_items:,} new items per cycle",
    )  # fmt: skip
    out.figure(
        "poll_cycle.cpu_s", "Poll cycle CPU seconds (daemon process, median)",
        statistics.median(cpus), "s",
        note=f"the local feed servers used {statistics.median(servers_cpu):.1f} s more",
    )  # fmt: skip
    out.figure(
        "poll_cycle.polls_per_s", "Polls per second (slowest cycle)", summary.polled / worst,
        "/s",
    )  # fmt: skip
    peak = memory_mb("VmHWM")
    out.figure(
        "poll_cycle.rss_peak_mb", "Resident memory, peak of the daemon process", peak, "MB",
        Target("<=", 300, "MB"),
        note=f"VmRSS after the cycles {rss[-1]:.0f} MB; window {args.window:,} stories",
    )  # fmt: skip
    if args.profile or cycle.met is False:
        title = f"one steady-state cycle of {args.feeds:,} feeds (every thread)"
        emit_profile("poll_cycle", title, await profile_pass(rt.poller.poll_all, CYCLE_STEPS))


CYCLE_STEPS = {
    "fetch (httpx + guard)": ("Fetcher.fetch",),
    "hash + unchanged check": ("blake2b",),
    "parse + normalise": ("parse_feed",),
    "identity + known items": ("known_identities", "repair_identities", "select_new"),
    "match + fingerprint": ("_understand",),
    "store: new items, stories, outbox": ("store_new_items",),
    "store: quiet poll outcome": ("record_outcome",),
    "load feed state + cadence": ("load_feed", "load_cadence"),
    "logging": ("_proxy_to_logger", "BoundLoggerLazyProxy"),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--feeds", type=int, default=None)
    parser.add_argument("--window", type=int, default=None, help="stories in the window")
    parser.add_argument("--cycles", type=int, default=None)
    parser.add_argument("--hosts", type=int, default=20, help="loopback addresses serving")
    parser.add_argument("--quick", action="store_true", help="1,000 feeds, 100,000 stories")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached window")
    parser.add_argument("--profile", action="store_true", help="profile one more cycle")
    args = parser.parse_args(argv)
    args.feeds = args.feeds or (1000 if args.quick else 10_000)
    args.window = args.window or (100_000 if args.quick else 1_000_000)
    args.cycles = args.cycles or (2 if args.quick else 3)
    started = time.perf_counter()
    asyncio.run(measure(args))
    print(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
