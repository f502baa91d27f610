"""The audience in force: monitor.yaml's recipients and watchlists plus the bot's.

The bot's chats become recipients (``telegram:<chat id>``) with their subscriptions and
delivery settings; their personal watchlists are compiled with the configured ones under
a namespaced name (monitor.core.plan), so only their owner receives them. A chat
configured in monitor.yaml keeps its configured settings: the bot does not override the
administrator (its mutes, feedback and personal watchlists still apply).

``merged_recipients`` and ``merged_watchlists`` are pure. ``Directory`` loads the bot's
part from the database and hands the merge to the runtime (``apply``) whenever it
changed: right after a command changed it, and when the database's directory version
moved (another instance's bot changed it). A stored personal watchlist that no longer
passes the limits is left out (and logged), never a reason to stop compiling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from monitor.core.models import DeliveryMode, Recipient, WatchlistSpec
from monitor.core.plan import personal_watchlist
from monitor.core.query import QueryLimits, QuerySyntaxError, parse_query
from monitor.logs import get_logger
from monitor.store import bot as bot_store
from monitor.store import bot_tables
from monitor.store.bot import ChatSettings, PersonalWatchlist
from monitor.store.database import Database

log = get_logger("monitor.bot")


@dataclass(frozen=True, slots=True)
class BotAudience:
    """What the bot adds to the configuration: chats and personal watchlists."""

    chats: tuple[ChatSettings, ...] = ()
    personal: tuple[PersonalWatchlist, ...] = ()
    version: int = -1


EMPTY = BotAudience()


def chat_key(chat_id: int) -> str:
    return f"telegram:{chat_id}"


def chat_recipient(
    chat: ChatSettings, known_watchlists: set[str], default_timezone: str
) -> Recipient:
    """A bot chat as a recipient: only subscriptions to watchlists that still exist."""
    mode: DeliveryMode = "immediate"
    if chat.mode in ("hourly", "daily"):
        mode = "hourly" if chat.mode == "hourly" else "daily"
    return Recipient(
        key=chat_key(chat.chat_id),
        channel="telegram",
        address=str(chat.chat_id),
        watchlists=tuple(w for w in chat.subscriptions if w in known_watchlists),
        timezone=chat.timezone or default_timezone,
        mode=mode,
        daily_at=chat.daily_at if mode == "daily" else None,
        quiet_hours=chat.quiet_hours,
    )


def merged_recipients(
    configured: Sequence[Recipient],
    audience: BotAudience,
    watchlists: Sequence[WatchlistSpec],
    default_timezone: str,
) -> list[Recipient]:
    """The configured recipients, then every active bot chat not configured already."""
    names = {w.name for w in watchlists}
    merged = {r.key: r for r in configured}
    for chat in audience.chats:
        if chat.active and chat_key(chat.chat_id) not in merged:
            recipient = chat_recipient(chat, names, default_timezone)
            merged[recipient.key] = recipient
    return list(merged.values())


def personal_specs(
    personal: Sequence[PersonalWatchlist], limits: QueryLimits
) -> list[WatchlistSpec]:
    """Personal watchlists as specs under their namespaced names; invalid ones left out."""
    specs = []
    for p in personal:
        try:
            parse_query(p.query, limits=limits)
        except QuerySyntaxError as exc:
            log.warning("personal_watchlist_skipped", owner=p.owner, name=p.name, error=str(exc))
            continue
        specs.append(WatchlistSpec(name=personal_watchlist(p.owner, p.name), query=p.query))
    return specs


def merged_watchlists(
    configured: Sequence[WatchlistSpec], personal: Sequence[WatchlistSpec]
) -> list[WatchlistSpec]:
    taken = {w.name for w in configured}
    return [*configured, *(p for p in personal if p.name not in taken)]


def _load(conn: Connection) -> BotAudience:
    return BotAudience(
        tuple(bot_store.load_chats(conn)),
        tuple(bot_store.personal_watchlists(conn)),
        bot_tables.directory_version(conn),
    )


Apply = Callable[[BotAudience, bool], Awaitable[None]]
"""(the bot's audience, whether personal watchlists changed) -> merged into the runtime."""


class Directory:
    """The bot's audience as last loaded, and the hook that merges it into the runtime."""

    def __init__(self, db: Database, apply: Apply) -> None:
        self.db = db
        self.apply = apply
        self.audience = EMPTY
        self._lock = asyncio.Lock()

    async def refresh(self, *, force: bool = False) -> bool:
        """Reload and apply when the stored version moved (or ``force``); True if applied."""
        async with self._lock:
            if not force:
                version = await self.db.read(bot_tables.directory_version)
                if version == self.audience.version:
                    return False
            audience = await self.db.read(_load)
            previous, self.audience = self.audience, audience
            try:
                await self.apply(audience, audience.personal != previous.personal)
            except BaseException:
                self.audience = previous
                raise
            return True

    def personal_of(self, owner: str) -> list[PersonalWatchlist]:
        return [p for p in self.audience.personal if p.owner == owner]
