"""The commands that register a chat and choose what it receives.

/start (register, show access; in approval mode, ask the admins), /help, /watchlists,
/subscribe NAME, /unsubscribe NAME, /mine and /recent NAME [N]. Each returns the reply
(styled pieces), or None when the update was already handled. Changes are made in one
transaction with the update's claim (``BotContext.once``), then the directory is
refreshed so the next poll already plans alerts for the change.

A chat configured in monitor.yaml is the administrator's: its subscriptions and
delivery settings are not changed from the chat (the reply says so).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from rapidfuzz import process
from sqlalchemy import Connection

from monitor.bot import admin_commands
from monitor.bot.access import AccessState, Actor
from monitor.bot.commands import BY_NAME, command_help, help_lines
from monitor.bot.context import BotContext, Request
from monitor.bot.quotas import over_quota
from monitor.bot.replies import bold, link, text
from monitor.core.plan import personal_watchlist
from monitor.core.render_telegram import Piece, local_time
from monitor.store import bot as bot_store
from monitor.store import outbox as outbox_store

Reply = list[Piece] | None
Handler = Callable[[BotContext, Request, AccessState], Awaitable[Reply]]

RECENT_DEFAULT, RECENT_MAX = 5, 20
MANAGED = (
    "This chat is set up in the configuration by the administrator: its subscriptions "
    "and delivery settings are changed there. /watch, /mute and the buttons still work."
)


def refusal(ctx: BotContext, actor: Actor, state: AccessState) -> list[Piece]:
    """The clear answer for someone who may not use the bot (no state is created)."""
    if state == "pending":
        return text("Your request is waiting for an administrator.")
    if state == "denied":
        return text("Your access to this bot was refused.")
    if ctx.settings.access == "approval":
        return text("You do not have access yet. Send /start to ask the administrators.")
    return text(
        "This bot is private.",
        f"Ask its administrator to add your Telegram id {actor.principal}.",
    )


def resolve_watchlist(ctx: BotContext, actor: Actor, name: str) -> tuple[str, str] | str:
    """(compiled name, display name) of a configured or personal watchlist, or the refusal."""
    wanted = " ".join(name.split())
    if not wanted:
        return "Give a watchlist name: /watchlists lists them."
    names = ctx.watchlist_names
    for candidate in (wanted, *(n for n in names if n.casefold() == wanted.casefold())):
        if candidate in names:
            return candidate, candidate
    owner = ctx.recipient_key(actor)
    for personal in ctx.directory.personal_of(owner):
        if personal.name.casefold() == wanted.casefold():
            return personal_watchlist(owner, personal.name), personal.name
    best = process.extractOne(wanted, names, score_cutoff=70) if names else None
    hint = f" Did you mean {best[0]}?" if best else ""
    return f"No watchlist named {wanted}.{hint} /watchlists lists them."


async def start(ctx: BotContext, req: Request, state: AccessState) -> Reply:
    actor, now = req.actor, ctx.now()
    if state == "unknown" and ctx.settings.access == "approval":
        asked = await ctx.once(
            req.update_id,
            lambda conn: bot_store.request_access(conn, actor.principal, actor.name, now),
        )
        if asked is None:
            return None
        if asked:
            await admin_commands.announce_request(ctx, actor)
        return text(
            "Your request was sent to the administrators.",
            "You will get a message here when they decide.",
        )
    if state != "allowed":
        return refusal(ctx, actor, state)
    key = ctx.recipient_key(actor)
    managed = ctx.configured_key(actor) is not None
    may_register = actor.private or await ctx.chat_admins.is_admin(actor)

    def work(conn: Connection) -> tuple[bool, int, list[str]]:
        changed = resumed = 0
        if may_register:
            if not managed:
                changed = bot_store.register_chat(
                    conn, actor.chat_id, actor.chat_kind, actor.chat_title, now
                )
            resumed = outbox_store.resume_recipient(conn, key, now)
        return bool(changed), resumed, bot_store.subscriptions(conn, actor.chat_id)

    done = await ctx.once(req.update_id, work)
    if done is None:
        return None
    changed, resumed, subscribed = done
    if changed:
        await ctx.directory.refresh()
    lines: list[str | list[Piece]] = [[Piece("Welcome, "), bold(actor.name), Piece(".")]]
    lines.append("You have access to this bot.")
    if managed:
        lines.append(MANAGED)
    elif subscribed:
        lines.append("This chat receives: " + ", ".join(subscribed) + ".")
    else:
        lines.append("Choose what to receive: /watchlists, then /subscribe NAME.")
    if resumed:
        lines.append(f"{resumed} alert(s) held while the bot could not write here are coming.")
    lines.append("/help lists every command.")
    return text(*lines)


async def help_command(ctx: BotContext, req: Request, state: AccessState) -> Reply:
    wanted = req.command.args.strip().lstrip("/").lower()
    admin = ctx.is_bot_admin(req.actor)
    spec = BY_NAME.get(wanted)
    if wanted and spec is not None and (admin or not spec.admin):
        return text(*command_help(spec).split("\n"))
    lines: list[str | list[Piece]] = []
    if state != "allowed":
        lines += [refusal(ctx, req.actor, state), ""]
    lines.append([bold("Commands")])
    lines += help_lines(admin=admin)
    return text(*lines)


async def list_watchlists(ctx: BotContext, req: Request, state: AccessState) -> Reply:
    actor = req.actor
    subscribed = await ctx.once(
        req.update_id, lambda conn: set(bot_store.subscriptions(conn, actor.chat_id))
    )
    if subscribed is None:
        return None
    names = ctx.watchlist_names
    if not names:
        return text("No watchlists are configured yet.")
    lines: list[str | list[Piece]] = [[bold("Watchlists")]]
    lines += [f"{'✅' if n in subscribed else '▫️'} {n}" for n in names]
    lines.append("/subscribe NAME to receive one here; /watch NAME QUERY for your own.")
    return text(*lines)


async def subscribe(ctx: BotContext, req: Request, state: AccessState) -> Reply:
    return await _change_subscription(ctx, req, add=True)


async def unsubscribe(ctx: BotContext, req: Request, state: AccessState) -> Reply:
    return await _change_subscription(ctx, req, add=False)


async def _change_subscription(ctx: BotContext, req: Request, *, add: bool) -> Reply:
    actor, now = req.actor, ctx.now()
    if ctx.configured_key(actor) is not None:
        return text(MANAGED)
    found = resolve_watchlist(ctx, actor, req.command.args)
    if isinstance(found, str):
        return text(found)
    name, _shown = found
    if name not in ctx.watchlist_names:
        return text(f"{name} is your own watchlist: its alerts come here already.")
    quota = ctx.settings.quotas.subscriptions

    def work(conn: Connection) -> str:
        if not add:
            gone = bot_store.unsubscribe(conn, actor.chat_id, name)
            return (
                f"Unsubscribed from {name}." if gone else f"This chat was not subscribed to {name}."
            )
        current = bot_store.subscriptions(conn, actor.chat_id)
        if name in current:
            return f"Already subscribed to {name}."
        refused = over_quota(len(current), quota, "subscriptions")
        if refused:
            return refused
        bot_store.register_chat(conn, actor.chat_id, actor.chat_kind, actor.chat_title, now)
        bot_store.subscribe(conn, actor.chat_id, name, now)
        return f"Subscribed: alerts of {name} come to this chat."

    return await write_and_refresh(ctx, req, work)


async def write_and_refresh(
    ctx: BotContext, req: Request, work: Callable[[Connection], str]
) -> Reply:
    """``work`` in the update's transaction, then the directory reloaded (so the next
    poll plans for the change); ``work``'s answer (lines) is the reply."""
    answer = await ctx.once(req.update_id, work)
    if answer is None:
        return None
    await ctx.directory.refresh()
    return text(*answer.split("\n"))


