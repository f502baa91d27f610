"""Shared helpers of the benchmark suite: timing, alternation, slopes, figures, servers.

Benchmarks print their figures for people and, for ``bench.run``, one ``@figure {json}``
line per figure and ``@profile {json}`` per profile (``emit``, ``emit_profile``,
``collect``). A ``Figure`` carries its value, ``Target`` and how it was measured;
``bench.report`` turns one run's figures into docs/benchmarks.md. Ratios are measured in
one run with the sides taken ``in_turn`` (forward, then reversed) and a control timing
one side twice; scaling is a ``loglog_slope``. Local servers run in a child process
(``ChildServers``) so their CPU never competes with the measured one for the GIL;
``profile_pass`` samples every thread with py-spy. Must not: reach beyond 127.0.0.0/8,
write in the repository outside bench/out/ and docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
CORPORA = Path(os.environ.get("MONITOR_CORPORA", "/work/shared/corpora"))
FIGURE_PREFIX = "@figure "
PROFILE_PREFIX = "@profile "


def corpus(name: str) -> Path:
    """The default path of a corpus: $MONITOR_CORPORA/<name> (default /work/shared/corpora)."""
    return CORPORA / name


# --- figures -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A target: ``value <op> bound`` (``op`` is ``<=`` or ``>=``)."""

    op: Literal["<=", ">="]
    bound: float
    unit: str = ""

    def met(self, value: float) -> bool:
        return value <= self.bound if self.op == "<=" else value >= self.bound

    def __str__(self) -> str:
        return f"{self.op} {_number(self.bound)}{_spaced(self.unit)}"


