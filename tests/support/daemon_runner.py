"""Run the real daemon (``python -m monitor.cli run``) as a subprocess, and watch it.

    daemon = DaemonProcess(config_dir, env={"TG_TOKEN": tg.token})
    daemon.start()                                  # waits for the "daemon_started" log line
    wait_until(lambda: daemon.db.scalar("SELECT count(*) FROM item") > 3)
    daemon.kill()                                   # kill -9, then reap it
    daemon.start()                                  # the same daemon again (a restart)
    stop = daemon.terminate()                       # SIGTERM: exit code and seconds to exit
    daemon.pause(); daemon.resume(); daemon.hangup()  # SIGSTOP, SIGCONT, SIGHUP

Everything the process writes is captured by reader threads (so a full pipe never
blocks it) and kept in memory and in ``<log_dir>/<name>.log``: ``logs(event)`` returns
the parsed JSON log lines of stderr (the daemon runs with ``--log-json``), ``stdout``
what the console channel printed. ``wait_for_log`` blocks until a matching line
arrives. Several ``DaemonProcess`` objects may share one configuration or database
(multi-instance tests); ``DatabaseReader`` reads the daemon's database, SQLite or
PostgreSQL, through short read transactions of its own. ``Ticker`` runs a test's
background loop (news publishing, sampling) in a thread for the length of a block.

``daemon_settings`` runs the same command line through ``launch`` (below) with other
periods for what monitor.yaml does not set (the feed-health check runs every 60 s).
Test support only: nothing here changes the daemon's state except by signals.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import yaml
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

REPOSITORY = Path(__file__).resolve().parents[2]  # for ``python -m tests.support...``
# Inherited variables that would point the child at a real service manager.
SUPERVISOR_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID")


def wait_until(predicate: Callable[[], object], timeout: float = 20.0, step: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds passed; returns the outcome."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.4999)))
    return ordered[rank - 1]


class Ticker:
    """A daemon thread calling ``tick`` after every ``interval()`` seconds (``every_s``
    unless overridden) from the start of a ``with`` block until its end or ``stopped``."""

    join_s = 5.0  # how long the end of the block waits for the thread

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def interval(self) -> float:
        return self.every_s

    def tick(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self.stopped.wait(self.interval()):
            self.tick()

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopped.set()
        self.thread.join(self.join_s)


@dataclass(frozen=True)
class LogLine:
    """One line the daemon wrote: ``fields`` is the JSON object (empty if not JSON)."""

    at: float  # time.monotonic() when the test read it
    run: int  # which start of the process wrote it (0, 1, ...)
    stream: str  # "stderr" or "stdout"
    raw: str
    fields: Mapping[str, Any]

    @property
    def event(self) -> str | None:
        value = self.fields.get("event")
        return value if isinstance(value, str) else None


@dataclass
class RunRecord:
    """One start of the process and how it ended."""

    pid: int
    started: float
    ready: float | None = None  # when "daemon_started" was logged
    ended: float | None = None
    returncode: int | None = None
    signals: list[tuple[float, str]] = field(default_factory=list)


@dataclass(frozen=True)
class StopResult:
    returncode: int | None  # None: it did not exit within the timeout (then it was killed)
    seconds: float


class DatabaseReader:
    """Short read-only queries against the daemon's database (SQLite or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, poolclass=NullPool)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def rows(self, sql: str, **params: object) -> list[tuple[Any, ...]]:
        """The rows of ``sql``; an empty list while the schema does not exist yet."""
        try:
            with self.engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(sql), params)]
        except Exception as exc:
            if "no such table" in str(exc) or "does not exist" in str(exc):
                return []
            raise

    def scalar(self, sql: str, **params: object) -> Any:
        found = self.rows(sql, **params)
        return found[0][0] if found else None

    def count(self, sql: str, **params: object) -> int:
        return int(self.scalar(sql, **params) or 0)

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check`` on SQLite ("ok" when intact); "ok" on PostgreSQL."""
        if not self.is_sqlite:
            return "ok"
        return str(self.scalar("PRAGMA integrity_check"))

    def close(self) -> None:
        self.engine.dispose()


def database_url_of(config_dir: Path) -> str:
    """The ``database_url`` written in ``monitor.yaml`` (the tests always write one)."""
    doc = yaml.safe_load((Path(config_dir) / "monitor.yaml").read_text()) or {}
    url = doc.get("database_url")
    if not isinstance(url, str):
        raise ValueError(f"{config_dir}/monitor.yaml sets no database_url")
    return url


class DaemonProcess:
    """One daemon instance; ``start`` again after it exited to restart it."""

    def __init__(
        self,
        config_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        name: str = "daemon",
        database_url: str | None = None,
        log_dir: Path | None = None,
        extra_args: Sequence[str] = (),
        keep_lines: int | None = None,
        daemon_settings: Mapping[str, float] | None = None,
    ) -> None:
        self.config_dir = Path(config_dir)
        self.daemon_settings = dict(daemon_settings or {})
        self.name = name
        self.env = dict(env or {})
        self.extra_args = list(extra_args)
        self.log_path = Path(log_dir or self.config_dir) / f"{name}.log"
        self.db = DatabaseReader(database_url or database_url_of(self.config_dir))
        self.runs: list[RunRecord] = []
        self.keep_lines = keep_lines  # None: keep every line in memory
        self._lines: list[LogLine] = []
        self._dropped = 0
        self._cond = threading.Condition()
        self._proc: subprocess.Popen[str] | None = None
        self._readers: list[threading.Thread] = []
        self._log_file = self.log_path.open("a", encoding="utf-8")

    # -- lifecycle ------------------------------------------------------------------

    @property
    def command(self) -> list[str]:
        """``python -m monitor.cli run``; with ``daemon_settings``, through ``launch`` below."""
        args = ["run", "--log-json", "--config", str(self.config_dir), *self.extra_args]
        if self.daemon_settings:
            settings = json.dumps(self.daemon_settings)
            return [sys.executable, "-m", "tests.support.daemon_runner", settings, *args]
        return [sys.executable, "-m", "monitor.cli", *args]

    def child_env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if k not in SUPERVISOR_VARS}
        path = os.pathsep.join(p for p in (str(REPOSITORY), base.get("PYTHONPATH")) if p)
        return {**base, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path, **self.env}

    def start(self, *, wait_ready: bool = True, timeout: float = 30.0) -> DaemonProcess:
        """Start the process (again); by default wait until it logged ``daemon_started``."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.reap()
        proc = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            cwd=self.config_dir,
            env=self.child_env(),
        )
        self._proc = proc
        self.runs.append(RunRecord(proc.pid, time.monotonic()))
        run = len(self.runs) - 1
        assert proc.stdout is not None and proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(s, name, run), daemon=True)
            for s, name in ((proc.stderr, "stderr"), (proc.stdout, "stdout"))
        ]
        for reader in self._readers:
            reader.start()
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Wait for this run's ``daemon_started``; returns seconds since the start."""
        record = self.runs[-1]
        run = len(self.runs) - 1
        line = self.wait_for_log("daemon_started", timeout=timeout, run=run, exited_ok=False)
        record.ready = line.at
        return line.at - record.started

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        if not self.running:
            raise RuntimeError(f"{self.name} is not running")
        assert self._proc is not None
        self.runs[-1].signals.append((time.monotonic(), sig.name))
        self._proc.send_signal(sig)

    def pause(self) -> None:
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)

    def hangup(self) -> None:
        self.signal(signal.SIGHUP)

    def kill(self) -> int | None:
        """kill -9 and reap; returns the exit status (-9)."""
        if self.running:
            self.signal(signal.SIGKILL)
        return self.wait(10.0)

    def terminate(self, timeout: float = 30.0) -> StopResult:
        """SIGTERM and wait up to ``timeout`` s; a process still alive then is killed."""
        began = time.monotonic()
        self.signal(signal.SIGTERM)
        code = self.wait(timeout)
        seconds = time.monotonic() - began
        if code is None:
            self.kill()
        return StopResult(code, seconds)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the process to exit; its exit code, or None if it is still running."""
        if self._proc is None:
            return None
        try:
            code = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.reap()
        return code

    def reap(self) -> None:
        """Collect an exited process: its readers finish and the run record is closed."""
        proc = self._proc
        if proc is None or proc.poll() is None:
            return
        for reader in self._readers:
            reader.join(5.0)
        record = self.runs[-1]
        if record.ended is None:
            record.ended = time.monotonic()
            record.returncode = proc.returncode

    def close(self) -> None:
        """Kill the process if it still runs (test teardown) and release the files."""
        if self.running:
            with contextlib.suppress(RuntimeError):
                self.resume()  # a stopped process must be able to die
            self.kill()
        self.reap()
        self.db.close()
        self._log_file.close()

    def __enter__(self) -> DaemonProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- output ---------------------------------------------------------------------

    def _read(self, stream: Any, name: str, run: int) -> None:
        for raw in stream:
            raw = raw.rstrip("\n")
            fields: Mapping[str, Any] = {}
            if raw.startswith("{"):
                with contextlib.suppress(ValueError):
                    parsed = json.loads(raw)
                    fields = parsed if isinstance(parsed, dict) else {}
            line = LogLine(time.monotonic(), run, name, raw, fields)
            with self._cond:
                self._log_file.write(f"[{run}:{name}] {raw}\n")
                self._lines.append(line)
                if self.keep_lines is not None and len(self._lines) > 2 * self.keep_lines:
                    self._dropped += len(self._lines) - self.keep_lines
                    del self._lines[: len(self._lines) - self.keep_lines]
                self._cond.notify_all()
        with self._cond:
            self._log_file.flush()
            self._cond.notify_all()

    def lines(self, *, stream: str | None = None, run: int | None = None) -> list[LogLine]:
        with self._cond:
            return [
                line
                for line in self._lines
                if stream in (None, line.stream) and run in (None, line.run)
            ]

    def logs(
        self, event: str | None = None, *, run: int | None = None, **match: object
    ) -> list[LogLine]:
        """Parsed JSON log lines (stderr), optionally of one event with matching fields."""
        return [
            line
            for line in self.lines(stream="stderr", run=run)
            if event in (None, line.event)
            and all(line.fields.get(k) == v for k, v in match.items())
        ]

    @property
    def stdout(self) -> str:
        return "\n".join(line.raw for line in self.lines(stream="stdout"))

    @property
    def stderr(self) -> str:
        return "\n".join(line.raw for line in self.lines(stream="stderr"))

    def tail(self, n: int = 40) -> str:
        """The last lines written, for assertion messages."""
        return "\n".join(line.raw for line in self.lines()[-n:])

    def wait_for_log(
        self,
        event: str,
        *,
        timeout: float = 20.0,
        run: int | None = None,
        after: float = 0.0,
        exited_ok: bool = True,
        **match: object,
    ) -> LogLine:
        """The first ``event`` line (of ``run``, at or after ``after``) with these fields.

        Raises ``AssertionError`` with the end of the log on a timeout, or when the
        process exits first and ``exited_ok`` is false.
        """
        deadline = time.monotonic() + timeout

        def found() -> LogLine | None:
            for line in self._lines:
                if (
                    line.event == event
                    and line.at >= after
                    and run in (None, line.run)
                    and all(line.fields.get(k) == v for k, v in match.items())
                ):
                    return line
            return None

        with self._cond:
            while True:
                line = found()
                if line is not None:
                    return line
                left = deadline - time.monotonic()
                dead = not exited_ok and self._proc is not None and self._proc.poll() is not None
                if left <= 0 or dead:
                    break
                self._cond.wait(min(left, 0.2))
        why = "exited" if self._proc is not None and self._proc.poll() is not None else "timeout"
        raise AssertionError(
            f"{self.name}: no {event!r} log line {match or ''} ({why});\n{self.tail()}"
        )


@contextlib.contextmanager
def daemons(*instances: DaemonProcess) -> Iterator[tuple[DaemonProcess, ...]]:
    """Close (kill if needed) every instance when the block ends, whatever happened."""
    try:
        yield instances
    finally:
        for instance in instances:
            instance.close()


# -- the child side -----------------------------------------------------------------


def launch(argv: Sequence[str]) -> int:
    """``python -m tests.support.daemon_runner '{"health_every_s": 2}' run --config DIR``.

    The real ``monitor`` command line, with keyword defaults of ``Daemon`` changed first:
    the periods that monitor.yaml does not set (``health_every_s``: 60 s, ``poll_tick_s``,
    ``send_poll_s``, ``purge_every_s``, ``drain_s``), so a test can see a feed-health
    check in seconds instead of minutes. Nothing else differs from ``monitor run``.
    """
    from monitor.cli import main
    from monitor.service.daemon import Daemon

    settings = json.loads(argv[0])
    defaults = dict(Daemon.__init__.__kwdefaults__ or {})
    unknown = sorted(set(settings) - set(defaults))
    if unknown:
        raise SystemExit(f"not a Daemon setting: {', '.join(unknown)}")
    Daemon.__init__.__kwdefaults__ = {**defaults, **settings}
    return main(list(argv[1:]))


if __name__ == "__main__":
    sys.exit(launch(sys.argv[1:]))
