"""The periodic feed-health check: assess every feed, record incidents, tell the admins once.

``FeedHealthChecker.check()`` runs one assessment in one write transaction: it reads the
feeds' signals and the open incidents, asks the pure core (``monitor.core.feed_health``)
what changed, writes the incidents and queues the notices in the admin outbox
(``monitor.service.admin.notify_admins``, unique per notice key) before committing. A
crash before the commit changes nothing; after it, the notices are queued: a restart
neither repeats nor loses one. The outbox sender delivers them like alerts.

The daemon calls ``check()`` from a scheduler job every minute or so; it is cheap (one
short query per feed for its recent items).
Must not: send anything itself, read the wall clock except through its ``Clock``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection

from monitor.clock import Clock
from monitor.config.operations import HealthSettings
from monitor.core.feed_health import HealthPlan, HealthPolicy, assess
from monitor.core.models import Recipient
from monitor.logs import get_logger
from monitor.service.admin import notify_admins
from monitor.store import health as health_store
from monitor.store.database import Database

log = get_logger("monitor.feed_health")


class NoticeWriter(Protocol):
    """Queues an admin notice inside the caller's transaction (``notify_admins``)."""

    def __call__(
        self,
        conn: Connection,
        admins: Sequence[Recipient],
        key: str,
        title: str,
        text: str,
        now: datetime,
    ) -> int: ...


def policy_from_settings(settings: HealthSettings) -> HealthPolicy:
    """The core's thresholds from monitor.yaml ``health``."""
    return HealthPolicy(
        failures_before_alert=settings.failures_before_alert,
        stale_factor=settings.stale_factor,
        stale_min_s=float(settings.stale_min),
    )


def run_check(
    conn: Connection,
    now: datetime,
    policy: HealthPolicy,
    admins: Sequence[Recipient],
    write_notice: NoticeWriter = notify_admins,
) -> HealthPlan:
    """One assessment inside the caller's write transaction; returns what it decided."""
    health_store.lock_health(conn)
    plan = assess(
        health_store.feed_signals(conn),
        health_store.open_incidents(conn),
        now,
        policy,
        last_outage_end=health_store.last_outage_end(conn),
    )
    if plan.empty:
        return plan
    health_store.apply_health_plan(conn, plan, now)
    for notice in plan.notices:
        write_notice(conn, admins, notice.key, notice.subject, notice.body, now)
    return plan


class FeedHealthChecker:
    """Runs ``run_check`` against the database with the configured thresholds and admins."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        policy: HealthPolicy,
        admins: Sequence[Recipient],
        *,
        write_notice: NoticeWriter = notify_admins,
    ) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy
        self.admins = tuple(admins)
        self.write_notice = write_notice

    async def check(self) -> HealthPlan:
        now = self.clock.now()
        plan = await self.db.write(run_check, now, self.policy, self.admins, self.write_notice)
        if not plan.empty:
            log.info(
                "feed_health",
                opened=dict(Counter(o.kind for o in plan.opened)),
                closed=len(plan.closed),
                announced=len(plan.announced),
                notices=[n.subject for n in plan.notices],
            )
        if not self.admins and plan.notices:
            log.warning("feed_health_no_admins", notices=[n.subject for n in plan.notices])
        return plan
