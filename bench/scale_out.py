"""Scale-out: 1, 2 and 3 ``monitor run`` instances on one PostgreSQL database, 5,000 local feeds.

Usage: python -m bench.scale_out [--feeds 5000] [--instances 1,2,3] [--window 60]
       [--warmup 15] [--hosts 20] [--pg postgresql://postgres@127.0.0.1/test] [--quick]

Feeds and servers are ``bench.poll_cycle``'s (10 % gain two items per request, 45 % answer
304, 45 % send the same body). Poll intervals are pinned to 1 s, far below a cycle, so the
instances never run out of due feeds: the figure is the throughput the fleet reaches.
Otherwise the defaults (10 requests in flight, 2 per host, 5 pooled connections), 1,000
watchlist terms, a console recipient. A template database is built once (``monitor db
upgrade``, poll_cycle's first polls, feeds parked); per instance count: a copy, fresh feed
servers (URLs renamed to their ports, each busy feed asked once as the first polls did),
N ``monitor run --log-json`` processes started so that their 2-s poll ticks are evenly
spread (each claims every due feed on its tick: the phases decide the split), the feeds
due within 10 s. After ``--warmup`` s, ``--window`` s are measured: polls/s (``poll`` log
lines), items stored/s, CPU s/s (/proc) of the instances, of PostgreSQL (its processes and
this database's sessions, followed each second), of the feed servers, the machine's busy
share; sessions opened, transactions, waits and advisory locks held (pg_stat_*, pg_locks,
each second; a lock by its key's 4 letters); in the logs, warnings, errors, feeds' longest
wait, polls before due (claimed twice). The last lines name the bottleneck from these
figures. Full tier only. Must not: contact anything but 127.0.0.0/8, leave an instance, a
server or a database behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.bench_cluster_db import pg_url
from bench.common import ChildServers, Reporter, cpu_seconds, stopwatch
from bench.poll_cycle import (
    baselines,
    feed_entries,
    feed_kind,
    feed_urls,
    serve,
    watchlist_config,
)
from monitor.logs import setup_logging
from monitor.service.daemon import Daemon
from monitor.service.runtime import Runtime
from tests.support.configs import write_config

MONITOR = [sys.executable, "-m", "monitor.cli"]
DATABASE, BASE = "bench_scale", "bench_scale_base"
TICK_S = float((Daemon.__init__.__kwdefaults__ or {}).get("poll_tick_s", 2.0))
SPREAD_S = 10.0  # once every instance runs, the feeds fall due over this many seconds
CLK, CORES = os.sysconf("SC_CLK_TCK"), os.cpu_count() or 1
BACKEND = re.compile(r"postgres: [^:]+: (?:autovacuum worker (\S+)|\S+ (\S+) \S+\(\d+\))")
SESSIONS = """SELECT a.datname = %s, a.state, a.wait_event_type, a.wait_event,
 (SELECT l.objid FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted AND l.locktype = 'advisory'
  LIMIT 1),
 (SELECT array_agg(l.objid) FROM pg_locks l WHERE l.pid = a.pid AND l.granted
  AND l.locktype = 'advisory')
 FROM pg_stat_activity a WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()"""
COUNTERS = "SELECT sessions, xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s"
RELEASE = "UPDATE feed SET next_poll_at = now() + random() * make_interval(secs => %s)"
Procs = list[subprocess.Popen[bytes]]


def machine_cpu() -> float:
    """Busy CPU seconds of all cores since boot (/proc/stat; idle and iowait left out)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / CLK


