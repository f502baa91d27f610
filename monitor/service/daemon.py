"""The long-running daemon loop: APScheduler ticks drive polls and sends until a signal.

A poll tick reads the due feeds from the database (``next_poll_at`` is persisted, so a
restart or a suspended process loses nothing) and starts them in the background; a
send tick drains the outbox. Jobs coalesce and have a generous misfire grace, so a
daemon that was suspended runs each missed tick once: no storm, nothing dropped.
SIGTERM/SIGINT: stop ticking, let in-flight polls and sends finish (bounded), exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.logs import get_logger
from monitor.service.runtime import Runtime

log = get_logger("monitor.daemon")

JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}


class Daemon:
    """Owns the scheduler and the background poll tasks of one runtime."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        poll_tick_s: float = 2.0,
        send_tick_s: float = 1.0,
        drain_s: float = 20.0,
    ) -> None:
        self.rt = runtime
        self.poll_tick_s = poll_tick_s
        self.send_tick_s = send_tick_s
        self.drain_s = drain_s
        self.stop_event = asyncio.Event()
        self._polls: set[asyncio.Task[object]] = set()
        self._send_lock = asyncio.Lock()
        self.scheduler = AsyncIOScheduler(timezone=UTC, job_defaults=JOB_DEFAULTS)
        self.ticks = 0

    async def poll_tick(self) -> None:
        """Start polls for the feeds that are due; never waits for them."""
        self.ticks += 1
        if self.stop_event.is_set():
            return
        task: asyncio.Task[object] = asyncio.create_task(self.rt.poller.poll_due())
        self._polls.add(task)
        task.add_done_callback(self._poll_done)

    def _poll_done(self, task: asyncio.Task[object]) -> None:
        self._polls.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("poll_cycle_failed", error=repr(task.exception()))

    async def send_tick(self) -> None:
        if self._send_lock.locked():
            return
        async with self._send_lock:
            try:
                await self.rt.sender.send_due()
            except Exception as exc:  # the daemon keeps running; the outbox keeps the alerts
                log.error("send_cycle_failed", error=repr(exc))

    async def run(self) -> None:
        """Run until ``stop_event`` is set (by a signal or a caller)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop, sig.name)
        now = self.rt.clock.now()
        self.scheduler.add_job(
            self.poll_tick, "interval", seconds=self.poll_tick_s, id="poll", next_run_time=now
        )
        self.scheduler.add_job(
            self.send_tick, "interval", seconds=self.send_tick_s, id="send", next_run_time=now
        )
        self.scheduler.start()
        log.info("daemon_started", feeds=len(self.rt.poller.feeds))
        try:
            await self.stop_event.wait()
        finally:
            await self._shutdown()

    def request_stop(self, why: str = "request") -> None:
        if not self.stop_event.is_set():
            log.info("daemon_stopping", reason=why)
            self.stop_event.set()

    async def _shutdown(self) -> None:
        self.scheduler.pause()
        if self._polls:
            _done, pending = await asyncio.wait(set(self._polls), timeout=self.drain_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        async with self._send_lock:  # waits for an in-flight send cycle to finish
            pass
        self.scheduler.shutdown(wait=False)
        log.info("daemon_stopped")
