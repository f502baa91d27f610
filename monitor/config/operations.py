"""Settings models of monitor.yaml for running the service: clustering thresholds,
delivery pacing, the local HTTP endpoint, feed-health alerting and retention.

Each field has a documented default; ``monitor schema`` shows them to editors.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from monitor.config.types import Duration


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


class DeliverySettings(_Model):
    """Pacing of outgoing alerts (Telegram's limits are the defaults)."""

    per_chat_per_second: float = Field(1.0, gt=0)
    """Messages per second to one chat."""
    per_group_per_minute: int = Field(20, gt=0)
    """Messages per minute to one group or channel."""
    overall_per_second: float = Field(25.0, gt=0)
    """Messages per second to Telegram overall."""
    update_every: Duration = 300
    """An alert is edited (more outlets, another watchlist) at most this often."""


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


class RetentionSettings(_Model):
    """How long items, stories and deliveries are kept (purged in the background)."""

    items: Duration = 90 * 86400
    """Items and stories older than this are deleted (default 90d)."""
    deliveries: Duration = 90 * 86400
    """Sent or failed deliveries older than this are deleted (default 90d)."""
