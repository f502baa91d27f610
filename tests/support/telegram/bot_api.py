"""The Bot API server's state and its dispatcher: tokens, chats, faults, records, rates.

``BotApi.handle(token, method, params)`` is one HTTP call after transport decoding: it
checks the token (404 malformed, 401 unknown), coerces form strings to the types the
Bot API documents, applies programmed faults, runs the method (see ``methods``) and
records the call. It answers a ``Reply`` (status, JSON or nginx HTML body, optional stall)
or None when the server is shutting down and the connection should just drop.

All state sits behind one ``threading.Condition``; getUpdates waits on it. Test support
only: no sockets here.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.support.telegram import objects
from tests.support.telegram.objects import JSON
from tests.support.telegram.polling import ConflictPolicy, UpdateQueue
from tests.support.telegram.records import (
    ApiCall,
    CallbackAnswer,
    FaultBook,
    Outgoing,
    RateLimits,
    ReceivedMessage,
    limit_wait,
)

_TOKEN = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{1,64}")
_INTS = frozenset(
    {
        "message_id",
        "offset",
        "limit",
        "timeout",
        "user_id",
        "cache_time",
        "message_thread_id",
        "max_connections",
        "reply_to_message_id",
    }
)
_BOOLS = frozenset(
    {
        "disable_web_page_preview",
        "disable_notification",
        "protect_content",
        "show_alert",
        "drop_pending_updates",
        "allow_sending_without_reply",
        "allow_paid_broadcast",
    }
)
_JSONS = {
    "reply_markup": "reply keyboard markup",
    "entities": "entities",
    "link_preview_options": "link preview options",
    "allowed_updates": "allowed updates",
    "commands": "commands",
    "scope": "BotCommandScope",
    "reply_parameters": "reply parameters",
}
_NGINX_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


class ApiError(Exception):
    """A Bot API error answer: HTTP status, description and optional parameters."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


class Abandon(Exception):
    """The server is stopping or the client left: drop the connection without an answer."""


CLIENT_GONE = 499  # recorded status of a call whose client left (nginx's convention)


@dataclass
class Reply:
    """What the transport writes back: status, body (JSON or HTML text), stall first."""

    status: int
    body: JSON | str
    hang_s: float = 0.0


@dataclass
class BotAccount:
    """One bot token: its User, update queue, webhook and command lists."""

    token: str
    user: JSON
    updates: UpdateQueue = field(default_factory=UpdateQueue)
    webhook_url: str = ""
    commands: dict[str, list[JSON]] = field(default_factory=dict)

    @property
    def sender(self) -> JSON:
        """The bot as the `from` of its messages (User fields only)."""
        keys = ("id", "is_bot", "first_name", "username")
        return {k: self.user[k] for k in keys if k in self.user}


@dataclass
class ChatRecord:
    """A chat the server knows: the Chat object, message ids, members."""

    info: JSON
    next_message_id: int = 1
    members: dict[int, JSON] = field(default_factory=dict)
    user_message_ids: set[int] = field(default_factory=set)

    @property
    def chat_id(self) -> int:
        return int(self.info["id"])

    def take_message_id(self) -> int:
        self.next_message_id += 1
        return self.next_message_id - 1


MethodFn = Callable[["BotApi", BotAccount, JSON], Any]