def postgres_cpu(database: str | None) -> dict[int, float]:
    """pid -> CPU seconds of the PostgreSQL processes: with ``database``, the server's own
    (postmaster, checkpointer, WAL writer ...) and that database's sessions; with None,
    all, the ended ones included (the postmaster's children's times)."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "postgres":
                title = (entry / "cmdline").read_bytes().decode(errors="replace")
                session = BACKEND.match(title.replace("\0", " "))
                if database and session and database not in session.groups():
                    continue
                postmaster = database is None and not title.startswith("postgres:")
                found[int(entry.name)] = cpu_seconds(entry.name, children=postmaster)
        except OSError:  # the process ended meanwhile
            continue
    return found


@dataclass
class Result:
    n: int
    phases: list[float] = field(default_factory=list)  # of the poll ticks, from the first
    seconds: float = 0.0
    t0: float = 0.0  # the window, epoch seconds (as the instances' log stamps)
    t1: float = 0.0
    polls: list[int] = field(default_factory=list)  # per instance, inside the window
    statuses: Counter[str] = field(default_factory=Counter)
    items: int = 0  # rows added to ``item`` in the window
    monitor: list[float] = field(default_factory=list)  # CPU s per instance
    pg_seen: dict[int, list[float]] = field(default_factory=dict)  # pid -> CPU first, last
    pg_all: float = 0.0
    server: float = 0.0
    busy: float = 0.0
    sessions: int = 0  # PostgreSQL sessions opened on the database
    xacts: int = 0
    samples: int = 0
    waits: Counter[str] = field(default_factory=Counter)  # active sessions by wait
    held: Counter[str] = field(default_factory=Counter)  # samples an advisory lock was held
    problems: Counter[str] = field(default_factory=Counter)
    claimed: int = 0  # feeds leased to an instance at the end of the window
    early: int = 0  # polls of a feed started before it was due again (two claims)
    longest: float = 0.0  # longest wait of a feed between two polls, in the window
    stop_s: list[float] = field(default_factory=list)

    @property
    def pg(self) -> float:
        """CPU s of the server's own processes and this database's sessions in the window
        (followed each second: a session that ended lost at most its last second)."""
        return sum(last - first for first, last in self.pg_seen.values())

    @property
    def total(self) -> int:
        return sum(self.polls)

    @property
    def cpu(self) -> float:
        return sum(self.monitor)

    def rate(self, value: float) -> float:
        return value / self.seconds if self.seconds else 0.0

    def shares(self, counts: Counter[str]) -> str:
        """The most frequent of ``counts`` as shares of the samples."""
        return ", ".join(f"{k} {v / max(1, self.samples):.2f}" for k, v in counts.most_common(4))


def reset_database(admin: str, name: str, template: str = "", create: bool = True) -> str:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' * bool(template)))
    return pg_url(admin, name)


def fleet_config(workdir: Path, args: argparse.Namespace, ports: list[int], url: str) -> Any:
    feeds = feed_entries(feed_urls(ports, args.feeds, args.hosts))
    fetch = {"min_interval": 1, "default_interval": 1, "max_interval": 1, "deadline_s": 30}
    return write_config(workdir, feeds=feeds, watchlists=args.terms, database_url=url,
                        monitor={"fetch": fetch})  # fmt: skip


def build_base(args: argparse.Namespace) -> list[int]:
    """The template database: migrated, the first polls done, every feed parked (due in a
    day); returns the ports its feed URLs name."""
    workdir = Path(tempfile.mkdtemp(prefix="scale_out_"))
    with ChildServers(serve, {"hosts": args.hosts, "feeds": args.feeds}) as servers:
        url, ports = reset_database(args.pg, BASE), list(servers.info["ports"])
        config = fleet_config(workdir, args, ports, url)
        upgrade = ["db", "upgrade", "--config", str(workdir)]
        done = subprocess.run(MONITOR + upgrade, capture_output=True, text=True, check=True)
        with stopwatch() as took:
            summary = asyncio.run(first_polls(config))
        print(f"template {BASE}: {done.stdout.strip()}; first polls: {summary.polled} busy "
              f"feeds, {summary.new_items} items stored in {took.wall:.0f} s")  # fmt: skip
    shutil.rmtree(workdir, ignore_errors=True)
    return ports


async def first_polls(config: Any) -> Any:
    rt = await Runtime.open(config)
    try:
        summary = await baselines(rt, 0.0)
        with rt.db.writing() as conn:
            conn.exec_driver_sql("UPDATE feed SET next_poll_at = now() + interval '1 day'")
    finally:
        await rt.aclose()
    return summary


def start_fleet(n: int, config: Path, procs: Procs) -> list[float]:
    """Start ``n`` instances into ``procs`` one after another, each timed (from the last
    start-up's length) so that its ticks fall between the others'; one that starts more
    than 0.2 s off is stopped and started again (twice at most: no feed is due yet).
    Returns their ticks' phases: s after the first instance's, modulo the tick."""
    command = [*MONITOR, "run", "--log-json", "--config", str(config)]
    starts: list[float] = []
    startup, clock = 0.0, time.monotonic()
    for i, attempt in itertools.product(range(n), range(3)):
        if len(procs) > i:  # started well already
            continue
        want = i * TICK_S / n  # the phase wanted
        target = (starts[0] if starts else 0.0) + want - startup
        target += TICK_S * math.ceil(max(0.0, time.time() - target) / TICK_S)
        time.sleep(max(0.0, target - time.time()) if starts else 0.0)
        spawned, log = time.time(), config / f"instance{i}.log"
        with log.open("wb") as err, log.with_suffix(".out").open("wb") as out:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    cwd=config)  # fmt: skip
        try:
            at = wait_started(proc, log)
        finally:
            procs.append(proc)
        startup = at - spawned
        phase = (at - starts[0]) % TICK_S if starts else 0.0
        if abs((phase - want + TICK_S / 2) % TICK_S - TICK_S / 2) > 0.2 and attempt < 2:
            stop_fleet([procs.pop()])  # to start it again
            continue
        starts.append(at)
    print(f"  {n} instance(s) started in {time.monotonic() - clock:.0f} s")
    return [(s - starts[0]) % TICK_S for s in starts]


def wait_started(proc: subprocess.Popen[bytes], log: Path) -> float:
    """When the instance logged ``daemon_started`` (its first poll tick), epoch seconds."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        for raw in log.read_text(errors="replace").splitlines():
            if '"daemon_started"' in raw:
                return datetime.fromisoformat(json.loads(raw)["timestamp"]).timestamp()
        time.sleep(0.1)
    raise RuntimeError(f"instance {proc.pid} did not start:\n{log.read_text()[-2000:]}")


def stop_fleet(procs: Procs) -> list[float]:
    """SIGTERM every instance at once; seconds each took to exit (at most 60: then killed)."""
    began = time.monotonic()
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    took = []
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.1, began + 60 - time.monotonic()))
        took.append(time.monotonic() - began)
    return took


