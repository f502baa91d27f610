"""Who is acting, whether they may use the bot, and whether they administer the chat.

``actor_of`` reads an update's sender: a user, or a chat speaking for itself (an
anonymous group admin writes from GroupAnonymousBot with ``sender_chat`` = the group; a
channel post comes from the channel). The *principal* is the id access is decided
for: the user's id, or the chat's id when the chat speaks for itself.

``access_state`` (pure) applies the configured mode: ``allowlist`` (the listed ids),
``approval`` (listed ids and requests the admins approved), ``open`` (anyone not
denied). The bot's admins (admins.telegram) are always allowed.

``ChatAdmins`` answers "may this actor change this chat's settings": always in a private
chat, always for a chat speaking for itself (only its admins can), else by
getChatMember (creator or administrator), remembered for a minute so a busy group
does not cost a call per command. Errors of the lookup mean "no".
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from telegram import Bot, Chat, Update
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

from monitor.logs import get_logger

log = get_logger("monitor.bot")

AccessMode = Literal["allowlist", "approval", "open"]
AccessState = Literal["allowed", "pending", "denied", "unknown"]
ADMIN_CACHE_S = 60.0


@dataclass(frozen=True, slots=True)
class Actor:
    """Who sent an update, and in which chat."""

    chat_id: int
    chat_kind: str  # private, group, supergroup, channel
    chat_title: str
    chat_username: str | None
    principal: int  # the user's id, or the chat's when the chat speaks for itself
    name: str
    speaks_for_chat: bool = False  # an anonymous admin or a channel post

    @property
    def private(self) -> bool:
        return self.chat_kind == Chat.PRIVATE


def _title(chat: Chat) -> str:
    if chat.type == Chat.PRIVATE:
        return " ".join(p for p in (chat.first_name, chat.last_name) if p) or str(chat.id)
    return chat.title or chat.username or str(chat.id)


def _actor(chat: Chat, principal: int, name: str, *, speaks_for_chat: bool = False) -> Actor:
    return Actor(chat.id, chat.type, _title(chat), chat.username, principal, name, speaks_for_chat)


def actor_of(update: Update) -> Actor | None:
    """The actor of a message, channel post, button press or membership change."""
    query = update.callback_query
    if query is not None:
        if query.message is None or query.from_user is None:
            return None
        return _actor(query.message.chat, query.from_user.id, query.from_user.full_name)
    message = update.message or update.channel_post
    member = update.my_chat_member
    if message is None and member is not None:
        return _actor(member.chat, member.from_user.id, member.from_user.full_name)
    if message is None:
        return None
    sender_chat = message.sender_chat
    if sender_chat is not None:
        return _actor(
            message.chat,
            sender_chat.id,
            _title(sender_chat),
            speaks_for_chat=sender_chat.id == message.chat.id,
        )
    sender = message.from_user
    if sender is None:
        return None
    return _actor(message.chat, sender.id, sender.full_name)


def access_state(
    mode: AccessMode,
    principal: int,
    *,
    allowed: Iterable[int],
    admins: Iterable[int],
    stored: str | None,
) -> AccessState:
    """May ``principal`` use the bot? ``stored``: its row in bot_access, if any."""
    if principal in set(admins):
        return "allowed"
    if stored == "denied":
        return "denied"
    if principal in set(allowed):
        return "allowed"
    if mode == "open":
        return "allowed"
    if mode == "approval":
        if stored == "approved":
            return "allowed"
        if stored == "pending":
            return "pending"
    return "unknown"


class ChatAdmins:
    """Whether an actor administers its chat (getChatMember, remembered briefly)."""

    def __init__(self, bot: Bot, *, ttl_s: float = ADMIN_CACHE_S) -> None:
        self.bot = bot
        self.ttl_s = ttl_s
        self._known: dict[tuple[int, int], tuple[float, bool]] = {}

    async def is_admin(self, actor: Actor) -> bool:
        if actor.private or actor.speaks_for_chat:
            return True
        key = (actor.chat_id, actor.principal)
        now = time.monotonic()
        known = self._known.get(key)
        if known is not None and known[0] > now:
            return known[1]
        try:
            member = await self.bot.get_chat_member(actor.chat_id, actor.principal)
            verdict = member.status in (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)
        except TelegramError as exc:  # not a member, a channel id, the API down: "no"
            log.info("chat_member_unknown", chat=actor.chat_id, error=type(exc).__name__)
            verdict = False
        if len(self._known) > 10_000:
            self._known = {k: v for k, v in self._known.items() if v[0] > now}
        self._known[key] = (now + self.ttl_s, verdict)
        return verdict

    def forget(self, chat_id: int) -> None:
        self._known = {k: v for k, v in self._known.items() if k[0] != chat_id}