class BotApi:
    """Everything the emulated server knows, and the dispatcher for one call."""

    def __init__(
        self,
        methods: Mapping[str, MethodFn],
        *,
        strict_html: bool = True,
        auto_chats: bool = True,
        conflict: ConflictPolicy = "terminate_old",
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.methods = dict(methods)
        self.cond = threading.Condition(threading.RLock())
        self.strict_html = strict_html
        self.auto_chats = auto_chats
        self.conflict: ConflictPolicy = conflict
        self.clock = clock
        self.wall_clock = wall_clock
        self.bots: dict[str, BotAccount] = {}
        self.chats: dict[int, ChatRecord] = {}
        self.received: list[ReceivedMessage] = []
        self.calls: list[ApiCall] = []
        self.outgoing: list[Outgoing] = []
        self.answers: list[CallbackAnswer] = []
        self.open_queries: set[str] = set()
        self.faults = FaultBook()
        self.limits: RateLimits | None = None
        self.closing = False
        self._local = threading.local()
        self.ids = itertools.count(1)

    # -- set-up -------------------------------------------------------------------------

    def add_bot(self, token: str, username: str, first_name: str) -> BotAccount:
        bot_id = int(token.split(":", 1)[0])
        with self.cond:
            account = BotAccount(token, objects.bot_user(bot_id, username, first_name))
            self.bots[token] = account
            return account

    def add_chat(self, info: JSON) -> ChatRecord:
        with self.cond:
            record = self.chats.get(int(info["id"]))
            if record is None:
                record = self.chats[int(info["id"])] = ChatRecord(info)
            else:
                record.info = info
            return record

    def now_date(self) -> int:
        return int(self.wall_clock())

    # -- one call -----------------------------------------------------------------------

    def handle(
        self,
        token: str,
        method: str,
        raw: Mapping[str, Any],
        client_alive: Callable[[], bool] = lambda: True,
    ) -> Reply | None:
        """Answer one call; None means drop the connection (stopping, or the client left).

        ``client_alive`` lets a long poll notice that its client went away, so that a poll
        nobody waits for neither takes updates nor gets a 409 it could never read.
        """
        at = self.clock()
        self._local.client_alive = client_alive
        with self.cond:
            name = _canonical(method, self.methods)
            chat_id: int | None = None
            params: JSON = dict(raw)
            try:
                bot = self._bot(token)
                if name is None:
                    raise ApiError(404, objects.NOT_FOUND)
                params = coerce(params)
                chat_id = self.target_chat(params)
                fault = self.faults.take(chat_id, name)
                if fault is not None and fault.kind == "error":
                    if fault.html_body:
                        reply = _html_reply(fault.status)
                        self._record(name, params, at, reply.status, None, chat_id, token)
                        return reply
                    raise ApiError(fault.status, fault.description, fault.parameters)
                result = self.methods[name](self, bot, params)
                hang = fault.hang_s if fault is not None else 0.0
                reply = Reply(200, {"ok": True, "result": result}, hang)
                self._record(name, params, at, 200, None, chat_id, token)
                return reply
            except ApiError as error:
                self._record(
                    name or method, params, at, error.status, error.description, chat_id, token
                )
                body = objects.error_body(error.status, error.description, error.parameters)
                return Reply(error.status, body)
            except Abandon:
                gone = "server stopping" if self.closing else "client closed the connection"
                self._record(name or method, params, at, CLIENT_GONE, gone, chat_id, token)
                return None

    def _bot(self, token: str) -> BotAccount:
        if not _TOKEN.fullmatch(token):
            raise ApiError(404, objects.NOT_FOUND)
        account = self.bots.get(token)
        if account is None:
            raise ApiError(401, objects.UNAUTHORIZED)
        return account

    def _record(
        self,
        method: str,
        params: JSON,
        at: float,
        status: int,
        description: str | None,
        chat_id: int | None,
        token: str,
    ) -> None:
        self.calls.append(ApiCall(method, params, at, status, description, chat_id, token))
        self.cond.notify_all()

    # -- helpers the methods use ----------------------------------------------------------

    def target_chat(self, params: JSON) -> int | None:
        """The chat a call is about, as an id, without failing (faults are keyed on it)."""
        value = params.get("chat_id")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.startswith("@"):
            wanted = value[1:].lower()
            for record in self.chats.values():
                if str(record.info.get("username", "")).lower() == wanted:
                    return record.chat_id
        return None

    def chat(self, params: JSON) -> ChatRecord:
        """The chat named by ``chat_id``, created on first use when ``auto_chats`` is on."""
        value = params.get("chat_id")
        if value is None or value == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        chat_id = self.target_chat(params)
        if chat_id is None or chat_id == 0:
            raise ApiError(400, objects.CHAT_NOT_FOUND)
        record = self.chats.get(chat_id)
        if record is None:
            if not self.auto_chats:
                raise ApiError(400, objects.CHAT_NOT_FOUND)
            record = self.chats[chat_id] = ChatRecord(objects.chat(chat_id))
        return record

    def check_rate(self, chat_id: int) -> None:
        """Answer 429 like a strict Telegram when enforcement is on and a limit is hit."""
        if self.limits is None:
            return
        wait = limit_wait(self.outgoing, self.clock(), chat_id, self.limits)
        if wait is not None:
            raise ApiError(429, objects.retry_after_description(wait), {"retry_after": wait})

    def wait(self, timeout: float) -> None:
        """Sleep on the state's condition (releases the lock) for at most 0.1 s at a time.

        Raises Abandon when the server is stopping or the caller's client has gone.
        """
        self._check_alive()
        self.cond.wait(min(timeout, 0.1))
        self._check_alive()

    def _check_alive(self) -> None:
        alive: Callable[[], bool] = getattr(self._local, "client_alive", lambda: True)
        if self.closing or not alive():
            raise Abandon


def _canonical(method: str, known: Mapping[str, Any]) -> str | None:
    """Method names are case-insensitive on the Bot API."""
    lowered = method.lower()
    return next((name for name in known if name.lower() == lowered), None)


def _html_reply(status: int) -> Reply:
    reason = _REASONS.get(status, "Error")
    return Reply(status, _NGINX_PAGE.format(status=status, reason=reason))


def coerce(params: Mapping[str, Any]) -> JSON:
    """Form values are strings: turn them into the documented Integer/Boolean/JSON types."""
    result: JSON = {}
    for name, value in params.items():
        if name in _INTS:
            result[name] = _to_int(name, value)
        elif name in _BOOLS:
            result[name] = _to_bool(value)
        elif name in _JSONS:
            result[name] = _to_json(name, value)
        elif name == "chat_id":
            result[name] = _chat_id(value)
        else:
            result[name] = value
    return result


def _to_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise ApiError(400, f'Bad Request: field "{name}" must be a valid Number') from None


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1")


def _to_json(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise ApiError(400, f"Bad Request: can't parse {_JSONS[name]} JSON object") from None


def _chat_id(value: Any) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        return text
