"""The composition root: build every long-lived object from a loaded Config.

``Runtime.open`` migrates the database (refusing an unknown schema), syncs the
configured feeds into it, compiles the watchlists, opens the fetcher and the
channels. ``aclose`` releases them. Commands (poll, run, demo) all start here.
"""

from __future__ import annotations

import os
import random
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

from monitor.channels.base import Channel
from monitor.channels.factory import build_channels
from monitor.clock import Clock, SystemClock
from monitor.config import Config
from monitor.core.matcher import Matcher, compile_watchlists
from monitor.core.models import Recipient
from monitor.service.outbox import OutboxSender
from monitor.service.pipeline import PollContext
from monitor.service.poller import Poller
from monitor.sources.fetch import Fetcher, FetchSettings
from monitor.store import feeds as feed_store
from monitor.store.database import Database
from monitor.store.migrate import upgrade


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


@dataclass
class Runtime:
    """The live objects of one monitor process."""

    config: Config
    db: Database
    fetcher: Fetcher
    matcher: Matcher
    channels: Mapping[str, Channel]
    recipients: Mapping[str, Recipient]
    poller: Poller
    sender: OutboxSender
    clock: Clock

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
        db = Database(
            database_url or config.database_url, pool_size=config.monitor.database_pool_size
        )
        upgrade(db)
        await db.write(feed_store.sync_feeds, list(config.feeds), clock.now())
        fetcher = Fetcher(fetch_settings(config), clock=clock)
        matcher = compile_watchlists(config.watchlists)
        channels = build_channels(config, stream=stream, clock=clock)
        recipients = {r.key: r for r in config.recipients}
        ctx = PollContext(
            db,
            fetcher,
            matcher,
            list(config.recipients),
            clock,
            rng,
            max_backoff_s=float(config.monitor.fetch.max_interval),
        )
        owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        poller = Poller(
            ctx, config.feeds, concurrency=config.monitor.fetch.concurrency, owner=owner
        )
        sender = OutboxSender(db, channels, recipients, clock, rng=rng)
        return cls(config, db, fetcher, matcher, channels, recipients, poller, sender, clock)

    async def aclose(self) -> None:
        await self.db.write(feed_store.release_feeds, self.poller.owner)
        await self.fetcher.aclose()
        for channel in self.channels.values():
            await channel.aclose()
        self.db.dispose()