@dataclass
class Figure:
    """One measured figure, with its target (if any) and how it was measured."""

    key: str  # stable id, e.g. "pipeline.all_new_ratio"
    label: str
    value: float | None  # None: could not be measured in this run (see note)
    unit: str = ""
    target: Target | None = None
    data: str = ""  # what it was measured on
    how: str = ""  # the command that reproduces it
    note: str = ""
    section: str = ""

    @property
    def met(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        return self.target.met(self.value)

    def shown(self) -> str:
        if self.value is None:
            return "not measured"
        return f"{_number(self.value)}{_spaced(self.unit)}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Figure:
        raw = json.loads(text)
        target = raw.pop("target")
        return cls(**raw, target=Target(**target) if target else None)


@dataclass
class Reporter:
    """Emits the figures of one benchmark, sharing its section, data and command."""

    section: str
    data: str = ""
    how: str = ""
    figures: list[Figure] = field(default_factory=list)

    def figure(
        self,
        key: str,
        label: str,
        value: float | None,
        unit: str = "",
        target: Target | None = None,
        *,
        note: str = "",
        data: str | None = None,
        how: str | None = None,
    ) -> Figure:
        found = Figure(
            key, label, value, unit, target, data or self.data, how or self.how, note, self.section
        )
        self.figures.append(emit(found))
        return found


def emit(figure: Figure) -> Figure:
    """Print a figure for people and for ``bench.run``; returns it."""
    verdict = {True: "met", False: "MISSED", None: ""}[figure.met]
    target = f"  (target {figure.target}: {verdict})" if figure.target else ""
    print(f"{figure.label}: {figure.shown()}{target}", flush=True)
    print(FIGURE_PREFIX + figure.to_json(), flush=True)
    return figure


def emit_profile(key: str, title: str, text: str) -> None:
    """Print a profile (where the time goes) for ``bench.run`` to put in the report."""
    print(text, flush=True)
    print(PROFILE_PREFIX + json.dumps({"key": key, "title": title, "text": text}), flush=True)


def collect(output: str) -> tuple[list[Figure], list[dict[str, str]]]:
    """The figures and profiles printed by a benchmark (its standard output)."""
    figures, profiles = [], []
    for line in output.splitlines():
        if line.startswith(FIGURE_PREFIX):
            figures.append(Figure.from_json(line[len(FIGURE_PREFIX) :]))
        elif line.startswith(PROFILE_PREFIX):
            profiles.append(json.loads(line[len(PROFILE_PREFIX) :]))
    return figures, profiles


def _number(value: float) -> str:
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.1:
        return f"{value:.3f}".rstrip("0").rstrip(".") if magnitude < 1 else f"{value:.2f}"
    return f"{value:.2g}"


def _spaced(unit: str) -> str:
    return unit if not unit or unit in ("x", "%") else f" {unit}"


# --- timing ------------------------------------------------------------------------------


@dataclass
class Timing:
    """Wall and CPU seconds of one measured call (CPU: this process, every thread)."""

    wall: float
    cpu: float


@contextlib.contextmanager
def stopwatch() -> Iterator[Timing]:
    """``with stopwatch() as t: ...`` then ``t.wall`` / ``t.cpu`` (filled on exit)."""
    timing = Timing(0.0, 0.0)
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield timing
    finally:
        timing.wall = time.perf_counter() - wall
        timing.cpu = time.process_time() - cpu


def in_turn(sides: Sequence[T], turn: int) -> list[T]:
    """The sides in forward order on even turns and reversed on odd ones: alternating the
    order of a measurement spreads drift (a warming cache, another job) over all sides."""
    return list(sides) if turn % 2 == 0 else list(reversed(sides))


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of log(y) on log(x): 0 = flat, 1 = linear, 2 = quadratic."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError("need at least two (x, y) points")
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    spread = sum((x - mx) ** 2 for x in lx)
    if spread == 0:
        raise ValueError("the x values must differ")
    return sum((x - mx) * (y - my) for x, y in zip(lx, ly, strict=True)) / spread


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# --- profiles: where the time goes ------------------------------------------------------


IDLE_LEAVES = (
    "_worker (concurrent/futures/thread.py)",  # a pool thread waiting for work
    "select (selectors.py)",  # the event loop waiting for I/O
    "wait (threading.py)",
    "_wait_for_tstate_lock (threading.py)",
)
GENERIC_STEPS: dict[str, tuple[str, ...]] = {
    "event loop callbacks (sockets, wake-ups)": ("Handle._run", "_run_once"),
    "worker-thread hand-off": ("_WorkItem.run",),
}


def _stack_step(frames: Sequence[str], steps: Mapping[str, Sequence[str]]) -> str:
    for frame in reversed(frames):  # the innermost step wins
        for step, patterns in {**steps, **GENERIC_STEPS}.items():
            if any(p in frame for p in patterns):
                return step
    return "other"


def summarise_stacks(
    stacks: Mapping[str, int], steps: Mapping[str, Sequence[str]], *, top: int = 15
) -> str:
    """Collapsed stacks (``a;b;c`` -> samples) as text: samples per pipeline step, then
    the functions with the most samples including callees and on their own. Samples of
    threads waiting (a pool thread without work, the loop in select) are left out."""
    by_step: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    idle = 0
    for stack, count in stacks.items():
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        if frames[-1].endswith(IDLE_LEAVES):
            idle += count
            continue
        step = _stack_step(frames, steps)
        by_step[step] = by_step.get(step, 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
        own[frames[-1]] = own.get(frames[-1], 0) + count
    total = sum(by_step.values()) or 1
    lines = [f"{total:,} busy samples ({idle:,} idle ones left out); by step:"]
    for step, count in sorted(by_step.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {100 * count / total:5.1f}%  {step}")
    lines.append("heaviest functions, callees included:")
    shown = [kv for kv in inclusive.items() if not kv[0].endswith(_PLUMBING)]
    for frame, count in sorted(shown, key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * count / total:5.1f}%  {frame}")
    lines.append("heaviest functions on their own:")
    for frame, count in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * count / total:5.1f}%  {frame}")
    return "\n".join(lines)


_PLUMBING = (
    "(threading.py)", "(concurrent/futures/thread.py)", "(<frozen runpy>)",
    "(asyncio/runners.py)", "(asyncio/base_events.py)", "(asyncio/events.py)",
)  # fmt: skip


def py_spy() -> str | None:
    """The py-spy executable next to this Python, or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")


async def profile_pass(
    run: Callable[[], Awaitable[object]], steps: Mapping[str, Sequence[str]], *, rate: int = 200
) -> str:
    """Run ``run()`` once while py-spy samples this process (every thread, CPU only);
    the samples summarised by step and function."""
    spy = py_spy()
    if spy is None:
        await run()
        return "no profile: py-spy is not installed (pip install py-spy)"
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "stacks.txt"
        command = [spy, "record", "--pid", str(os.getpid()), "--rate", str(rate)]
        command += ["--format", "raw", "--output", str(out), "--nonblocking"]
        sampler = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        await asyncio.sleep(1.0)  # py-spy attaches
        try:
            await run()
        finally:
            sampler.send_signal(signal.SIGINT)
            _, err = await asyncio.wait_for(sampler.communicate(), timeout=60)
        if not out.exists():
            return f"py-spy failed: {err.decode(errors='replace')[-500:]}"
        stacks: dict[str, int] = {}
        for line in out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                stacks[stack] = stacks.get(stack, 0) + int(count)
    return summarise_stacks(stacks, steps)


# --- memory and the clock ----------------------------------------------------------------


def memory_mb(field_name: str = "VmRSS", pid: int | str = "self") -> float:
    """A memory figure of a process from /proc (VmRSS: resident now; VmHWM: its peak)."""
    text = Path(f"/proc/{pid}/status").read_text()
    found = re.search(rf"^{field_name}:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else float("nan")


@dataclass
class OffsetClock:
    """The real clock's pace from another starting date (a window built at a fixed date)."""

    start: datetime
    _origin: float = field(default_factory=time.monotonic)

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self._origin)

    def monotonic(self) -> float:
        return time.monotonic()


# --- servers in a child process ----------------------------------------------------------

ServerMain = Callable[[multiprocessing.connection.Connection, Mapping[str, Any]], None]


class ChildServers:
    """Local servers run by ``main(conn, params)`` in a child process (spawned, so the
    parent's threads and locks are not copied). ``main`` sends one dict describing what
    it serves, waits for ``"stop"``, then sends a dict of results and returns."""

    def __init__(self, main: ServerMain, params: Mapping[str, Any]) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=main, args=(child, dict(params)), daemon=True)
        self.info: dict[str, Any] = {}

    def __enter__(self) -> ChildServers:
        self._process.start()
        if not self._conn.poll(120):
            raise RuntimeError("the server process did not start")
        self.info = self._conn.recv()
        return self

    @property
    def pid(self) -> int:
        return int(self._process.pid or 0)

    def stop(self) -> dict[str, Any]:
        """Stop the servers; what the child reported."""
        if not self._process.is_alive():
            return {}
        self._conn.send("stop")
        result: dict[str, Any] = self._conn.recv() if self._conn.poll(120) else {}
        self._process.join(30)
        return result

    def __exit__(self, *exc: object) -> None:
        if self._process.is_alive():
            with contextlib.suppress(OSError, EOFError):
                self.stop()
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(10)


def cpu_seconds(pid: int | str, children: bool = False) -> float:
    """User + system CPU seconds used so far by a process (from /proc); with ``children``,
    those of its ended children too (cutime + cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11 : 15 if children else 13]) / os.sysconf("SC_CLK_TCK")
