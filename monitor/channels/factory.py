"""Build the configured channels: console, Telegram, email, webhook, keyed by name.

Secrets are resolved here, once, by the names the configuration gives
(``resolve_secret``: systemd credentials first, then the environment); a missing
secret raises ``ConfigError`` naming where it was looked for, so the daemon stops
loudly at start instead of failing at the first alert. One Telegram ``Bot`` per call
(the daemon calls this once per process). Nothing is sent or connected here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

from monitor.channels.base import Channel
from monitor.channels.console import ConsoleChannel
from monitor.channels.email import EmailChannel
from monitor.channels.telegram import TelegramChannel
from monitor.channels.webhook import WebhookChannel
from monitor.clock import Clock
from monitor.config import Config
from monitor.config.models import ChannelSettings
from monitor.config.secrets import resolve_secret


def build_channels(
    config: Config,
    *,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    clock: Clock | None = None,
) -> dict[str, Channel]:
    """Every channel ``channels:`` of monitor.yaml enables, keyed by channel name."""
    return channels_from_settings(
        config.monitor.channels, stream=stream, environ=environ, clock=clock
    )


def channels_from_settings(
    settings: ChannelSettings,
    *,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    clock: Clock | None = None,
) -> dict[str, Channel]:
    """The same from the ``channels:`` section alone."""
    channels: dict[str, Channel] = {}
    if settings.console.enabled:
        channels["console"] = ConsoleChannel(stream)
    if settings.telegram is not None:
        telegram = settings.telegram
        channels["telegram"] = TelegramChannel(
            resolve_secret(telegram.token_env, environ=environ),
            api_base_url=telegram.api_base_url,
            link_preview=telegram.link_preview,
        )
    if settings.email is not None:
        email = settings.email
        username = (
            resolve_secret(email.username_env, environ=environ).get_secret_value()
            if email.username_env
            else None
        )
        password = (
            resolve_secret(email.password_env, environ=environ) if email.password_env else None
        )
        channels["email"] = EmailChannel(
            host=email.host,
            port=email.smtp_port,
            sender=email.sender,
            starttls=email.use_starttls,
            tls=email.tls,
            username=username,
            password=password,
            clock=clock,
        )
    if settings.webhook is not None:
        webhook = settings.webhook
        secret = resolve_secret(webhook.secret_env, environ=environ) if webhook.secret_env else None
        channels["webhook"] = WebhookChannel(secret=secret, clock=clock)
    return channels
