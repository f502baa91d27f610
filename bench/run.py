"""The benchmark suite's entry point: run every benchmark and evaluation, write docs/benchmarks.md.

Usage: python -m bench.run [--quick] [--corpora DIR] [--only NAME,...] [--report PATH]
       [--render]   (``make bench`` / ``make bench-quick``; corpora: /work/shared/corpora)

Each benchmark runs in its own process, one after another, with its tier's arguments
(``--quick``: about three minutes, smaller loads; full: the sizes the issues name). The
suite's own benchmarks print ``@figure`` lines; ``bench.readers`` read the earlier ones'
tables. The benchmarks are listed in ``bench.catalogue``; ``bench.report`` writes the report.
Every figure goes into the report with its target, verdict, data and command; outputs
are kept in bench/out/ (``--render`` rewrites the report from them). A missing corpus
skips its benchmark. Must not: change product code or copy corpus files.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from bench.catalogue import BENCHES, REMEDIES, Bench
from bench.common import CORPORA, FIGURE_PREFIX, OUT, PROFILE_PREFIX, ROOT, collect
from bench.readers import PARSERS
from bench.report import Section, write_report

LIBRARIES = (
    "feedparser", "lxml", "httpx", "SQLAlchemy", "sqlmodel", "psycopg", "pyahocorasick",
    "trafilatura", "python-telegram-bot", "APScheduler", "pydantic", "structlog",
)  # fmt: skip


def machine() -> dict[str, str]:
    """CPU, cores, memory, OS, Python, SQLite, PostgreSQL and library versions."""
    import sqlite3

    cpuinfo = _read("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    memory = re.search(r"^MemTotal:\s+(\d+)", _read("/proc/meminfo"), re.MULTILINE)
    found = {
        "CPU": model.group(1).strip() if model else platform.processor() or "unknown",
        "cores": str(os.cpu_count()),
        "memory": f"{int(memory.group(1)) / 2**20:.1f} GiB" if memory else "unknown",
        "OS": _os_name(),
        "kernel": platform.release(),
        "Python": sys.version.split()[0],
        "SQLite": sqlite3.sqlite_version,
        "PostgreSQL": _postgres_version(),
    }
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _read(path: str) -> str:
    return Path(path).read_text() if Path(path).exists() else ""


def _os_name() -> str:
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME", platform.platform())
    except OSError:
        return platform.platform()


def _postgres_version() -> str:
    try:
        query = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "SHOW server_version"]
        done = subprocess.run(query, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not reachable"
    return done.stdout.strip().split()[0] if done.returncode == 0 and done.stdout.strip() else "-"


def human_output(output: str, limit: int = 40) -> str:
    """A benchmark's output without the machine-readable lines, at most ``limit`` lines."""
    lines = [
        line for line in output.splitlines() if not line.startswith((FIGURE_PREFIX, PROFILE_PREFIX))
    ]
    if len(lines) > limit:
        lines = [*lines[: limit - 1], f"... ({len(lines) - limit + 1} more lines in bench/out/)"]
    return "\n".join(lines)


def run_bench(bench: Bench, quick: bool, corpora: Path) -> Section:
    """Run one benchmark in its own process; keep its output and how it ran in bench/out/."""
    args = [a.format(corpora=corpora) for a in bench.args(quick)]
    command = " ".join(["python -m", f"bench.{bench.name}", *args])
    if bench.corpus and not (corpora / bench.corpus).exists():
        return Section(bench.name, bench.title, command, 0.0, 0, [], [], bench.about,
                       f"skipped: corpus {corpora / bench.corpus} not found")  # fmt: skip
    print(f"== {command}", flush=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MONITOR_CORPORA": str(corpora)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{bench.name}", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=4 * 3600,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    (OUT / f"{bench.name}.log").write_text(done.stdout + STDERR + done.stderr)
    meta = {"command": command, "seconds": seconds, "returncode": done.returncode, "quick": quick}
    (OUT / f"{bench.name}.meta.json").write_text(json.dumps(meta))
    section = read_section(bench)
    print(f"   {seconds:.0f} s, exit {done.returncode}, {len(section.figures)} figures", flush=True)
    return section


STDERR = "\n[stderr]\n"


def read_section(bench: Bench) -> Section:
    """A benchmark's section of the report, from its output kept in bench/out/."""
    meta = json.loads((OUT / f"{bench.name}.meta.json").read_text())
    stdout, _, stderr = (OUT / f"{bench.name}.log").read_text().partition(STDERR)
    command, code = meta["command"], int(meta["returncode"])
    figures, profiles = collect(stdout)
    reader = PARSERS.get(bench.name)
    if reader is not None:
        figures += reader(stdout)
    for f in figures:
        f.how = command if reader is not None else f.how
        f.section = bench.name
        if f.met is False and f.key in REMEDIES:
            f.note = (f.note.rstrip(".") + ". " if f.note else "") + REMEDIES[f.key]
    output = stdout + (STDERR + stderr[-3000:] if code else "")
    return Section(bench.name, bench.title, command, float(meta["seconds"]), code, figures,
                   profiles, bench.about, human_output(output))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the ~3 minute tier")
    parser.add_argument("--corpora", type=Path, default=CORPORA)
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--report", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--render", action="store_true", help="report from bench/out/ only")
    args = parser.parse_args(argv)
    only = {n for n in args.only.split(",") if n}
    OUT.mkdir(parents=True, exist_ok=True)
    tier = "quick" if args.quick else "full"
    started, clock = datetime.now(UTC), time.perf_counter()
    info = machine()
    sections: list[Section] = []
    for bench in BENCHES:
        if (only and bench.name not in only) or (args.quick and bench.quick is None):
            continue
        if args.render:
            if (OUT / f"{bench.name}.meta.json").exists():
                sections.append(read_section(bench))
            continue
        sections.append(run_bench(bench, args.quick, args.corpora))
        write_report(args.report, sections, tier=tier, started=started,
                     seconds=time.perf_counter() - clock, machine_info=info)  # fmt: skip
    if args.render:  # the date is the report's, the minutes those of the kept run
        write_report(args.report, sections, tier=tier, started=started,
                     seconds=sum(s.seconds for s in sections), machine_info=info)  # fmt: skip
    failed = [s.name for s in sections if s.returncode != 0]
    print(f"report: {args.report} ({(time.perf_counter() - clock) / 60:.1f} min)")
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
