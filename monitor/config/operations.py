"""Settings models of monitor.yaml for running the service: clustering thresholds,
delivery pacing, the local HTTP endpoint, feed-health alerting, retention and the
Telegram bot.

Each field has a documented default; ``monitor schema`` shows them to editors.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from monitor.config.types import Duration
from monitor.core.ratelimit import Limit, TelegramLimits


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class ClusteringSettings(_Model):
    """How items are grouped into stories (see docs/clustering.md for the calibration)."""

    window: Duration = 72 * 3600
    """How long a story stays open for new items (default 72h)."""
    copy_min: float = Field(0.5, ge=0, le=1)
    """Estimated word-3-shingle Jaccard from which two texts are copies."""
    content_min: float = Field(0.18, ge=0, le=1)
    """TF-IDF cosine from which two texts tell the same story (a rewrite)."""
    content_sure: float = Field(0.3, ge=0, le=1)
    """TF-IDF cosine from which names and numbers need not agree."""
    title_min: float = Field(0.9, ge=0, le=1)
    """Similarity (0-1) of folded titles from which they are near-identical."""
    names_min: float = Field(0.4, ge=0, le=1)
    """Agreement of names and numbers for items in different languages."""


class TelegramRates(_Model):
    """Telegram's limits (bots FAQ: 1 message/s per chat, 20/min per group, 30/s overall)."""

    per_chat_per_second: int = Field(1, ge=1, le=30)
    """Messages (sends and edits) per second to one chat."""
    per_group_per_minute: int = Field(20, ge=1, le=60)
    """Messages per minute to one group, supergroup or channel (negative chat ids)."""
    overall_per_second: int = Field(25, ge=1, le=30)
    """Messages per second across every chat (Telegram allows about 30)."""


class DeliverySettings(_Model):
    """How the outbox sender delivers alerts."""

    telegram: TelegramRates = TelegramRates()
    update_interval: Duration = 300
    """Shortest time between two updates of one sent alert (more outlets): default 5m."""
    lease: Duration = 120
    """How long claimed alerts stay reserved for one sender; a dead sender's claims are
    taken over after this (default 2m)."""
    retry_base_s: float = Field(5.0, gt=0, le=3600)
    """First wait after a transient failure without retry_after; it doubles each time."""
    max_backoff: Duration = 900
    """Longest wait after repeated transient failures of one recipient (default 15m); a
    server's retry_after is always honoured, however long."""
    per_recipient: int = Field(5, ge=1, le=100)
    """Alerts claimed for one recipient at a time (they are sent in order)."""
    max_recipients: int = Field(64, ge=1, le=1000)
    """Recipients served at the same time by one sender."""
    concurrency: int = Field(16, ge=1, le=200)
    """Sends in flight at the same time, per channel."""
    digest_chunk: int = Field(8, ge=1, le=100)
    """Stories per digest message (a channel splits further at its length limit)."""

    def telegram_limits(self) -> TelegramLimits:
        rates = self.telegram
        return TelegramLimits(
            per_chat=Limit(rates.per_chat_per_second, 1.0),
            per_group=Limit(rates.per_group_per_minute, 60.0),
            overall=Limit(rates.overall_per_second, 1.0),
        )


class HttpSettings(_Model):
    """The local endpoint for /metrics (Prometheus) and /healthz; off unless a port is set."""

    host: str = "127.0.0.1"
    """Address to listen on (keep it local)."""
    port: int | None = Field(None, ge=1, le=65535)
    """Port to listen on; none = no endpoint."""


class HealthSettings(_Model):
    """When admins hear about feeds: one notice per incident, one on recovery."""

    failures_before_alert: int = Field(5, ge=1)
    """Consecutive failed polls before a feed is reported failing."""
    stale_factor: float = Field(6.0, gt=1)
    """A feed is stale when silent for this many times its usual gap between items ..."""
    stale_min: Duration = 24 * 3600
    """... and for at least this long."""
    check_every: Duration = 60
    """How often feed health is assessed (default 1m)."""


class RetentionSettings(_Model):
    """How long items, stories and deliveries are kept (purged in the background)."""

    items: Duration = 90 * 86400
    """Items and stories older than this are deleted (default 90d)."""
    deliveries: Duration = 90 * 86400
    """Sent or failed deliveries older than this are deleted (default 90d)."""


class BotQuotas(_Model):
    """What one chat may store through the bot (a private chat is one user)."""

    subscriptions: int = Field(30, ge=0, le=1000)
    """Watchlists of watchlists.yaml one chat may subscribe to."""
    watchlists: int = Field(5, ge=0, le=100)
    """Personal watchlists (/watch) one chat may keep."""
    query_length: int = Field(400, ge=10, le=2000)
    """Longest query of a personal watchlist, in characters."""
    query_parts: int = Field(40, ge=1, le=400)
    """Most terms and operators in a personal watchlist's query (its complexity)."""
    mutes: int = Field(200, ge=0, le=10000)
    """Mutes (stories, outlets, watchlists) one chat may keep."""


class BotSettings(_Model):
    """The Telegram bot: users subscribe, tune and give feedback from the chat.

    Needs channels.telegram (the same bot token). Off unless enabled."""

    enabled: bool = False
    """Answer commands and buttons (long polling inside the daemon)."""
    access: Literal["allowlist", "approval", "open"] = "allowlist"
    """Who may use the bot: allowlist (the ids below), approval (admins approve each
    request from the chat), open (anyone)."""
    allowed_users: tuple[int, ...] = ()
    """Telegram user ids allowed in allowlist and approval modes (a channel's or an
    anonymous admin's chat id stands for the chat). admins.telegram are always allowed."""
    quotas: BotQuotas = BotQuotas()
    commands_per_minute: int = Field(20, ge=1, le=600)
    """Commands and button presses one user may send per minute; more are dropped."""
    poll_timeout: int = Field(30, ge=0, le=50)
    """Seconds a getUpdates long poll waits for news (0 = short polling)."""
