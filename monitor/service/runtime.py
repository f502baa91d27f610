"""The composition root: build every long-lived object from a loaded Config.

``Runtime.open`` migrates the database (refusing an unknown schema), syncs the
configured feeds into it, compiles the watchlists, opens the fetcher and the
channels, and builds the sender, the feed-health checker and the metrics.
``apply_config`` swaps in a new valid configuration without a restart; ``aclose``
releases everything. Commands (poll, run, demo, bench) all start here.

With ``bot.enabled`` and a Telegram channel, the bot is built around that channel: its
chats become recipients and its personal watchlists are compiled with the configured
ones (monitor.bot.directory), refreshed whenever the bot changes them; the daemon
starts and stops its update poller (``start_bot``/``stop_bot``).
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import TextIO

from monitor.bot.directory import (
    BotAudience,
    Directory,
    merged_recipients,
    merged_watchlists,
    personal_specs,
)
from monitor.bot.quotas import personal_limits
from monitor.bot.service import BotService
from monitor.channels.base import Channel
from monitor.channels.factory import build_channels
from monitor.channels.telegram import TelegramChannel
from monitor.clock import Clock, SystemClock
from monitor.config import Config
from monitor.core.cluster import ClusterSettings
from monitor.core.matcher import Matcher, compile_watchlists
from monitor.core.models import Recipient, WatchlistSpec
from monitor.logs import get_logger
from monitor.service.admin import admin_recipients
from monitor.service.feed_health import FeedHealthChecker, policy_from_settings
from monitor.service.health import Heartbeat
from monitor.service.ingest import IngestSettings
from monitor.service.metrics import Metrics
from monitor.service.outbox import OutboxSender
from monitor.service.pipeline import PollContext, PollReport
from monitor.service.poller import Poller
from monitor.service.reload import ConfigDiff
from monitor.sources.fetch import Fetcher, FetchSettings
from monitor.store import feeds as feed_store
from monitor.store.database import Database
from monitor.store.migrate import upgrade
from monitor.store.retention import RetentionPolicy

log = get_logger("monitor.runtime")


def fetch_settings(config: Config) -> FetchSettings:
    f = config.monitor.fetch
    return FetchSettings(
        deadline_s=float(f.deadline_s),
        max_bytes=int(f.max_bytes),
        max_redirects=f.max_redirects,
        per_host=f.per_host,
        user_agent=f.user_agent,
        allow_private_networks=f.allow_private_networks,
    )


def ingest_settings(config: Config) -> IngestSettings:
    c = config.monitor.clustering
    clustering = ClusterSettings(
        window=timedelta(seconds=c.window),
        copy_min=c.copy_min,
        content_min=c.content_min,
        content_sure=c.content_sure,
        title_min=c.title_min,
        names_min=c.names_min,
    )
    return IngestSettings(clustering, float(config.monitor.delivery.update_interval))


@dataclass
class Runtime:
    """The live objects of one monitor process."""

    config: Config
    db: Database
    fetcher: Fetcher
    channels: dict[str, Channel]
    recipients: dict[str, Recipient]
    poller: Poller
    sender: OutboxSender
    clock: Clock
    heartbeat: Heartbeat
    metrics: Metrics
    checker: FeedHealthChecker
    retention: RetentionPolicy
    directory: Directory | None = None
    bot: BotService | None = None
    bot_running: bool = False

    @property
    def matcher(self) -> Matcher:
        matcher = self.poller.ctx.matcher
        assert isinstance(matcher, Matcher)
        return matcher

    @classmethod
    async def open(
        cls,
        config: Config,
        *,
        clock: Clock | None = None,
        stream: TextIO | None = None,
        database_url: str | None = None,
        rng: random.Random | None = None,
    ) -> Runtime:
        clock = clock or SystemClock()
        rng = rng or random.Random()
        m = config.monitor
        db = Database(database_url or config.database_url, pool_size=m.database_pool_size)
        upgrade(db)
        await db.write(feed_store.sync_feeds, list(config.feeds), clock.now())
        fetcher = Fetcher(fetch_settings(config), clock=clock)
        channels = build_channels(config, stream=stream, clock=clock)
        recipients = {r.key: r for r in config.recipients}
        heartbeat = Heartbeat()
        metrics = Metrics(
            failures_before_alert=m.health.failures_before_alert, tick_age=heartbeat.age
        )
        ctx = PollContext(
            db,
            fetcher,
            compile_watchlists(config.watchlists),
            list(config.recipients),
            clock,
            rng,
            min_interval_s=float(m.fetch.min_interval),
            max_backoff_s=float(m.fetch.max_interval),
            ingest=ingest_settings(config),
            observers=[lambda r: _observe(metrics, r)],
        )
        host = socket.gethostname()
        released = await db.write(feed_store.release_dead_owners, host, _process_alive)
        if released:
            log.info("leases_released", feeds=released, reason="their process is gone")
        owner = f"{host}:{os.getpid()}:{secrets.token_hex(3)}"
        lease_s = max(120.0, 4 * float(m.fetch.deadline_s))  # a poll ends well within it
        poller = Poller(
            ctx, config.feeds, concurrency=m.fetch.concurrency, owner=owner, lease_s=lease_s
        )
        admins = admin_recipients(m.admins)
        sender = OutboxSender(
            db, channels, recipients, clock, settings=m.delivery, admins=admins, rng=rng
        )
        sender.ctx.observers.append(metrics.observe_send)
        checker = FeedHealthChecker(db, clock, policy_from_settings(m.health), admins)
        retention = RetentionPolicy.from_settings(m)
        runtime = cls(
            config, db, fetcher, channels, recipients, poller, sender, clock,
            heartbeat, metrics, checker, retention,
        )  # fmt: skip
        await runtime._build_bot()
        return runtime

    # -- the bot ---------------------------------------------------------------------

    async def _build_bot(self) -> None:
        """The bot, when enabled and Telegram is configured; loads its audience."""
        channel = self.channels.get("telegram")
        if not self.config.monitor.bot.enabled or not isinstance(channel, TelegramChannel):
            return
        self.directory = Directory(self.db, self._apply_audience)
        await self.directory.refresh(force=True)
        self.bot = BotService(
            self.config,
            db=self.db,
            channel=channel,
            clock=self.clock,
            directory=self.directory,
            shaper=self.sender.ctx.shaper,
        )

    async def _apply_audience(self, audience: BotAudience, personal_changed: bool) -> None:
        """The bot's chats or personal watchlists changed: merge them in."""
        if personal_changed:
            specs = self.watchlists()
            self.poller.ctx.matcher = await asyncio.to_thread(compile_watchlists, specs)
        self._set_recipients()

    def watchlists(self) -> list[WatchlistSpec]:
        """The configured watchlists plus the bot's personal ones."""
        if self.directory is None:
            return list(self.config.watchlists)
        limits = personal_limits(self.config.monitor.bot.quotas)
        personal = personal_specs(self.directory.audience.personal, limits)
        return merged_watchlists(self.config.watchlists, personal)

    def _set_recipients(self) -> None:
        config = self.config
        found = list(config.recipients)
        if self.directory is not None:
            found = merged_recipients(
                config.recipients, self.directory.audience, config.watchlists,
                config.monitor.timezone,
            )  # fmt: skip
        self.recipients.clear()
        self.recipients.update({r.key: r for r in found})
        self.poller.ctx.recipients = found

    def start_bot(self) -> None:
        """Start the bot's update poller (the daemon does, once running)."""
        self.bot_running = True
        if self.bot is not None:
            self.bot.start()

    async def stop_bot(self) -> None:
        self.bot_running = False
        if self.bot is not None:
            await self.bot.stop()

    async def apply_config(self, config: Config, diff: ConfigDiff) -> None:
        """Swap in a new, valid configuration (SIGHUP or an edited file)."""
        ctx = self.poller.ctx
        old = self.config
        if diff.feeds:
            await self.db.write(feed_store.sync_feeds, list(config.feeds), self.clock.now())
            self.poller.replace_feeds(config.feeds)
        rebuilt = diff.channels_changed or old.monitor.bot.enabled != config.monitor.bot.enabled
        running = self.bot_running
        # Build first: a channel that cannot be built (a missing secret) raises before
        # anything changed, and the running configuration stays.
        new_channels = build_channels(config, clock=self.clock) if diff.channels_changed else None
        if rebuilt:
            await self.stop_bot()  # it polls through the old Telegram channel
        if new_channels is not None:
            old_channels = dict(self.channels)
            self.channels.clear()
            self.channels.update(new_channels)
            for channel in old_channels.values():
                await channel.aclose()
        self.config = config
        if rebuilt:
            self.bot, self.directory = None, None
            await self._build_bot()
            if running:
                self.start_bot()
        elif self.bot is not None:
            self.bot.reconfigure(config)
        if rebuilt or diff.watchlists or diff.feeds or old.monitor.bot != config.monitor.bot:
            ctx.matcher = await asyncio.to_thread(compile_watchlists, self.watchlists())
        self._set_recipients()
        admins = admin_recipients(config.monitor.admins)
        self.sender.ctx.admins = tuple(admins)
        self.checker.admins = tuple(admins)
        self.checker.policy = policy_from_settings(config.monitor.health)
        ctx.ingest = ingest_settings(config)
        log.info("config_applied", changes=diff.summary())

    async def aclose(self) -> None:
        await self.stop_bot()
        await self.db.write(feed_store.release_feeds, self.poller.owner)
        await self.fetcher.aclose()
        for channel in self.channels.values():
            await channel.aclose()
        self.db.dispose()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def _observe(metrics: Metrics, report: PollReport) -> None:
    metrics.observe_poll(
        report.status,
        report.duration_ms / 1e3,
        new_items=report.new_items,
        alerts=report.alerts,
        missed=report.missed,
    )
