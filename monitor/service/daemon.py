"""The long-running daemon: APScheduler ticks, the sender, systemd and live reload.

A poll tick reads the due feeds from the database (``next_poll_at`` is persisted, so a
restart or a suspended process loses nothing) and starts them in the background; the
sender runs as its own task; periodic jobs check feed health and purge old rows. Jobs
coalesce and have a generous misfire grace, so a daemon that was suspended runs each
missed tick once: no storm, nothing dropped.

Several instances may share one database: feeds and alerts are shared out through it
(leases, SKIP LOCKED), and one elected leader (monitor.service.leader) runs what must
run once: the bot's update poller (getUpdates long polling, monitor.bot), feed-health
checks and retention. The bot poller stops first on the way out.

systemd: READY=1 once everything runs, WATCHDOG=1 only while the scheduler ticks and
the database answers, STOPPING=1 on the way out. SIGHUP or an edited YAML file reloads
the configuration (an invalid one is refused, logged with file:line, and the admins are
told). SIGTERM/SIGINT: stop polling, let the sends in flight finish, exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Sequence
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.errors import ConfigProblem
from monitor.logs import get_logger
from monitor.service.admin import notify_admins
from monitor.service.health import HealthServer, probe_database
from monitor.service.leader import Leadership
from monitor.service.notify import SystemdNotifier, start_watchdog, stop_task
from monitor.service.reload import Reloader, invalid_config_notice
from monitor.service.runtime import Runtime
from monitor.store.retention import purge_all

log = get_logger("monitor.daemon")

JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}


class Daemon:
    """Owns the scheduler, the background tasks and the signal handling of one runtime."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        poll_tick_s: float = 2.0,
        send_poll_s: float = 1.0,
        health_every_s: float | None = None,
        purge_every_s: float = 3600.0,
        drain_s: float = 20.0,
        lead_every_s: float = 5.0,
        notifier: SystemdNotifier | None = None,
        watch_files: bool = True,
    ) -> None:
        self.rt = runtime
        self.poll_tick_s = poll_tick_s
        self.send_poll_s = send_poll_s
        self.health_every_s = health_every_s or float(runtime.config.monitor.health.check_every)
        self.purge_every_s = purge_every_s
        self.drain_s = drain_s
        self.notifier = notifier or SystemdNotifier()
        self.watch_files = watch_files
        self.stop_event = asyncio.Event()
        self._polls: set[asyncio.Task[object]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self.scheduler = AsyncIOScheduler(timezone=UTC, job_defaults=JOB_DEFAULTS)
        self.reloader = Reloader(
            runtime.config, runtime.apply_config, on_invalid=self._invalid_config,
            notifier=self.notifier,
        )  # fmt: skip
        self.http: HealthServer | None = None
        self.leadership = Leadership(runtime.db)
        self.lead_every_s = lead_every_s

    @property
    def ticks(self) -> int:
        return self.rt.heartbeat.count

    async def poll_tick(self) -> None:
        """Start polls for the feeds that are due; never waits for them."""
        self.rt.heartbeat.beat()
        if self.stop_event.is_set():
            return
        task: asyncio.Task[object] = asyncio.create_task(self.rt.poller.poll_due())
        self._polls.add(task)
        task.add_done_callback(self._poll_done)

    def _poll_done(self, task: asyncio.Task[object]) -> None:
        self._polls.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("poll_cycle_failed", error=repr(task.exception()))

    async def _lead_forever(self) -> None:
        """Try to lead every few seconds; only the leader polls Telegram updates and runs
        the once-per-deployment jobs (feed health, retention). A dead leader's lock is
        released by the database, and another instance takes over."""
        while not self.stop_event.is_set():
            try:
                leads = await asyncio.to_thread(self.leadership.try_acquire)
            except Exception as exc:  # the database may be restarting: try again later
                log.warning("leader_attempt_failed", error=repr(exc))
                leads = False
            if leads and not self.rt.bot_running:
                self.rt.start_bot()
            elif not leads and self.rt.bot_running:
                await self.rt.stop_bot()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), timeout=self.lead_every_s)

    async def health_check(self) -> None:
        if not self.leadership.is_leader:
            return
        try:
            await self.rt.checker.check()
        except Exception as exc:  # the daemon keeps running; the next check tries again
            log.error("feed_health_failed", error=repr(exc))

    async def purge(self) -> None:
        if not self.leadership.is_leader:
            return
        try:
            await asyncio.to_thread(purge_all, self.rt.db, self.rt.clock.now(), self.rt.retention)
        except Exception as exc:
            log.error("purge_failed", error=repr(exc))

    async def _send_forever(self) -> None:
        """The sender's loop, restarted after an unexpected failure (a database outage)."""
        while not self.stop_event.is_set():
            try:
                await self.rt.sender.run(poll_s=self.send_poll_s)
                return
            except Exception as exc:  # the outbox keeps the alerts; try again shortly
                log.error("send_loop_failed", error=repr(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_event.wait(), timeout=2.0)

    async def _invalid_config(self, problems: Sequence[ConfigProblem]) -> None:
        key, title, text = invalid_config_notice(problems, self.rt.clock.now())
        admins = self.rt.sender.ctx.admins
        await self.rt.db.write(notify_admins, admins, key, title, text, self.rt.clock.now())

    async def run(self) -> None:
        """Run until ``stop_event`` is set (by a signal or a caller)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop, sig.name)
        now = self.rt.clock.now()
        add = self.scheduler.add_job
        add(self.poll_tick, "interval", seconds=self.poll_tick_s, id="poll", next_run_time=now)
        add(self.health_check, "interval", seconds=self.health_every_s, id="health")
        add(self.purge, "interval", seconds=self.purge_every_s, id="purge", next_run_time=now)
        self.scheduler.start()
        self._tasks.append(asyncio.create_task(self._send_forever(), name="sender"))
        self._tasks.append(asyncio.create_task(self._lead_forever(), name="leader"))
        http = self.rt.config.monitor.http
        if http.port is not None:
            self.http = HealthServer(
                metrics=self.rt.metrics, db=self.rt.db, heartbeat=self.rt.heartbeat,
                clock=self.rt.clock, host=http.host, port=http.port,
            )  # fmt: skip
            await self.http.start()
        self.reloader.install_sighup()
        if self.watch_files:
            self._tasks.append(asyncio.create_task(self.reloader.watch(self.stop_event)))
        watchdog = start_watchdog(
            self.notifier, ticks=lambda: self.ticks, probe=lambda: probe_database(self.rt.db)
        )
        self.notifier.ready(status=f"polling {len(self.rt.poller.feeds)} feeds")
        log.info("daemon_started", feeds=len(self.rt.poller.feeds))
        try:
            await self.stop_event.wait()
        finally:
            self.notifier.stopping()
            await stop_task(watchdog)
            await self._shutdown()

    def request_stop(self, why: str = "request") -> None:
        if not self.stop_event.is_set():
            log.info("daemon_stopping", reason=why)
            self.stop_event.set()

    async def _shutdown(self) -> None:
        self.scheduler.pause()
        await self.rt.stop_bot()
        drained = await self.rt.sender.drain(grace_s=self.drain_s)
        if self._polls:
            _done, pending = await asyncio.wait(set(self._polls), timeout=self.drain_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.reloader.aclose()
        if self.http is not None:
            await self.http.aclose()
        self.scheduler.shutdown(wait=False)
        await asyncio.to_thread(self.leadership.release)
        log.info("daemon_stopped", sends_drained=drained)