def run_fleet(n: int, args: argparse.Namespace, base_ports: list[int]) -> Result:
    """N instances on a copy of the template database, fresh feed servers (the feeds' URLs
    renamed to their ports; each busy feed asked once, as by the first polls)."""
    result = Result(n)
    workdir = Path(tempfile.mkdtemp(prefix="scale_out_"))
    procs: Procs = []
    try:
        with ChildServers(serve, {"hosts": args.hosts, "feeds": args.feeds}) as servers:
            url, ports = reset_database(args.pg, DATABASE, BASE), servers.info["ports"]
            dsn = url.replace("+psycopg", "")
            urls = feed_urls(ports, args.feeds, args.hosts)
            renamed = zip(urls, feed_urls(base_ports, args.feeds, args.hosts), strict=True)
            with psycopg.connect(dsn) as conn:
                conn.cursor().executemany("UPDATE feed SET url = %s WHERE url = %s", renamed)
            with httpx.Client() as client:
                for f in (f for f in range(args.feeds) if feed_kind(f) == "busy"):
                    client.get(urls[f]).raise_for_status()
            fleet_config(workdir, args, ports, url)
            result.phases = start_fleet(n, workdir, procs)
            with psycopg.connect(dsn) as conn:  # every feed due within SPREAD_S
                conn.execute(RELEASE, (SPREAD_S,))
            time.sleep(args.warmup)
            measure(result, args, procs, servers.pid, dsn)
            result.stop_s = stop_fleet(procs)
        read_logs(result, sorted(workdir.glob("instance*.log")))
    except BaseException:
        print(f"  failed; the instances' logs are kept in {workdir}", flush=True)
        raise
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reset_database(args.pg, DATABASE, create=False)
    return result


