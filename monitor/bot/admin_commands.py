"""The bot's admin side: /status, /approve ID, /deny ID and the access requests.

/status summarises feed health (monitor.store.health ``feed_status``: failing feeds
first) and the outbox backlog (``outbox_status``). In approval mode a new user's /start
becomes one request row and one message to each admin with Approve / Deny buttons
(signed); /approve and /deny do the same by id, and the user is told the decision.
Only ids listed in admins.telegram get here (the dispatcher checks).
"""

from __future__ import annotations

from sqlalchemy import Connection
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from monitor.bot.access import AccessState, Actor
from monitor.bot.buttons import APPROVE, DENY
from monitor.bot.context import BotContext, Request
from monitor.bot.replies import bold, text
from monitor.core.feed_health import human_duration
from monitor.core.render_telegram import Piece
from monitor.logs import get_logger
from monitor.store import bot as bot_store
from monitor.store import health as health_store

log = get_logger("monitor.bot")

FAILING_SHOWN = 10
OK_STATUSES = ("ok", "not_modified", "unchanged")


async def status(ctx: BotContext, req: Request, state: AccessState) -> list[Piece] | None:
    now = ctx.now()

    def work(conn: Connection) -> tuple[list[health_store.FeedStatus], health_store.OutboxStatus]:
        return health_store.feed_status(conn, now), health_store.outbox_status(conn, now)

    done = await ctx.once(req.update_id, work)
    if done is None:
        return None
    feeds, outbox = done
    failing = sorted(
        (f for f in feeds if f.error_streak > 0 or f.last_status not in (*OK_STATUSES, None)),
        key=lambda f: -f.error_streak,
    )
    never = sum(1 for f in feeds if f.last_status is None)
    lines: list[str | list[Piece]] = [[bold("Feeds")]]
    lines.append(
        f"{len(feeds)} active: {len(feeds) - len(failing) - never} healthy, "
        f"{len(failing)} failing, {never} not polled yet."
    )
    for f in failing[:FAILING_SHOWN]:
        error = (f.last_error or f.last_status or "").strip()[:120]
        lines.append(f"• {f.name}: {f.error_streak} failed poll(s) — {error}")
    if len(failing) > FAILING_SHOWN:
        lines.append(f"… and {len(failing) - FAILING_SHOWN} more (monitor status).")
    lines.append([bold("Outbox")])
    states = ", ".join(f"{k} {v}" for k, v in sorted(outbox.deliveries.items())) or "empty"
    lines.append(f"Alerts: {states}.")
    waiting = outbox.oldest_age_s(now)
    if waiting > 0:
        lines.append(f"Oldest alert waiting: {human_duration(waiting)}.")
    pending_notices = outbox.notices.get("pending", 0) + outbox.notices.get("sending", 0)
    lines.append(f"Admin notices waiting: {pending_notices}.")
    audience = ctx.directory.audience
    lines.append([bold("Bot")])
    lines.append(
        f"{len(audience.chats)} chat(s), {len(audience.personal)} personal watchlist(s); "
        f"access: {ctx.settings.access}."
    )
    return text(*lines)


async def approve(ctx: BotContext, req: Request, state: AccessState) -> list[Piece] | None:
    return await _decide_command(ctx, req, bot_store.APPROVED)


async def deny(ctx: BotContext, req: Request, state: AccessState) -> list[Piece] | None:
    return await _decide_command(ctx, req, bot_store.DENIED)


async def _decide_command(ctx: BotContext, req: Request, verdict: str) -> list[Piece] | None:
    words = req.command.words
    if len(words) != 1 or not words[0].lstrip("-").isdigit():
        return text(f"Use /{req.command.name} USER_ID (the id in the access request).")
    answer = await decide(ctx, req.update_id, req.actor, int(words[0]), verdict)
    return None if answer is None else text(answer)


async def decide(
    ctx: BotContext, update_id: int, admin: Actor, principal: int, verdict: str
) -> str | None:
    """Record an admin's decision and tell the user; the admin's answer (None: done before)."""
    now = ctx.now()

    def work(conn: Connection) -> tuple[str | None, str]:
        before = bot_store.decide_access(conn, principal, verdict, admin.principal, now)
        return before, bot_store.access_name(conn, principal)

    done = await ctx.once(update_id, work)
    if done is None:
        return None
    before, name = done
    who = f"{name} ({principal})" if name else str(principal)
    if before == verdict:
        return f"{who} was already {verdict}."
    if verdict == bot_store.APPROVED:
        ctx.replier.post(
            principal, text("Your access to this bot was approved.", "/help lists the commands.")
        )
        note = ""
        if ctx.settings.access == "allowlist":
            note = " (access is allowlist: add the id to bot.allowed_users for it to count)"
        return f"Approved {who}{note}."
    if before == bot_store.PENDING:
        ctx.replier.post(principal, text("Your request to use this bot was refused."))
    log.info("bot_access_denied", principal=principal, by=admin.principal)
    return f"Denied {who}."


async def announce_request(ctx: BotContext, actor: Actor) -> int:
    """Send a new access request to every admin, with Approve / Deny buttons."""
    admins = sorted(ctx.bot_admins)
    if not admins:
        log.warning("bot_access_request_unseen", principal=actor.principal)
        return 0
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    "✅ Approve", callback_data=ctx.codec.encode(APPROVE, actor.principal)
                ),
                InlineKeyboardButton(
                    "⛔ Deny", callback_data=ctx.codec.encode(DENY, actor.principal)
                ),
            ]
        ]
    )
    where = "a private chat" if actor.private else f"{actor.chat_kind} {actor.chat_title}"
    reply = text(
        [bold("Access request")],
        f"{actor.name} (id {actor.principal}) from {where} asks to use the bot.",
        f"/approve {actor.principal} or /deny {actor.principal}",
    )
    sent = 0
    for chat in admins:
        sent += ctx.replier.post(chat, reply, keyboard)
    return sent