async def mine(ctx: BotContext, req: Request, state: AccessState) -> Reply:
    actor, now = req.actor, ctx.now()
    key = ctx.recipient_key(actor)

    def work(conn: Connection) -> tuple[bot_store.ChatSettings | None, list[bot_store.Mute]]:
        return bot_store.get_chat(conn, actor.chat_id), bot_store.mutes_of(conn, key, now)

    done = await ctx.once(req.update_id, work)
    if done is None:
        return None
    chat, mutes = done
    managed = ctx.configured(actor)
    zone = chat_timezone(ctx, actor, chat)
    lines: list[str | list[Piece]] = [[bold("This chat")]]
    if managed is not None:
        subs = (
            ", ".join(managed.watchlists) if managed.watchlists is not None else "every watchlist"
        )
        lines += [MANAGED, f"Receives: {subs}."]
    else:
        subs = ", ".join(chat.subscriptions) if chat and chat.subscriptions else "nothing yet"
        lines.append(f"Subscribed to: {subs}.")
        mode = chat.mode if chat else "immediate"
        if chat and chat.mode == "daily" and chat.daily_at:
            mode = f"daily at {chat.daily_at}"
        lines.append(f"Delivery: {mode}; time zone {zone}.")
        if chat and chat.quiet_hours:
            lines.append(f"Quiet hours: {chat.quiet_hours[0]}-{chat.quiet_hours[1]}.")
    personal = ctx.directory.personal_of(key)
    if personal:
        lines.append([bold("Your watchlists")])
        lines += [f"• {p.name}: {p.query}" for p in personal]
    if mutes:
        lines.append([bold("Muted")])
        for m in mutes:
            until = f" until {local_time(m.until, zone)}" if m.until else ""
            lines.append(f"• {m.kind} {m.label}{until}")
    return text(*lines)


def chat_timezone(ctx: BotContext, actor: Actor, chat: bot_store.ChatSettings | None) -> str:
    configured = ctx.configured(actor)
    if configured is not None:
        return configured.timezone
    return (chat.timezone if chat else None) or ctx.config.monitor.timezone


async def recent(ctx: BotContext, req: Request, state: AccessState) -> Reply:
    words = req.command.words
    count = RECENT_DEFAULT
    if len(words) > 1 and words[-1].isdigit():
        count = max(1, min(RECENT_MAX, int(words[-1])))
        words = words[:-1]
    found = resolve_watchlist(ctx, req.actor, " ".join(words))
    if isinstance(found, str):
        return text(found)
    name, shown = found
    stories = await ctx.once(
        req.update_id, lambda conn: bot_store.recent_stories(conn, name, count)
    )
    if stories is None:
        return None
    if not stories:
        return text(f"{shown} has not matched any story yet.")
    zone = chat_timezone(ctx, req.actor, None)
    lines: list[str | list[Piece]] = [[bold(f"Latest stories of {shown}")]]
    for story in stories:
        when = local_time(story.published, zone, "%Y-%m-%d %H:%M")
        lines.append(
            [
                Piece("• "),
                link(story.title, story.link),
                Piece(f" — {story.feed}, {when}", italic=True),
            ]
        )
    return text(*lines)
