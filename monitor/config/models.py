"""Pydantic models of the three YAML files: monitor.yaml, feeds.yaml, watchlists.yaml.

Each attribute's docstring is its documentation (it becomes the JSON Schema
description); defaults are written here once. Unknown keys are rejected. These models
only describe and check one file at a time: references between files (a recipient's
watchlists, a watchlist's feeds) are checked by monitor.config.loader.
No I/O, no environment reads.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ByteSize, ConfigDict, Field, model_validator

from monitor.config.operations import (
    BotSettings,
    ClusteringSettings,
    DeliverySettings,
    HealthSettings,
    HttpSettings,
    RetentionSettings,
)
from monitor.config.types import (
    Backfill,
    ChatId,
    DatabaseURL,
    Duration,
    EmailAddress,
    EnvName,
    Exclude,
    Fuzzy,
    HttpURL,
    Language,
    Mode,
    Name,
    QuietHours,
    Sender,
    TimeZoneName,
)

FullText = Literal["auto", "always", "never"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=True, populate_by_name=True
    )

    @model_validator(mode="before")
    @classmethod
    def _empty_means_default(cls, data: Any) -> Any:
        """A key written with no value (``feeds:`` with every item commented out) takes
        its default; a required key left empty is reported as missing."""
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


# --- monitor.yaml ---------------------------------------------------------------


class FetchSettings(_Model):
    """How feeds are fetched."""

    deadline_s: float = Field(30.0, gt=0, le=600)
    """Whole-request deadline in seconds (connect, redirects and body together)."""
    max_bytes: ByteSize = Field(ByteSize(10 * 1024 * 1024), gt=0)
    """Largest body accepted after decompression: bytes or a size such as 10MiB."""
    max_redirects: int = Field(5, ge=0, le=20)
    """Redirects followed before the fetch fails."""
    per_host: int = Field(2, ge=1, le=50)
    """Requests in flight to one host at a time."""
    concurrency: int = Field(10, ge=1, le=500)
    """Requests in flight overall."""
    user_agent: str = "monitor/0.1 (feed reader)"
    """User-Agent header sent with every request."""
    allow_private_networks: bool = False
    """Allow feeds on loopback/private addresses. Real deployments leave this false."""
    default_interval: Duration = 600
    """Poll interval of a feed that sets none (default 10m)."""
    min_interval: Duration = 60
    """Shortest poll interval allowed, also for server hints such as <ttl> (default 1m)."""
    max_interval: Duration = 86400
    """Longest poll interval, also the cap of error backoff (default 1d)."""

    @model_validator(mode="after")
    def _ordered(self) -> FetchSettings:
        if not self.min_interval <= self.default_interval <= self.max_interval:
            raise ValueError("need min_interval <= default_interval <= max_interval")
        return self


class ConsoleChannel(_Model):
    enabled: bool = True
    """Print alerts to standard output (the demo's channel)."""


class TelegramChannel(_Model):
    token_env: EnvName = "TELEGRAM_BOT_TOKEN"  # noqa: S105 (a variable name, not a secret)
    """Name of the environment variable or systemd credential holding the bot token."""
    api_base_url: HttpURL = "https://api.telegram.org/bot"
    """Bot API base URL (the token is appended); tests point it at a local emulator."""
    link_preview: bool = False
    """Let Telegram show a preview of the story link."""


class EmailChannel(_Model):
    host: Name
    """SMTP server host name."""
    port: int | None = Field(None, ge=1, le=65535)
    """SMTP port (default 465 with tls, else 587)."""
    starttls: bool | None = None
    """Upgrade the connection with STARTTLS (default: true unless tls is set)."""
    tls: bool = False
    """Implicit TLS from the first byte (usually port 465)."""
    username_env: EnvName | None = None
    """Name of the environment variable or credential holding the SMTP user name."""
    password_env: EnvName | None = None
    """Name of the environment variable or credential holding the SMTP password."""
    sender: Sender = Field(alias="from")
    """From address, optionally with a display name: "Monitor <alerts@example.org>"."""

    @model_validator(mode="after")
    def _one_tls_mode(self) -> EmailChannel:
        if self.tls and self.starttls:
            raise ValueError("choose tls (implicit TLS) or starttls, not both")
        return self

    @property
    def use_starttls(self) -> bool:
        return (not self.tls) if self.starttls is None else self.starttls

    @property
    def smtp_port(self) -> int:
        return self.port or (465 if self.tls else 587)


class WebhookChannel(_Model):
    url: HttpURL | None = None
    """Default URL for webhook recipients that give none."""
    secret_env: EnvName | None = None
    """Name of the environment variable or credential holding the signing secret."""


class ChannelSettings(_Model):
    console: ConsoleChannel = ConsoleChannel()
    telegram: TelegramChannel | None = None
    email: EmailChannel | None = None
    webhook: WebhookChannel | None = None


class _RecipientBase(_Model):
    name: Name
    """A unique name for this recipient."""
    watchlists: tuple[Name, ...] | None = None
    """Watchlists this recipient receives (default: all)."""
    timezone: TimeZoneName | None = None
    """Time zone for digests and quiet hours (default: the top-level timezone)."""
    mode: Mode = "immediate"
    """immediate, hourly, or daily HH:MM (a digest)."""
    quiet_hours: QuietHours | None = None
    """HH:MM-HH:MM when nothing is sent (held until the end), e.g. 22:00-07:00."""


class ConsoleRecipient(_RecipientBase):
    channel: Literal["console"]


class TelegramRecipient(_RecipientBase):
    channel: Literal["telegram"]
    chat_id: ChatId
    """Telegram chat id (negative for groups) or @channelname."""


class EmailRecipient(_RecipientBase):
    channel: Literal["email"]
    email: EmailAddress
    """The address alerts are sent to."""


class WebhookRecipient(_RecipientBase):
    channel: Literal["webhook"]
    url: HttpURL | None = None
    """Where alerts are POSTed (default: channels.webhook.url)."""


RecipientConfig = Annotated[
    ConsoleRecipient | TelegramRecipient | EmailRecipient | WebhookRecipient,
    Field(discriminator="channel"),
]


class AdminSettings(_Model):
    """Who receives admin notices (feeds failing, deliveries refused ...)."""

    telegram: tuple[ChatId, ...] = ()
    """Telegram chat ids of administrators."""
    email: tuple[EmailAddress, ...] = ()
    """Email addresses of administrators."""


class MonitorSettings(_Model):
    """monitor.yaml: the daemon's settings."""

    database_url: DatabaseURL | None = None
    """SQLAlchemy URL (sqlite:///path or postgresql+psycopg://user@host/db). Default:
    sqlite:///$STATE_DIRECTORY/monitor.db under systemd, else sqlite:///state/monitor.db.
    Never put a password here: use database_password_env."""
    database_password_env: EnvName | None = None
    """Name of the environment variable or credential holding the database password."""
    database_pool_size: int = Field(5, ge=1, le=100)
    """Connections kept open to PostgreSQL."""
    timezone: TimeZoneName = "UTC"
    """Default time zone for recipients (IANA name, e.g. Asia/Jakarta)."""
    log_level: LogLevel = "INFO"
    """DEBUG, INFO, WARNING or ERROR."""
    fetch: FetchSettings = FetchSettings()
    clustering: ClusteringSettings = ClusteringSettings()
    delivery: DeliverySettings = DeliverySettings()
    http: HttpSettings = HttpSettings()
    health: HealthSettings = HealthSettings()
    retention: RetentionSettings = RetentionSettings()
    channels: ChannelSettings = ChannelSettings()
    recipients: tuple[RecipientConfig, ...] = ()
    """Who receives alerts, through which channel."""
    admins: AdminSettings = AdminSettings()
    bot: BotSettings = BotSettings()

    @model_validator(mode="after")
    def _bot_needs_telegram(self) -> MonitorSettings:
        if self.bot.enabled and self.channels.telegram is None:
            raise ValueError("bot.enabled needs channels.telegram (the bot's token and API)")
        return self


# --- feeds.yaml -----------------------------------------------------------------


class FeedDefaults(_Model):
    """Values for every feed that does not set its own."""

    interval: Duration | None = None
    """Poll interval (default: fetch.default_interval of monitor.yaml)."""
    backfill: Backfill = 0
    """Items alerted on a feed's first poll: none (default), a number, or all."""
    full_text: FullText = "auto"
    """Fetch the article page: auto (when the feed gives a teaser), always or never."""
    tags: tuple[Name, ...] = ()
    """Tags every feed gets (a feed's own tags are added to these)."""


class FeedConfig(_Model):
    url: HttpURL
    """The feed's http:// or https:// URL."""
    name: Name | None = None
    """A unique name (default: the URL's host name)."""
    tags: tuple[Name, ...] = ()
    """Tags that watchlists can select feeds by."""
    interval: Duration | None = None
    """Poll interval (default: defaults.interval)."""
    backfill: Backfill | None = None
    """Items alerted on the first poll: none, a number, or all (default: defaults.backfill)."""
    full_text: FullText | None = None
    """auto, always or never (default: defaults.full_text)."""
    language: Language | None = None
    """The feed's language when it does not say (en, id, ru ...)."""


class FeedsFile(_Model):
    """feeds.yaml: the feeds to poll."""

    defaults: FeedDefaults = FeedDefaults()
    feeds: tuple[FeedConfig, ...] = ()


# --- watchlists.yaml ------------------------------------------------------------


class Examples(_Model):
    """Texts the watchlist must (match) and must not (no_match) match; `monitor check` runs them."""

    match: tuple[str, ...] = ()
    """Texts that must match."""
    no_match: tuple[str, ...] = ()
    """Texts that must not match."""


class WatchlistConfig(_Model):
    name: Name
    """A unique name, used by recipients."""
    query: str | None = Field(None, min_length=1)
    """A query in the watchlist language, e.g. Musk AND Putin (or give terms)."""
    terms: tuple[Annotated[str, Field(min_length=1)], ...] | None = Field(None, min_length=1)
    """Exact phrases, any of which matches (shorthand for "t1" OR "t2")."""
    exclude: Exclude | None = None
    """A query, or a list of phrases, that vetoes a match."""
    languages: tuple[Language, ...] = ()
    """Only items in these languages (default: every language)."""
    feeds: tuple[Name, ...] = ()
    """Only items from these feeds, by name or URL (default: every feed)."""
    tags: tuple[Name, ...] = ()
    """Only items from feeds with one of these tags (default: every feed)."""
    priority: Literal["normal", "high"] = "normal"
    """normal or high (high alerts are marked as such)."""
    fuzzy: Fuzzy = "auto"
    """Spelling tolerance: off, auto (by word length), or a maximum number of edits."""
    examples: Examples = Examples()

    @model_validator(mode="after")
    def _query_or_terms(self) -> WatchlistConfig:
        if (self.query is None) == (self.terms is None):
            raise ValueError("give exactly one of query: or terms:")
        return self


class WatchlistsFile(_Model):
    """watchlists.yaml: what to look for."""

    watchlists: tuple[WatchlistConfig, ...] = ()
