"""systemd notifications (sd_notify) and a watchdog tied to real progress.

``SystemdNotifier`` speaks the documented datagram protocol: newline-separated
``KEY=VALUE`` lines sent to the AF_UNIX socket named by ``$NOTIFY_SOCKET`` (a path, or
``@name`` in the abstract namespace). Without ``$NOTIFY_SOCKET`` (not started by
systemd, or a unit that is not Type=notify) every call is a no-op; a send that fails is
logged and never raises: the daemon must not die because its supervisor went away.

``WatchdogPinger`` sends ``WATCHDOG=1`` every ``WATCHDOG_USEC / 2`` only if the scheduler
has ticked since the previous ping *and* a database probe answered within the
interval. A wedged scheduler or a database that hangs stops the pings, and systemd
kills and restarts the service after ``WatchdogSec``: liveness means progress here,
not a process that merely exists.

Must not: import the store or the scheduler (the daemon passes a tick counter and a
probe), read the wall clock (it uses ``time.monotonic`` only for intervals).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping

from monitor.logs import get_logger

log = get_logger("monitor.notify")

Probe = Callable[[], Awaitable[object]]


def _address(raw: str) -> str | bytes:
    if raw.startswith("@"):  # abstract namespace: a leading NUL byte on the wire
        return b"\0" + raw[1:].encode()
    return raw


class SystemdNotifier:
    """Sends state changes to the service manager; a no-op outside systemd."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        self.address: str | bytes | None = _address(raw) if raw.startswith(("/", "@")) else None
        self._watchdog_usec = env.get("WATCHDOG_USEC")
        self._watchdog_pid = env.get("WATCHDOG_PID")
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between pings (half of ``WatchdogSec``), or None when no watchdog is set."""
        if not self._watchdog_usec or not self._watchdog_usec.isdigit():
            return None
        if self._watchdog_pid and self._watchdog_pid != str(os.getpid()):
            return None  # the watchdog is meant for another process
        usec = int(self._watchdog_usec)
        return usec / 2e6 if usec > 0 else None

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` fields in one datagram; True if it was sent."""
        if self.address is None or not fields:
            return False
        message = "\n".join(f.replace("\n", " ") for f in fields).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message, self.address)
        except OSError as exc:
            log.warning(
                "sd_notify_failed", error=str(exc), fields=[f.split("=")[0] for f in fields]
            )
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Start-up is complete (Type=notify units are "active" from now on)."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        """A one-line status shown by ``systemctl status``."""
        return self.notify(f"STATUS={text}")

    def reloading(self) -> bool:
        """A configuration reload started; send ``ready()`` when it is done."""
        return self.notify("RELOADING=1")

    def stopping(self, status: str | None = None) -> bool:
        """Shutdown has begun."""
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class WatchdogPinger:
    """Pings the watchdog while the scheduler ticks and the database answers.

    ``ticks`` returns a counter the scheduler increases on every tick; it must have moved
    within the last ``stall_s`` seconds (not necessarily since the last ping: pings may
    come faster than ticks). ``probe`` is an async call that must complete (e.g.
    ``SELECT 1``) within half an interval for the database to count as answering.
    ``beat()`` makes one decision; ``run()`` beats every ``interval_s``.
    """

    def __init__(
        self,
        notifier: SystemdNotifier,
        *,
        ticks: Callable[[], int],
        probe: Probe,
        interval_s: float,
        stall_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.stall_s = stall_s
        self._monotonic = monotonic
        self._moved_at = monotonic()
        self.notifier = notifier
        self.ticks = ticks
        self.probe = probe
        self.interval_s = interval_s
        self._last_ticks: int | None = None
        self.pings = 0
        self.withheld = 0
        self.last_reason = ""

    async def beat(self) -> bool:
        """Ping if there was progress since the last ping; returns whether it pinged."""
        current = self.ticks()
        now = self._monotonic()
        previous, self._last_ticks = self._last_ticks, current
        if current != previous:
            self._moved_at = now
        elif now - self._moved_at > self.stall_s:
            return self._withhold(f"the scheduler has not ticked for {self.stall_s:.0f}s")
        # half an interval: a withheld ping is decided (and logged) well before the
        # supervisor's deadline, two intervals after the last ping
        limit = self.interval_s / 2
        try:
            async with asyncio.timeout(limit):
                await self.probe()
        except TimeoutError:
            return self._withhold(f"the database did not answer within {limit:g}s")
        except Exception as exc:  # any failure of the probe means: not healthy
            return self._withhold(f"the database probe failed: {exc}")
        if self.notifier.watchdog():
            self.pings += 1
        self.last_reason = "progress"
        return True

    def _withhold(self, reason: str) -> bool:
        if reason != self.last_reason:
            log.warning("watchdog_withheld", reason=reason)
        self.withheld += 1
        self.last_reason = reason
        return False

    async def run(self) -> None:
        """Beat until cancelled."""
        while True:
            await self.beat()
            await asyncio.sleep(self.interval_s)


def start_watchdog(
    notifier: SystemdNotifier, *, ticks: Callable[[], int], probe: Probe
) -> asyncio.Task[None] | None:
    """Start the pinger task when systemd asked for a watchdog (``WATCHDOG_USEC``), else None."""
    interval = notifier.watchdog_interval()
    if interval is None or not notifier.enabled:
        return None
    pinger = WatchdogPinger(notifier, ticks=ticks, probe=probe, interval_s=interval)
    return asyncio.create_task(pinger.run(), name="watchdog")


async def stop_task(task: asyncio.Task[None] | None) -> None:
    """Cancel a background task (the pinger) and wait for it."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
