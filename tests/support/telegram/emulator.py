"""The local Telegram Bot API emulator that tests (and the daemon under test) talk to.

``TelegramEmulator`` runs a real HTTP server on 127.0.0.1 in a background thread, so
synchronous tests, async tests and a daemon subprocess can all reach it through
python-telegram-bot's ``Bot(token, base_url=emulator.base_url)``. A test programs it at
run time: chats and members, faults per chat (429, 403, chat not found, migration, 5xx,
deliver-then-hang), the whole server down and up again on the same port, Telegram's rate
limits enforced; and it scripts incoming updates (user messages and /commands, button
presses, anonymous admins, channel posts, the bot added to a group). Afterwards the test
reads what users actually received, every call with its outcome, and the rates observed.

Test support only; the Bot API logic lives in ``bot_api``/``methods``, HTTP in ``transport``.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType

from tests.support.telegram import objects
from tests.support.telegram.bot_api import BotApi
from tests.support.telegram.faults import MESSAGE_METHODS, FaultControls
from tests.support.telegram.incoming import IncomingUpdates
from tests.support.telegram.methods import METHODS
from tests.support.telegram.objects import JSON, ChatType, MemberStatus
from tests.support.telegram.polling import ConflictPolicy
from tests.support.telegram.records import (
    ApiCall,
    CallbackAnswer,
    Edit,
    RateLimits,
    RateReport,
    ReceivedMessage,
    rate_report,
)
from tests.support.telegram.transport import ApiServer

TELEGRAM_LIMITS = RateLimits()


def new_token() -> str:
    """A random token in Telegram's format (``<bot id>:<35 characters>``)."""
    bot_id = 1_000_000_000 + secrets.randbelow(8_000_000_000)
    return f"{bot_id}:AA{secrets.token_urlsafe(33)[:33]}"


class TelegramEmulator(FaultControls, IncomingUpdates):
    """A Bot API server on 127.0.0.1 with one bot (more via ``add_bot``)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        bot_username: str = "monitor_test_bot",
        bot_name: str = "Monitor Test",
        strict_html: bool = True,
        auto_chats: bool = True,
        conflict: ConflictPolicy = "terminate_old",
        limits: RateLimits | None = None,
    ) -> None:
        self.api = BotApi(
            METHODS, strict_html=strict_html, auto_chats=auto_chats, conflict=conflict
        )
        self.api.limits = limits
        self.token = token or new_token()
        self.bot_user = self.api.add_bot(self.token, bot_username, bot_name).user
        self.host = host
        self.port = port
        self._server: ApiServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> TelegramEmulator:
        """Listen (again) on the same port; the first start picks a free one."""
        if self._server is not None:
            return self
        with self.api.cond:
            self.api.closing = False
        server = ApiServer((self.host, self.port), self.api)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection: clients get connection errors."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        with self.api.cond:
            self.api.closing = True
            self.api.cond.notify_all()
        server.shutdown()
        server.server_close()
        server.drop_connections()
        thread.join(5.0)
        self._server = self._thread = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @contextmanager
    def down(self) -> Iterator[None]:
        """The whole API unreachable inside the block, back on the same port after it."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> TelegramEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """For ``Bot(token, base_url=...)``: PTB appends the token, then ``/<method>``."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://{self.host}:{self.port}/file/bot"

    # -- set-up ---------------------------------------------------------------------------

    def add_bot(self, username: str, *, token: str | None = None, name: str = "Bot") -> str:
        """Register another bot; returns its token."""
        chosen = token or new_token()
        self.api.add_bot(chosen, username, name)
        return chosen

    def add_chat(
        self,
        chat_id: int,
        chat_type: ChatType | None = None,
        *,
        title: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
    ) -> JSON:
        """Declare a chat (type from the id when omitted); returns its Chat object."""
        info = objects.chat(
            chat_id, chat_type, title=title, username=username, first_name=first_name
        )
        return self.api.add_chat(info).info

    def set_member(
        self,
        chat_id: int,
        member: int | JSON,
        status: MemberStatus = "member",
        *,
        is_anonymous: bool = False,
        custom_title: str | None = None,
    ) -> JSON:
        """What getChatMember answers for this user in this chat."""
        person = objects.user(member) if isinstance(member, int) else member
        entry = objects.chat_member(
            person, status, is_anonymous=is_anonymous, custom_title=custom_title
        )
        with self.api.cond:
            self._chat(chat_id).members[int(person["id"])] = entry
        return entry

    def enforce_limits(self, limits: RateLimits | None = TELEGRAM_LIMITS) -> None:
        """Answer 429 (with a correct retry_after) when a client exceeds ``limits``."""
        with self.api.cond:
            self.api.limits = limits

    # -- what happened --------------------------------------------------------------------

    def messages(self, chat_id: int) -> list[ReceivedMessage]:
        """Messages the bot sent to this chat, in arrival order (copies)."""
        with self.api.cond:
            return [m.snapshot() for m in self.api.received if m.chat_id == chat_id]

    def all_messages(self) -> list[ReceivedMessage]:
        with self.api.cond:
            return [m.snapshot() for m in self.api.received]

    def edits(self, chat_id: int | None = None, message_id: int | None = None) -> list[Edit]:
        """Edits in arrival order, optionally of one chat or one message."""
        with self.api.cond:
            found = [
                (edit, m)
                for m in self.api.received
                if chat_id in (None, m.chat_id) and message_id in (None, m.message_id)
                for edit in m.edits
            ]
        return [edit for edit, _ in sorted(found, key=lambda pair: pair[0].at)]

    def requests(
        self, method: str | None = None, *, chat_id: int | None = None, status: int | None = None
    ) -> list[ApiCall]:
        """Every call received (with its answer status), filtered."""
        with self.api.cond:
            return [
                call
                for call in self.api.calls
                if method in (None, call.method)
                and chat_id in (None, call.chat_id)
                and status in (None, call.status)
            ]

    def rates(self, methods: frozenset[str] = MESSAGE_METHODS) -> RateReport:
        """Observed maxima of accepted messages (sends and edits by default)."""
        with self.api.cond:
            events = [e for e in self.api.outgoing if e.method in methods]
        return rate_report(events)

    def callback_answers(self) -> list[CallbackAnswer]:
        with self.api.cond:
            return list(self.api.answers)

    def commands(self, *, token: str | None = None) -> dict[str, list[JSON]]:
        """Command lists set by setMyCommands, keyed by scope and language."""
        with self.api.cond:
            return dict(self.api.bots[token or self.token].commands)

    def pending_updates(self, *, token: str | None = None) -> list[JSON]:
        with self.api.cond:
            return list(self.api.bots[token or self.token].updates.pending)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Block (threads, not an event loop) until ``predicate()`` holds after some call."""
        with self.api.cond:
            return self.api.cond.wait_for(predicate, timeout)

    async def wait_for_async(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """The same for async tests: polls without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True
