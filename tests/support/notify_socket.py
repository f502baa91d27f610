"""A fake systemd supervisor on ``$NOTIFY_SOCKET``: records sd_notify, enforces WatchdogSec.

    with NotifySupervisor(watchdog_s=4.0) as supervisor:
        daemon = DaemonProcess(config_dir, env=supervisor.env)
        daemon.start()
        supervisor.watch(daemon.pid)                # kill it if WATCHDOG=1 stops
        supervisor.wait_for("READY")
        ...
        supervisor.kills                            # [Kill(pid, at, silent_s)]

A datagram socket (AF_UNIX, abstract namespace by default, so no path length limit)
receives the ``KEY=VALUE`` lines of the documented protocol; every message is kept with
its arrival time (``time.monotonic()``). With ``watchdog_s`` set, ``env`` carries
``WATCHDOG_USEC`` and, like systemd, the supervisor sends ``kill_signal`` (SIGKILL by
default; systemd sends SIGABRT, then SIGKILL) to the watched process when no
``WATCHDOG=1`` arrived for longer than ``watchdog_s`` since READY or the last ping.
``STOPPING=1`` ends enforcement (the service is going down on purpose). Test support only.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Notification:
    """One datagram: its fields (``READY`` -> ``"1"``) and when it arrived."""

    at: float
    fields: dict[str, str]
    raw: str


@dataclass(frozen=True)
class Kill:
    """The supervisor killed the watched process because the watchdog pings stopped."""

    pid: int
    at: float
    silent_s: float  # seconds since READY or the last WATCHDOG=1
    signal: str


class NotifySupervisor:
    """Plays systemd for a Type=notify service with an optional ``WatchdogSec``."""

    def __init__(
        self,
        *,
        watchdog_s: float | None = None,
        path: Path | None = None,
        kill_signal: signal.Signals = signal.SIGKILL,
    ) -> None:
        self.watchdog_s = watchdog_s
        self.kill_signal = kill_signal
        self.address = str(path) if path else f"@monitor-test-{secrets.token_hex(8)}"
        self.messages: list[Notification] = []
        self.kills: list[Kill] = []
        self._pid: int | None = None
        self._last_alive: float | None = None  # READY or the last WATCHDOG=1 of the watched pid
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._sock.bind(
            b"\0" + self.address[1:].encode() if self.address[0] == "@" else self.address
        )
        self._sock.settimeout(0.05)
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def env(self) -> dict[str, str]:
        """What systemd would put in the service's environment."""
        env = {"NOTIFY_SOCKET": self.address}
        if self.watchdog_s is not None:
            env["WATCHDOG_USEC"] = str(round(self.watchdog_s * 1e6))
        return env

    def start(self) -> NotifySupervisor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self._sock.close()
        if self.address[0] != "@":
            with contextlib.suppress(OSError):
                Path(self.address).unlink()

    def __enter__(self) -> NotifySupervisor:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def watch(self, pid: int) -> None:
        """Supervise ``pid`` (a new start of the service): enforcement begins at its READY."""
        with self._cond:
            self._pid = pid
            self._last_alive = None

    # -- what arrived ---------------------------------------------------------------

    def sequence(self) -> list[str]:
        """The state changes in arrival order: READY, RELOADING, STOPPING (WATCHDOG left out)."""
        keys = ("READY", "RELOADING", "STOPPING")
        with self._cond:
            return [k for m in self.messages for k in keys if m.fields.get(k) == "1"]

    def times(self, key: str, value: str = "1") -> list[float]:
        with self._cond:
            return [m.at for m in self.messages if m.fields.get(key) == value]

    def statuses(self) -> list[str]:
        with self._cond:
            return [m.fields["STATUS"] for m in self.messages if "STATUS" in m.fields]

    def wait_for(
        self, key: str, value: str = "1", *, timeout: float = 20.0, after: float = 0.0
    ) -> float:
        """Arrival time of the first ``KEY=value`` at or after ``after``; AssertionError if none."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self.messages:
                    if m.at >= after and m.fields.get(key) == value:
                        return m.at
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {key}={value} within {timeout} s: {self.sequence()}")
                self._cond.wait(min(left, 0.1))

    def wait_for_kill(self, timeout: float = 30.0) -> Kill:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self.kills:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the supervisor killed nothing within {timeout} s")
                self._cond.wait(min(left, 0.1))
            return self.kills[0]

    def gaps(self, *, after: float = 0.0) -> list[float]:
        """Seconds between consecutive WATCHDOG=1 pings (from READY) at or after ``after``."""
        pings = sorted(t for t in self.times("READY") + self.times("WATCHDOG") if t >= after)
        return [b - a for a, b in itertools.pairwise(pings)]

    # -- the loop -------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                data = None
            except OSError:
                return
            now = time.monotonic()
            if data is not None:
                self._record(now, data.decode("utf-8", "replace"))
            self._enforce(now)

    def _record(self, now: float, raw: str) -> None:
        fields = dict(line.split("=", 1) for line in raw.splitlines() if "=" in line)
        with self._cond:
            self.messages.append(Notification(now, fields, raw))
            if self._pid is not None and (fields.get("READY") == "1" or "WATCHDOG" in fields):
                self._last_alive = now
            if fields.get("STOPPING") == "1":
                self._last_alive = None  # going down on purpose: no more enforcement
                self._pid = None
            self._cond.notify_all()

    def _enforce(self, now: float) -> None:
        with self._cond:
            pid, alive = self._pid, self._last_alive
            if self.watchdog_s is None or pid is None or alive is None:
                return
            silent = now - alive
            if silent <= self.watchdog_s:
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, self.kill_signal)
                os.kill(pid, signal.SIGCONT)  # a stopped process must be able to take it
            self.kills.append(Kill(pid, now, silent, self.kill_signal.name))
            self._pid = self._last_alive = None
            self._cond.notify_all()
