"""Inline buttons and membership changes.

Under an alert: "Mute this story" (no more alerts nor updates of that story in this
chat; an update already scheduled is dropped), "Mute this outlet" (the feed's items no
longer alert this chat; /unmute NAME undoes it), "Not relevant" (stored with the match:
story x watchlist x chat, counted by ``monitor replay``) and "All sources" (a message
with every outlet of the story and its link). Under an access request: Approve / Deny.

Every press is checked before it does anything: the data must carry this bot's
signature (monitor.bot.buttons), the alert must belong to the chat where the button was
pressed, the presser must have access, and muting a group's alerts needs a chat
administrator. Every press is answered (answerCallbackQuery), so no client spins.

my_chat_member: the bot removed from a group or blocked by a user deactivates the chat
(no more alerts there); /start brings it back.
"""

from __future__ import annotations

from sqlalchemy import Connection
from telegram import CallbackQuery, ChatMemberUpdated
from telegram.constants import ChatMemberStatus

from monitor.bot import admin_commands
from monitor.bot.access import Actor
from monitor.bot.buttons import APPROVE, DENY, Press
from monitor.bot.chat_commands import refusal
from monitor.bot.context import BotContext
from monitor.bot.directory import chat_key
from monitor.bot.quotas import over_quota
from monitor.bot.replies import bold, link, text
from monitor.core.plan import display_watchlist
from monitor.core.render_telegram import (
    ALL_SOURCES,
    MUTE_OUTLET,
    MUTE_STORY,
    NOT_RELEVANT,
    Piece,
    local_time,
)
from monitor.logs import get_logger
from monitor.store import bot as bot_store
from monitor.store import delivery_tables as state_store

log = get_logger("monitor.bot")

GONE = (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED)


async def press(ctx: BotContext, update_id: int, actor: Actor, query: CallbackQuery) -> None:
    """Handle one button press and answer it."""
    found = ctx.codec.decode(query.data)
    if found is None:
        await ctx.replier.answer(query.id, "This button is not valid any more.")
        return
    state = await ctx.access(actor)
    if state != "allowed":
        await ctx.replier.answer(query.id, _plain(refusal(ctx, actor, state)), alert=True)
        return
    if found.action in (APPROVE, DENY):
        await _decide(ctx, update_id, actor, query, found)
        return
    note = await _alert_button(ctx, update_id, actor, found)
    await ctx.replier.answer(query.id, note)


async def _decide(
    ctx: BotContext, update_id: int, actor: Actor, query: CallbackQuery, found: Press
) -> None:
    if not ctx.is_bot_admin(actor):
        await ctx.replier.answer(query.id, "Only the bot's administrators decide.", alert=True)
        return
    verdict = bot_store.APPROVED if found.action == APPROVE else bot_store.DENIED
    answer = await admin_commands.decide(ctx, update_id, actor, found.number, verdict)
    await ctx.replier.answer(query.id, answer)


async def _alert_button(ctx: BotContext, update_id: int, actor: Actor, found: Press) -> str | None:
    info = await ctx.db.read(bot_store.delivery_info, found.number)
    if info is None:
        return "This alert is too old: its story was deleted."
    if not await _belongs(ctx, actor, info.recipient):
        log.warning("bot_button_foreign", chat=actor.chat_id, delivery=found.number)
        return "This button belongs to another chat."
    if found.action == ALL_SOURCES:
        await _all_sources(ctx, update_id, actor, info)
        return None
    if found.action in (MUTE_STORY, MUTE_OUTLET) and not await ctx.chat_admins.is_admin(actor):
        return "Only this chat's administrators can mute its alerts."
    key, now = info.recipient, ctx.now()
    quota = ctx.settings.quotas.mutes

    def work(conn: Connection) -> str:
        if found.action == NOT_RELEVANT:
            bot_store.add_feedback(
                conn, info.story_id, info.watchlists, key, actor.principal, info.title, now
            )
            names = ", ".join(display_watchlist(w) for w in info.watchlists)
            return f"Thanks: noted as not relevant for {names}."
        kind, target, label = (
            (bot_store.STORY, str(info.story_id), info.title)
            if found.action == MUTE_STORY
            else (bot_store.FEED, str(info.feed_id), info.feed_name)
        )
        refused = over_quota(bot_store.count_mutes(conn, key, now), quota, "mutes")
        if refused:
            return refused
        bot_store.add_mute(conn, key, kind, target, label, None, now)
        if kind == bot_store.STORY:
            bot_store.drop_muted_updates(conn, info.story_id, now)
            return "Muted: no more alerts or updates about this story here."
        return (
            f"Muted: {info.feed_name} will not alert this chat. /unmute {info.feed_name} undoes it."
        )

    return await ctx.once(update_id, work)


async def _belongs(ctx: BotContext, actor: Actor, recipient: str) -> bool:
    """Was the alert sent to this chat (also a configured @channel or a migrated group)?"""
    if recipient in (ctx.recipient_key(actor), chat_key(actor.chat_id)):
        return True
    moved = await ctx.db.read(state_store.address_overrides)
    return moved.get(recipient) == str(actor.chat_id)


async def _all_sources(
    ctx: BotContext, update_id: int, actor: Actor, info: bot_store.DeliveryInfo
) -> None:
    items = await ctx.once(update_id, lambda conn: bot_store.story_items(conn, info.story_id))
    if items is None:
        return
    zone = ctx.config.monitor.timezone
    for recipient in ctx.config.recipients:
        if recipient.key == info.recipient:
            zone = recipient.timezone
    lines: list[str | list[Piece]] = [[bold(f"All sources: {info.title}")]]
    for item in items:
        when = local_time(item.published, zone, "%Y-%m-%d %H:%M")
        lines.append(
            [
                Piece(f"• {item.feed}: "),
                link(item.title, item.link),
                Piece(f" ({when})", italic=True),
            ]
        )
    if not items:
        lines.append("No stored item is left for this story.")
    ctx.replier.post(actor.chat_id, text(*lines))


def _plain(pieces: list[Piece]) -> str:
    return "".join(p.text for p in pieces)


async def membership(ctx: BotContext, update_id: int, change: ChatMemberUpdated) -> None:
    """The bot left, was removed or blocked: the chat receives nothing more."""
    status = change.new_chat_member.status
    if status not in GONE:
        return
    chat_id, now = change.chat.id, ctx.now()
    changed = await ctx.once(update_id, lambda conn: bot_store.deactivate_chat(conn, chat_id, now))
    ctx.chat_admins.forget(chat_id)
    if changed:
        log.info("bot_chat_left", chat=chat_id, status=str(status))
        await ctx.directory.refresh()
