"""One update, from the poller to its reply: rate limit, access, then the handler.

The order is what keeps a flood cheap: the per-user rate is checked first, in memory
(a refused command costs nothing but, once per burst, a "slow down" reply); access
next (in allowlist mode from the configuration alone: an unknown user creates no row);
the group-admin check (getChatMember) only for commands that change a chat; the
database last, in one transaction that also claims the update id.

Plain text in a private chat gets a hint; in groups the bot only answers commands.
A command addressed to another bot (``/start@other_bot``) is left alone.
"""

from __future__ import annotations

import time

from telegram import Update

from monitor.bot import admin_commands, callbacks, chat_commands, settings_commands
from monitor.bot.access import Actor, actor_of
from monitor.bot.chat_commands import Handler, refusal
from monitor.bot.commands import BY_NAME, parse_command
from monitor.bot.context import BotContext, Request
from monitor.bot.replies import text
from monitor.logs import get_logger

log = get_logger("monitor.bot")

HANDLERS: dict[str, Handler] = {
    "start": chat_commands.start,
    "help": chat_commands.help_command,
    "watchlists": chat_commands.list_watchlists,
    "subscribe": chat_commands.subscribe,
    "unsubscribe": chat_commands.unsubscribe,
    "mine": chat_commands.mine,
    "recent": chat_commands.recent,
    "digest": settings_commands.digest,
    "quiet": settings_commands.quiet,
    "timezone": settings_commands.timezone,
    "mute": settings_commands.mute,
    "unmute": settings_commands.unmute,
    "watch": settings_commands.watch,
    "unwatch": settings_commands.unwatch,
    "status": admin_commands.status,
    "approve": admin_commands.approve,
    "deny": admin_commands.deny,
}
assert set(HANDLERS) == set(BY_NAME), "every command in the table has a handler"


async def handle_update(ctx: BotContext, update: Update) -> None:
    """Handle one update; Telegram errors of replies are logged, never raised."""
    actor = actor_of(update)
    if actor is None:
        if update.callback_query is not None:  # under a message too old to be read
            await ctx.replier.answer(update.callback_query.id, "This button is too old.")
        return
    if update.my_chat_member is not None:
        await callbacks.membership(ctx, update.update_id, update.my_chat_member)
        return
    query = update.callback_query
    allowed, warn = ctx.rate.allow(actor.principal, time.monotonic())
    if not allowed:
        log.info("bot_rate_limited", principal=actor.principal, warned=warn)
        if query is not None:
            await ctx.replier.answer(query.id, "Too many requests: wait a little.")
        elif warn:
            wait = max(1, round(ctx.rate.wait_s(actor.principal)))
            ctx.replier.post(
                actor.chat_id, text(f"You are sending commands too fast: wait {wait} s.")
            )
        return
    if query is not None:
        await callbacks.press(ctx, update.update_id, actor, query)
        return
    message = update.message or update.channel_post
    if message is None:
        return
    await _message(ctx, update.update_id, actor, message.text)


async def _message(ctx: BotContext, update_id: int, actor: Actor, body: str | None) -> None:
    command = parse_command(body, ctx.username)
    if command is None:
        if actor.private and body and not body.startswith("/"):
            ctx.replier.post(actor.chat_id, text("Send /help to see what I can do."))
        return
    spec = BY_NAME.get(command.name)
    if spec is None:
        if actor.private:
            ctx.replier.post(
                actor.chat_id, text(f"I do not know /{command.name}. /help lists the commands.")
            )
        return
    state = await ctx.access(actor)
    if not spec.public and state != "allowed":
        ctx.replier.post(actor.chat_id, refusal(ctx, actor, state))
        return
    if spec.admin and not ctx.is_bot_admin(actor):
        ctx.replier.post(actor.chat_id, text("This command is for the bot's administrators."))
        return
    if spec.changes_chat and not await ctx.chat_admins.is_admin(actor):
        ctx.replier.post(
            actor.chat_id, text("Only this chat's administrators can change its alerts.")
        )
        return
    reply = await HANDLERS[command.name](ctx, Request(update_id, actor, command), state)
    if reply:
        ctx.replier.post(actor.chat_id, reply)
    log.info("bot_command", command=command.name, chat=actor.chat_id, handled=reply is not None)