def measure(result: Result, args: argparse.Namespace, procs: Procs,
            server: int, dsn: str) -> None:  # fmt: skip
    """The window: CPU of every side, items stored, PostgreSQL's counters and waits."""
    pids = [p.pid for p in procs]
    with (
        psycopg.connect(args.pg, autocommit=True) as admin,
        psycopg.connect(dsn, autocommit=True) as own,
    ):
        items0 = own.execute("SELECT count(*) FROM item").fetchone()
        counters0 = admin.execute(COUNTERS, (DATABASE,)).fetchone()
        mon0, all0, srv0 = [cpu_seconds(p) for p in pids], postgres_cpu(None), cpu_seconds(server)
        result.pg_seen = {pid: [cpu, cpu] for pid, cpu in postgres_cpu(DATABASE).items()}
        busy0, result.t0, began = machine_cpu(), time.time(), time.monotonic()
        while (left := began + args.window - time.monotonic()) > 0:
            time.sleep(min(1.0, left))
            sample(result, admin.execute(SESSIONS, (DATABASE,)).fetchall())
        result.seconds, result.t1 = time.monotonic() - began, time.time()
        result.monitor = [cpu_seconds(p) - c for p, c in zip(pids, mon0, strict=True)]
        result.pg_all = sum(postgres_cpu(None).values()) - sum(all0.values())
        result.server, result.busy = cpu_seconds(server) - srv0, machine_cpu() - busy0
        items1 = own.execute("SELECT count(*) FROM item").fetchone()
        claimed = own.execute("SELECT count(*) FROM feed WHERE lease_until > now()").fetchone()
        counters1 = admin.execute(COUNTERS, (DATABASE,)).fetchone()
    assert items0 and items1 and counters0 and counters1 and claimed
    result.items, result.claimed = items1[0] - items0[0], claimed[0]
    result.sessions, result.xacts = (b - a for a, b in zip(counters0, counters1, strict=True))


def sample(result: Result, sessions: list[tuple[Any, ...]]) -> None:
    """Active sessions by what they wait on; advisory locks held inside a transaction (the
    leader's session lock is held by an idle session: not counted)."""
    result.samples += 1
    for pid, cpu in postgres_cpu(DATABASE).items():
        result.pg_seen.setdefault(pid, [0.0, 0.0])[1] = cpu  # born in the window: from 0
    held: set[str] = set()
    for mine, state, kind, name, lock, locks in sessions:
        if mine and state == "active":
            result.waits[f"{kind}:{name}{tag(lock)}" if kind else "on CPU"] += 1
        for key in locks or () if mine and state in ("active", "idle in transaction") else ():
            held |= {f"{tag(key).strip()} held", f"{tag(key).strip()} held, {state}"}
    result.held.update(held)


def tag(lock: int | None) -> str:
    """An advisory lock by its key's four letters (the product's keys spell a word)."""
    return f" '{int(lock).to_bytes(4, 'big').decode('ascii', 'replace')}'" if lock else ""


def read_logs(result: Result, logs: list[Path]) -> None:
    """Polls in the window per instance, feeds' waits; over the whole run, problems and
    polls started less than 0.85 s after the feed's previous one (its interval is 1 s,
    jittered by 10 %, from the start of a poll): the feed was claimed twice."""
    spans: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    for i, log in enumerate(logs):
        count = 0
        for raw in log.read_text(errors="replace").splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                result.problems[f"not JSON: {raw[:90]}"] += 1
                continue
            if line.get("event") != "poll":
                if line.get("level") in ("warning", "error", "critical"):
                    result.problems[f"{line['level']} {line.get('event')}"] += 1
                continue
            at = datetime.fromisoformat(line["timestamp"]).timestamp()
            spans[line["feed"]].append((at - line.get("duration_ms", 0) / 1e3, at, i))
            if line["status"] in ("error", "throttled"):
                result.problems[f"poll {line['status']}: {str(line.get('error'))[:90]}"] += 1
            if result.t0 <= at <= result.t1:
                count += 1
                result.statuses[line["status"]] += 1
        result.polls.append(count)
    for runs in spans.values():
        runs.sort()
        result.early += sum(b[0] < a[0] + 0.85 for a, b in itertools.pairwise(runs))
        marks = [start for start, _, _ in runs if start < result.t1] + [result.t1]
        waits = [b - a for a, b in itertools.pairwise(marks) if b >= result.t0]
        result.longest = max([result.longest, *waits])


