"""The bot's commands: one table for /help and setMyCommands, and command parsing.

Each ``CommandSpec`` says how the command is written, what it does (the menu line,
at most 256 characters), who may use it (everyone allowed, admins of the bot) and
whether it changes the chat's settings (in groups and channels only chat
administrators may). ``parse_command`` reads ``/name@bot arguments`` from a message;
a command addressed to another bot is not ours. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_COMMAND = re.compile(r"/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{3,32}))?(?:\s+|$)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    usage: str  # arguments, e.g. "NAME DURATION"
    summary: str  # the menu line
    detail: str = ""  # more for /help NAME
    admin: bool = False  # only the bot's admins (admins.telegram)
    changes_chat: bool = False  # in groups: chat administrators only
    public: bool = False  # answered for anyone, even users without access


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("start", "", "register this chat and show your access", public=True),
    CommandSpec("help", "[COMMAND]", "what each command does", public=True),
    CommandSpec("watchlists", "", "the watchlists you can subscribe to"),
    CommandSpec(
        "subscribe",
        "NAME",
        "receive a watchlist's alerts here",
        "e.g. /subscribe Starlink",
        changes_chat=True,
    ),
    CommandSpec("unsubscribe", "NAME", "stop a watchlist's alerts here", changes_chat=True),
    CommandSpec("mine", "", "this chat's subscriptions, watchlists, settings and mutes"),
    CommandSpec(
        "digest",
        "immediate|hourly|daily HH:MM",
        "each alert at once, or a digest",
        "Times are in this chat's time zone (/timezone).",
        changes_chat=True,
    ),
    CommandSpec(
        "quiet",
        "HH:MM-HH:MM|off",
        "hold alerts during these hours",
        "Held alerts arrive when the quiet hours end; high-priority ones come at once.",
        changes_chat=True,
    ),
    CommandSpec(
        "timezone", "Area/City", "this chat's time zone, e.g. Asia/Jakarta", changes_chat=True
    ),
    CommandSpec(
        "mute",
        "NAME DURATION|off",
        "pause a watchlist for a while, e.g. /mute Starlink 2h",
        "Durations: 90s, 30m, 2h, 3d (at most 365d). /mute NAME off ends it.",
        changes_chat=True,
    ),
    CommandSpec("unmute", "NAME", "end a mute of a watchlist or an outlet", changes_chat=True),
    CommandSpec("recent", "NAME [N]", "the latest stories a watchlist matched (N up to 20)"),
    CommandSpec(
        "watch",
        "NAME QUERY",
        "your own watchlist, e.g. /watch floods flood* NEAR/5 Jakarta",
        "The query language of watchlists.yaml (docs/query-language.md), shorter and "
        "simpler. Only this chat receives its alerts. /watch NAME QUERY again replaces it.",
        changes_chat=True,
    ),
    CommandSpec("unwatch", "NAME", "delete one of your own watchlists", changes_chat=True),
    CommandSpec("status", "", "feed health and outbox backlog", admin=True),
    CommandSpec("approve", "USER_ID", "give a user access to the bot", admin=True),
    CommandSpec("deny", "USER_ID", "refuse or withdraw a user's access", admin=True),
)
BY_NAME = {spec.name: spec for spec in COMMANDS}


@dataclass(frozen=True, slots=True)
class Command:
    """A command as written: its name (lower-case) and the text after it."""

    name: str
    args: str

    @property
    def words(self) -> list[str]:
        return self.args.split()


def parse_command(text: str | None, bot_username: str | None) -> Command | None:
    """``/name@bot args`` -> Command; None for plain text or another bot's command."""
    if not text:
        return None
    found = _COMMAND.match(text.strip())
    if found is None:
        return None
    addressed = found.group(2)
    if addressed and bot_username and addressed.lower() != bot_username.lower():
        return None
    return Command(found.group(1).lower(), text.strip()[found.end() :].strip())


def _visible(*, admin: bool) -> list[CommandSpec]:
    return [spec for spec in COMMANDS if admin or not spec.admin]


def _written(spec: CommandSpec) -> str:
    """How the command is written: ``/mute NAME DURATION|off``."""
    return f"/{spec.name} {spec.usage}" if spec.usage else f"/{spec.name}"


def menu(*, admin: bool) -> list[tuple[str, str]]:
    """(command, description) pairs for setMyCommands."""
    return [(spec.name, _menu_line(spec)) for spec in _visible(admin=admin)]


def _menu_line(spec: CommandSpec) -> str:
    line = f"{spec.usage} — {spec.summary}" if spec.usage else spec.summary
    return line[:256]


def help_lines(*, admin: bool) -> list[str]:
    """One line per command: ``/subscribe NAME — receive a watchlist's alerts here``."""
    return [f"{_written(spec)} — {spec.summary}" for spec in _visible(admin=admin)]


def command_help(spec: CommandSpec) -> str:
    text = f"{_written(spec)}\n{spec.summary}"
    if spec.detail:
        text += f"\n{spec.detail}"
    if spec.changes_chat:
        text += "\nIn groups and channels, only chat administrators can do this."
    if spec.admin:
        text += "\nFor the bot's administrators."
    return text
