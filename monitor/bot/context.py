"""What every command and button handler shares: the bot, the database, the settings.

``BotContext`` is built once by monitor.bot.service and updated on a configuration
reload. ``once`` runs a handler's database work in one write transaction that first
claims the update id: an update delivered twice (a retry after a crash, a second
instance that got it too) changes nothing the second time and gets no second reply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection
from telegram import Bot

from monitor.bot.access import AccessState, Actor, ChatAdmins, access_state
from monitor.bot.buttons import ButtonCodec
from monitor.bot.commands import Command
from monitor.bot.directory import Directory, chat_key
from monitor.bot.quotas import CommandRate, personal_limits
from monitor.bot.replies import Replier
from monitor.clock import Clock
from monitor.config import Config
from monitor.config.operations import BotSettings
from monitor.core.models import Recipient
from monitor.core.query import QueryLimits
from monitor.store import bot as bot_store
from monitor.store.bot_tables import claim_update
from monitor.store.database import Database

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Request:
    """One command to handle: the update it came in, who sent it, what it says."""

    update_id: int
    actor: Actor
    command: Command


@dataclass
class BotContext:
    db: Database
    bot: Bot
    replier: Replier
    clock: Clock
    codec: ButtonCodec
    directory: Directory
    chat_admins: ChatAdmins
    config: Config
    rate: CommandRate = field(init=False)
    username: str | None = None

    def __post_init__(self) -> None:
        self.rate = CommandRate(self.settings.commands_per_minute)

    def reconfigure(self, config: Config) -> None:
        if config.monitor.bot.commands_per_minute != self.settings.commands_per_minute:
            self.rate = CommandRate(config.monitor.bot.commands_per_minute)
        self.config = config

    @property
    def settings(self) -> BotSettings:
        return self.config.monitor.bot

    @property
    def limits(self) -> QueryLimits:
        return personal_limits(self.settings.quotas)

    @property
    def bot_admins(self) -> frozenset[int]:
        """admins.telegram (user ids; a group's id stands for the group)."""
        return frozenset(c for c in self.config.monitor.admins.telegram if isinstance(c, int))

    def is_bot_admin(self, actor: Actor) -> bool:
        return actor.principal in self.bot_admins

    @property
    def watchlist_names(self) -> list[str]:
        return [w.name for w in self.config.watchlists]

    def now(self) -> datetime:
        return self.clock.now()

    def configured(self, actor: Actor) -> Recipient | None:
        """The monitor.yaml recipient that is this chat, if any."""
        addresses = {str(actor.chat_id)}
        if actor.chat_username:
            addresses.add("@" + actor.chat_username.lower())
        for recipient in self.config.recipients:
            if recipient.channel == "telegram" and recipient.address.lower() in addresses:
                return recipient
        return None

    def configured_key(self, actor: Actor) -> str | None:
        """The key of the monitor.yaml recipient that is this chat, if any."""
        recipient = self.configured(actor)
        return None if recipient is None else recipient.key

    def recipient_key(self, actor: Actor) -> str:
        """The recipient key alerts to this chat carry (configured, or ``telegram:<id>``)."""
        return self.configured_key(actor) or chat_key(actor.chat_id)

    async def access(self, actor: Actor) -> AccessState:
        """The actor's access; reads the database only when the mode needs it."""
        settings = self.settings
        stored = None
        if settings.access != "allowlist" and actor.principal not in self.bot_admins:
            stored = await self.db.read(bot_store.access_status, actor.principal)
        return access_state(
            settings.access,
            actor.principal,
            allowed=settings.allowed_users,
            admins=self.bot_admins,
            stored=stored,
        )

    async def once(self, update_id: int, work: Callable[[Connection], T]) -> T | None:
        """``work`` in a write transaction that claims ``update_id``; None if already done."""
        now = self.clock.now()

        def run(conn: Connection) -> T | None:
            if not claim_update(conn, update_id, now):
                return None
            return work(conn)

        return await self.db.write(run)