def report(results: list[Result], args: argparse.Namespace) -> None:
    head = ("instances", "polls/s", "items/s", "split", "monitor CPU", "database CPU",
            "server CPU", "other CPU", "machine busy")  # fmt: skip
    print("  ".join(f"{h:>9}" for h in head))
    for r in results:
        other = r.busy - r.cpu - r.pg - r.server
        cells = (r.n, f"{r.rate(r.total):.0f}", f"{r.rate(r.items):.1f}",
                 "/".join(f"{r.rate(p):.0f}" for p in r.polls),
                 *(f"{r.rate(v):.2f} s/s" for v in (r.cpu, r.pg, r.server, other)),
                 f"{100 * r.rate(r.busy) / CORES:.0f} %")  # fmt: skip
        print("  ".join(f"{c:>{max(9, len(h))}}" for c, h in zip(cells, head, strict=True)))
    for r in results:
        print(
            f"{r.n} instance(s), {r.seconds:.0f} s: ticks at +"
            + "/".join(f"{p:.2f}" for p in r.phases) + f" s; polls {dict(r.statuses)}; CPU per "
            f"poll: monitor {1e3 * r.cpu / max(1, r.total):.2f} ms, PostgreSQL "
            f"{1e3 * r.pg / max(1, r.total):.2f} ms; per instance "
            + "/".join(f"{r.rate(c):.2f}" for c in r.monitor) + " CPU s/s\n"
            f"  PostgreSQL: {r.rate(r.xacts):.0f} transactions/s, {r.sessions} sessions opened "
            f"(all of PostgreSQL, ended sessions and other databases: {r.rate(r.pg_all):.2f} "
            f"CPU s/s); sessions active on average {sum(r.waits.values()) / max(1, r.samples):.2f}"
            f" ({r.shares(r.waits) or 'none'}); share of samples {r.shares(r.held) or '-'}\n"
            f"  feeds claimed at the end: {r.claimed}; longest wait of a feed between polls "
            f"{r.longest:.0f} s; polls before the feed was due (claimed twice): {r.early}; "
            "SIGTERM to exit: " + "/".join(f"{s:.0f}" for s in r.stop_s) + " s"
        )  # fmt: skip
        for problem, count in r.problems.most_common(8):
            print(f"  log: {count} x {problem}")
    lines = bottleneck(results)
    print(*lines, sep="\n")
    out = Reporter(
        "scale out",
        f"{args.feeds:,} local feeds (poll interval 1 s; 10 % with 2 new items a poll, 90 % 304 "
        f"or the same body), `monitor run` instances on one PostgreSQL database, {CORES} cores",
        "python -m bench.scale_out" + (" --quick" if args.quick else ""),
    )
    for r in results:
        note = (
            f"{r.rate(r.items):.1f} new items/s; CPU s/s: monitor {r.rate(r.cpu):.2f}, "
            f"PostgreSQL {r.rate(r.pg):.2f}, feed servers {r.rate(r.server):.2f}; machine "
            f"{100 * r.rate(r.busy) / CORES:.0f} % busy"
        )
        label = f"Polls per second, {r.n} instance" + "s" * (r.n > 1)
        out.figure(f"scale_out.polls_per_s_{r.n}", label, r.rate(r.total), "/s", note=note)
    one, last = results[0], results[-1]
    if last is not one and one.total:
        gain, label = last.rate(last.total) / one.rate(one.total), f"{last.n} instances / {one.n}"
        out.figure(f"scale_out.gain_{last.n}", f"Polls per second, {label}", gain, "x",
                   note=" ".join(lines[-2:]))  # fmt: skip


