"""The outbox sender: claims due deliveries, sends them through their channel, marks them.

Each recipient's alerts are sent in order by one task, so one recipient's trouble
(a slow server, a flood wait) never stalls another's. Transient failures go back to
the outbox with a backoff (``retry_after`` honoured); permanent ones are marked failed.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from monitor.channels.base import Channel
from monitor.clock import Clock
from monitor.core.models import Alert, Recipient
from monitor.errors import PermanentDeliveryError, TransientDeliveryError
from monitor.logs import get_logger
from monitor.store import outbox as store
from monitor.store.database import Database

log = get_logger("monitor.outbox")


def retry_delay(attempts: int, retry_after: float | None, rng: random.Random) -> float:
    """Exponential backoff with jitter (5 s doubling to 1 h), never shorter than retry_after."""
    base = min(3600.0, 5.0 * 2 ** max(0, attempts - 1))
    delay = base * (0.5 + rng.random() / 2)
    return max(delay, retry_after or 0.0)


@dataclass
class SendReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class OutboxSender:
    """Delivers what the outbox holds, in batches."""

    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Channel],
        recipients: Mapping[str, Recipient],
        clock: Clock,
        *,
        batch: int = 200,
        lease_s: float = 120.0,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.channels = channels
        self.recipients = recipients
        self.clock = clock
        self.batch = batch
        self.lease_s = lease_s
        self.rng = rng or random.Random()

    async def send_due(self) -> SendReport:
        """Claim and send everything due now; returns what happened."""
        report = SendReport()
        while True:
            alerts = await self.db.write(
                store.claim_due,
                self.clock.now(),
                limit=self.batch,
                lease_s=self.lease_s,
                channels=list(self.channels),
            )
            if not alerts:
                return report
            by_recipient: dict[str, list[Alert]] = defaultdict(list)
            for alert in alerts:
                by_recipient[alert.recipient].append(alert)
            await asyncio.gather(*(self._send_in_order(a, report) for a in by_recipient.values()))
            if len(alerts) < self.batch:
                return report

    async def _send_in_order(self, alerts: list[Alert], report: SendReport) -> None:
        for alert in alerts:
            await self._send_one(alert, report)

    async def _send_one(self, alert: Alert, report: SendReport) -> None:
        recipient = self.recipients.get(alert.recipient)
        channel = self.channels.get(alert.channel)
        if recipient is None or channel is None:
            why = f"recipient {alert.recipient!r} or channel {alert.channel!r} is not configured"
            await self.db.write(store.mark_failed, alert.delivery_id, why)
            report.failed += 1
            report.errors.append(why)
            log.warning("delivery_failed", delivery=alert.delivery_id, error=why)
            return
        try:
            ref = await channel.send(alert, recipient)
        except TransientDeliveryError as exc:
            delay = retry_delay(alert.attempts, exc.retry_after, self.rng)
            due = self.clock.now() + timedelta(seconds=delay)
            await self.db.write(store.mark_retry, alert.delivery_id, str(exc), due)
            report.retried += 1
            log.info("delivery_retry", delivery=alert.delivery_id, delay_s=round(delay, 1))
        except PermanentDeliveryError as exc:
            await self.db.write(store.mark_failed, alert.delivery_id, str(exc))
            report.failed += 1
            report.errors.append(str(exc))
            log.warning("delivery_failed", delivery=alert.delivery_id, error=str(exc))
        else:
            await self.db.write(store.mark_sent, alert.delivery_id, ref, self.clock.now())
            report.sent += 1
