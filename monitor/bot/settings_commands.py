"""The commands that tune a chat: delivery, quiet hours, time zone, mutes, own watchlists.

/digest immediate|hourly|daily HH:MM, /quiet HH:MM-HH:MM|off, /timezone Area/City (read
with the same rules as monitor.yaml), /mute NAME DURATION|off and /unmute NAME (a
watchlist for a while, or an outlet muted from a button), /watch NAME QUERY and
/unwatch NAME (personal watchlists: the query language of watchlists.yaml under the
bot's tighter limits; only this chat receives them). Quotas are checked inside the
transaction that writes, so two racing commands cannot both pass.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection

from monitor.bot.access import AccessState
from monitor.bot.chat_commands import (
    MANAGED,
    Reply,
    chat_timezone,
    resolve_watchlist,
    write_and_refresh,
)
from monitor.bot.context import BotContext, Request
from monitor.bot.quotas import check_personal, over_quota
from monitor.bot.replies import text
from monitor.config.types import parse_duration, parse_mode, parse_quiet_hours, parse_timezone
from monitor.core.render_telegram import local_time
from monitor.store import bot as bot_store

MAX_MUTE = timedelta(days=365)


async def _settings(ctx: BotContext, req: Request, values: dict[str, object], done: str) -> Reply:
    actor, now = req.actor, ctx.now()
    if ctx.configured_key(actor) is not None:
        return text(MANAGED)

    def work(conn: Connection) -> str:
        bot_store.register_chat(conn, actor.chat_id, actor.chat_kind, actor.chat_title, now)
        bot_store.update_chat(conn, actor.chat_id, now, **values)
        return done

    return await write_and_refresh(ctx, req, work)


async def digest(ctx: BotContext, req: Request, state: AccessState) -> Reply:
    try:
        mode = parse_mode(" ".join(req.command.words))
    except ValueError as exc:
        return text(f"{exc}.")
    word, _, at = mode.partition(" ")
    done = {
        "immediate": "Alerts come one by one, as soon as they are found.",
        "hourly": "Alerts come as one digest per hour.",
        "daily": f"Alerts come as one digest a day at {at} (this chat's time zone).",
    }[word]
    return await _settings(ctx, req, {"mode": word, "daily_at": at or None}, done)


async def quiet(ctx: BotContext, req: Request, state: AccessState) -> Reply:
    args = req.command.args.strip()
    if args.lower() == "off":
        return await _settings(
            ctx, req, {"quiet_start": None, "quiet_end": None}, "Quiet hours are off."
        )
    try:
        start, end = parse_quiet_hours(args.replace(" ", ""))
    except ValueError as exc:
        return text(f"{exc}, or off.")
    done = f"Quiet hours {start}-{end}: alerts are held until they end (high priority ones come)."
    return await _settings(ctx, req, {"quiet_start": start, "quiet_end": end}, done)


async def timezone(ctx: BotContext, req: Request, state: AccessState) -> Reply:
    try:
        zone = parse_timezone(req.command.args.strip())
    except ValueError as exc:
        return text(f"{exc}.")
    return await _settings(ctx, req, {"timezone": zone}, f"Time zone: {zone}.")


async def mute(ctx: BotContext, req: Request, state: AccessState) -> Reply:
    words = req.command.words
    if len(words) < 2:
        return text("Use /mute NAME DURATION (e.g. /mute Starlink 2h) or /mute NAME off.")
    found = resolve_watchlist(ctx, req.actor, " ".join(words[:-1]))
    if isinstance(found, str):
        return text(found)
    name, shown = found
    key, now = ctx.recipient_key(req.actor), ctx.now()
    if words[-1].lower() == "off":
        gone = await ctx.once(
            req.update_id,
            lambda conn: bot_store.remove_mute(conn, key, bot_store.WATCHLIST, name),
        )
        if gone is None:
            return None
        return text(f"{shown} is not muted any more." if gone else f"{shown} was not muted.")
    try:
        seconds = parse_duration(words[-1])
    except ValueError as exc:
        return text(f"{exc}.")
    until = now + min(timedelta(seconds=seconds), MAX_MUTE)
    quota = ctx.settings.quotas.mutes

    def work(conn: Connection) -> str:
        refused = over_quota(bot_store.count_mutes(conn, key, now), quota, "mutes")
        muted = {m.target for m in bot_store.mutes_of(conn, key, now) if m.kind == "watchlist"}
        if refused and name not in muted:
            return refused
        bot_store.add_mute(conn, key, bot_store.WATCHLIST, name, shown, until, now)
        return ""

    refused = await ctx.once(req.update_id, work)
    if refused is None:
        return None
    if refused:
        return text(refused)
    zone = chat_timezone(ctx, req.actor, None)
    return text(f"{shown} is muted until {local_time(until, zone)}. /mute {shown} off ends it.")


async def unmute(ctx: BotContext, req: Request, state: AccessState) -> Reply:
    wanted = " ".join(req.command.words)
    if not wanted:
        return text("Use /unmute NAME: a watchlist, or an outlet muted from an alert.")
    key, now = ctx.recipient_key(req.actor), ctx.now()
    found = resolve_watchlist(ctx, req.actor, wanted)
    target = found[0] if not isinstance(found, str) else None

    def work(conn: Connection) -> str:
        mutes = bot_store.mutes_of(conn, key, now)
        for m in mutes:
            is_watchlist = m.kind == bot_store.WATCHLIST and m.target == target
            is_outlet = m.kind == bot_store.FEED and m.label.casefold() == wanted.casefold()
            if is_watchlist or is_outlet:
                bot_store.remove_mute(conn, key, m.kind, m.target)
                return f"{m.label} is not muted any more."
        return f"Nothing called {wanted} is muted here. /mine lists the mutes."

    answer = await ctx.once(req.update_id, work)
    return None if answer is None else text(answer)


async def watch(ctx: BotContext, req: Request, state: AccessState) -> Reply:
    name, _, query = req.command.args.strip().partition(" ")
    query = query.strip()
    problem = check_personal(name, query, ctx.limits)
    if problem:
        return text(problem)
    if name in ctx.watchlist_names:
        return text(f"{name} is a shared watchlist: /subscribe {name}, or choose another name.")
    actor = req.actor
    owner, now, quota = ctx.recipient_key(actor), ctx.now(), ctx.settings.quotas.watchlists
    managed = ctx.configured_key(actor) is not None

    def work(conn: Connection) -> str:
        mine = {p.name for p in bot_store.personal_watchlists(conn, owner)}
        if name not in mine:
            refused = over_quota(len(mine), quota, "watchlists of its own")
            if refused:
                return refused
        if not managed:  # its owner must be a recipient
            bot_store.register_chat(conn, actor.chat_id, actor.chat_kind, actor.chat_title, now)
        bot_store.save_watchlist(conn, owner, name, query, now)
        verb = "Changed" if name in mine else "Watching"
        return f"{verb} {name}: {query}\nIts alerts come to this chat only."

    return await write_and_refresh(ctx, req, work)


async def unwatch(ctx: BotContext, req: Request, state: AccessState) -> Reply:
    name = req.command.args.strip()
    owner = ctx.recipient_key(req.actor)
    gone = await ctx.once(req.update_id, lambda conn: bot_store.delete_watchlist(conn, owner, name))
    if gone is None:
        return None
    if not gone:
        return text(f"You have no watchlist named {name}. /mine lists yours.")
    await ctx.directory.refresh()
    return text(f"Deleted {name}.")