def bottleneck(results: list[Result]) -> list[str]:
    """What limits the fleet, read off the measurement."""
    lines = []
    for a, b in itertools.pairwise(results):
        gain = b.rate(b.total) / max(1e-9, a.rate(a.total))
        lines.append(f"{a.n} -> {b.n} instances: polls/s x{gain:.2f} (linear: x{b.n / a.n:.2f})")
    one, last = results[0], results[-1]
    top = max(one.rate(c) for c in one.monitor)
    own = "about a core: bound by its own event loop" if top >= 0.85 else "less than a core"
    lines.append(f"{one.n} instance: {top:.2f} CPU s/s in its process, {own}")
    busy = last.rate(last.busy)
    parts = {"monitor instances": last.rate(last.cpu), "PostgreSQL": last.rate(last.pg),
             "feed servers": last.rate(last.server)}  # fmt: skip
    other = busy - sum(parts.values())
    shares = ", ".join(f"{k} {v:.2f}" for k, v in sorted(parts.items(), key=lambda kv: -kv[1]))
    lines.append(f"{last.n} instance(s): the {CORES} cores are {100 * busy / CORES:.0f} % busy "
                 f"({busy:.2f} CPU s/s: {shares}, other processes {other:.2f})")  # fmt: skip
    main = max(parts, key=parts.__getitem__)
    lines.append(
        f"bottleneck: CPU: the {CORES} cores are saturated, {main} taking the most "
        f"({parts[main]:.2f} of {busy:.2f} CPU s/s)"
        if busy / CORES >= 0.85
        else f"bottleneck: not the cores ({100 * busy / CORES:.0f} % busy)"
    )
    if other >= 0.2:
        lines[-1] += f"; other processes took {other:.2f} CPU s/s (not a quiet machine)"
    waits = [(k, v / max(1, last.samples)) for k, v in last.waits.items() if k.startswith("Lock")]
    for wait, count in sorted(waits, key=lambda kv: -kv[1])[:1]:
        key = wait.partition(" ")[2]
        held = last.held[f"{key} held"] / max(1, last.samples)
        idle = last.held[f"{key} held, idle in transaction"] / max(1, last.samples)
        stored = last.rate(last.statuses["ok"])
        lines.append(
            f"and the writers queue on one lock: {count:.2f} sessions wait for {wait} on "
            f"average; it is held in {100 * held:.0f} % of the samples ({100 * idle:.0f} % by a "
            f"session idle in transaction: the instance works while holding it); at "
            f"{stored:.1f} storing polls/s that is ~{1e3 * held / max(stored, 1e-9):.0f} ms each"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--feeds", type=int, default=None)
    parser.add_argument("--instances", default=None, help="comma-separated, e.g. 1,2,3")
    parser.add_argument("--window", type=float, default=None, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=None, help="seconds before the window")
    parser.add_argument("--hosts", type=int, default=20, help="loopback addresses serving")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--quick", action="store_true", help="1,000 feeds, 1-2 instances, 15 s")
    args = parser.parse_args(argv)
    args.feeds = args.feeds or (1000 if args.quick else 5000)
    counts = [int(n) for n in (args.instances or ("1,2" if args.quick else "1,2,3")).split(",")]
    args.window = args.window or (15.0 if args.quick else 60.0)
    args.warmup = args.warmup or (8.0 if args.quick else 15.0)
    started, results = time.perf_counter(), []
    with tempfile.TemporaryFile("w") as stream:  # this process's log (the first polls)
        setup_logging("INFO", json=True, stream=stream)
        args.terms = watchlist_config(1000)
        try:
            ports = build_base(args)
            for n in counts:
                print(f"== {n} instance(s)", flush=True)
                results.append(run_fleet(n, args, ports))
        finally:
            reset_database(args.pg, BASE, create=False)
    report(results, args)
    print(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
