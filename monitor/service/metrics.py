"""Prometheus metrics: counters and histograms fed by the daemon, gauges read from the database.

``Metrics`` owns its own ``CollectorRegistry`` (never the global one: tests and several
runtimes in one process must not collide). The shell feeds it:

- ``observe_poll(status, seconds, new_items=..., alerts=..., missed=...)`` after each
  poll (``monitor_polls_total{status}``, ``monitor_items_ingested_total``,
  ``monitor_alerts_planned_total``, ``monitor_missed_polls_total``,
  ``monitor_poll_duration_seconds``);
- ``observe_send(channel, outcome, seconds)`` after each send attempt
  (``monitor_sends_total{channel,outcome}``, ``monitor_send_duration_seconds{channel}``).

Gauges of the database (feeds total / erroring / failing / stale, an outage, items,
stories, matches, deliveries and admin notices by state, the age of the oldest alert
waiting past its due time) are read by ``refresh(db, now)`` just before a scrape, at
most once per ``min_refresh_s`` (a scrape storm does not become a query storm). When
the database cannot be read, ``monitor_database_up`` is 0 and the last figures stay.

Must not: start a server (monitor.service.health does), read the wall clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from monitor.logs import get_logger
from monitor.store import health as health_store
from monitor.store.database import Database
from monitor.store.health import StoreCounts

log = get_logger("monitor.metrics")

POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SEND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
POLL_STATUSES = ("ok", "not_modified", "unchanged", "throttled", "error")
DELIVERY_STATES = ("pending", "sending", "sent", "failed", "stopped")


class _DatabaseCollector(Collector):
    """Yields the gauges of the last database snapshot."""

    def __init__(self) -> None:
        self.counts: StoreCounts | None = None
        self.now: datetime | None = None
        self.up = 0
        self.tick_age: Callable[[], float | None] | None = None

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # metrics vary with the snapshot: no fixed description

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("monitor_database_up", "1 if the database answered", self.up)
        if self.tick_age is not None:
            age = self.tick_age()
            if age is not None:
                yield GaugeMetricFamily(
                    "monitor_scheduler_last_tick_age_seconds",
                    "Seconds since the scheduler last ticked",
                    age,
                )
        c = self.counts
        if c is None or self.now is None:
            return
        gauges = {
            "monitor_feeds": ("Active feeds", c.feeds),
            "monitor_feeds_erroring": ("Active feeds whose latest poll failed", c.feeds_erroring),
            "monitor_feeds_failing": (
                "Active feeds with health.failures_before_alert failed polls in a row or more",
                c.feeds_failing,
            ),
            "monitor_feeds_stale": (
                "Active feeds silent for much longer than usual",
                c.feeds_stale,
            ),
            "monitor_outage": ("1 while (nearly) every feed fails", int(c.outage)),
            "monitor_items": ("Items stored", c.items),
            "monitor_stories": ("Stories stored", c.stories),
            "monitor_matches": ("Watchlist matches stored", c.matches),
            "monitor_feed_missed_polls": (
                "Polls that shared no entry with what was known (items probably dropped)",
                c.missed_polls,
            ),
            "monitor_oldest_pending_delivery_seconds": (
                "Age of the oldest alert waiting past its due time (0 if none)",
                c.outbox.oldest_age_s(self.now),
            ),
        }
        for name, (text, value) in gauges.items():
            yield GaugeMetricFamily(name, text, value)
        deliveries = GaugeMetricFamily(
            "monitor_deliveries", "Alerts in the outbox by state", labels=["state"]
        )
        for state in sorted(set(DELIVERY_STATES) | set(c.outbox.deliveries)):
            deliveries.add_metric([state], c.outbox.deliveries.get(state, 0))
        yield deliveries
        notices = GaugeMetricFamily(
            "monitor_admin_notices", "Admin notices by state", labels=["state"]
        )
        for state, n in sorted(c.outbox.notices.items()):
            notices.add_metric([state], n)
        yield notices


class Metrics:
    """The metrics of one runtime, on a registry of its own."""

    def __init__(
        self,
        *,
        failures_before_alert: int = 5,
        min_refresh_s: float = 5.0,
        tick_age: Callable[[], float | None] | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.failures_before_alert = failures_before_alert
        self.min_refresh_s = min_refresh_s
        self.polls = Counter("monitor_polls", "Feed polls by outcome", ["status"], registry=r)
        for status in POLL_STATUSES:
            self.polls.labels(status)
        self.items_ingested = Counter(
            "monitor_items_ingested", "New items stored by polls", registry=r
        )
        self.alerts_planned = Counter(
            "monitor_alerts_planned", "Alerts written to the outbox by polls", registry=r
        )
        self.missed = Counter(
            "monitor_missed_polls",
            "Polls whose document shared no entry with what was known",
            registry=r,
        )
        self.poll_seconds = Histogram(
            "monitor_poll_duration_seconds",
            "Time to poll one feed (fetch, parse, store)",
            buckets=POLL_BUCKETS,
            registry=r,
        )
        self.sends = Counter(
            "monitor_sends",
            "Send attempts by channel and outcome",
            ["channel", "outcome"],
            registry=r,
        )
        self.send_seconds = Histogram(
            "monitor_send_duration_seconds",
            "Time of one send attempt",
            ["channel"],
            buckets=SEND_BUCKETS,
            registry=r,
        )
        self._db = _DatabaseCollector()
        self._db.tick_age = tick_age
        r.register(self._db)
        self._refreshed_at: float | None = None
        self._lock = asyncio.Lock()

    # --- fed by the daemon ---------------------------------------------------------

    def observe_poll(
        self,
        status: str,
        seconds: float,
        *,
        new_items: int = 0,
        alerts: int = 0,
        missed: bool = False,
    ) -> None:
        self.polls.labels(status).inc()
        self.poll_seconds.observe(max(0.0, seconds))
        if new_items:
            self.items_ingested.inc(new_items)
        if alerts:
            self.alerts_planned.inc(alerts)
        if missed:
            self.missed.inc()

    def observe_send(self, channel: str, outcome: str, seconds: float) -> None:
        self.sends.labels(channel, outcome).inc()
        self.send_seconds.labels(channel).observe(max(0.0, seconds))

    # --- read at scrape time ----------------------------------------------------------

    async def refresh(self, db: Database, now: datetime, *, force: bool = False) -> bool:
        """Read the database gauges unless they are fresher than ``min_refresh_s``."""
        async with self._lock:
            fresh = self._refreshed_at is not None and (
                time.monotonic() - self._refreshed_at < self.min_refresh_s
            )
            if fresh and not force:
                return bool(self._db.up)
            try:
                counts = await db.read(
                    health_store.store_counts,
                    now,
                    failures_before_alert=self.failures_before_alert,
                )
            except Exception as exc:  # the endpoint keeps serving what it has
                log.warning("metrics_refresh_failed", error=str(exc))
                self._db.up = 0
                return False
            self._db.counts, self._db.now, self._db.up = counts, now, 1
            self._refreshed_at = time.monotonic()
            return True

    def render(self) -> bytes:
        """The text exposition format (``text/plain; version=0.0.4``)."""
        return generate_latest(self.registry)
