"""getUpdates long polling inside the daemon: one poller per bot, offset kept in the database.

The loop asks Telegram for the updates after the stored offset (waiting up to
``timeout`` seconds for news), hands the batch to the handler in per-chat lanes (one
chat's updates in order; chats in parallel, ``lanes`` at a time), then stores the
batch's last update id. A batch is at most 100 updates and the next is fetched only
when it is done: that is the bound on work in flight, whatever users send.

Restarts neither replay nor lose: updates not yet stored as the offset come again
(Telegram keeps them until confirmed), and each handler claims its update id in the
transaction that does its work, so those already handled are skipped.

Errors: a 409 Conflict (another process polls the same token, or a webhook is set) is
logged and backed off exponentially (with jitter, up to a minute): never a crash, never
a duplicate. Flood control waits as told; network trouble and 5xx back off; a rejected
token waits long. A handler that fails is logged and its update dropped, except for a
database outage: then the batch is fetched again after a pause. Only one poller per
token runs in a process (a second ``run`` refuses).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from telegram import Bot, Update
from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError

from monitor.channels.telegram import retry_after_seconds
from monitor.clock import Clock
from monitor.errors import DeliveryError, StorageError
from monitor.logs import get_logger
from monitor.store import bot_tables
from monitor.store.database import Database

log = get_logger("monitor.bot")

ALLOWED_UPDATES = ("message", "channel_post", "callback_query", "my_chat_member")
BATCH = 100
MAX_BACKOFF_S = 60.0
READ_MARGIN_S = 10.0
TOKEN_REJECTED_S = 300.0

_POLLING: set[int] = set()  # bot ids polled by this process


class AlreadyPolling(RuntimeError):
    """This process already polls updates for this bot."""


class UpdatePoller:
    """Fetches updates and hands them to ``handle``; see the module docstring."""

    def __init__(
        self,
        bot: Bot,
        db: Database,
        clock: Clock,
        handle: Callable[[Update], Awaitable[None]],
        *,
        timeout_s: int = 30,
        lanes: int = 4,
        rng: random.Random | None = None,
    ) -> None:
        self.bot = bot
        self.db = db
        self.clock = clock
        self.handle = handle
        self.timeout_s = timeout_s
        self.lanes = lanes
        self.rng = rng or random.Random()
        self.conflicts = 0
        self.handled = 0
        self.failures = 0
        self._offset: int | None = None

    @property
    def offset(self) -> int | None:
        """The last update id handled and stored (None before the first batch)."""
        return self._offset

    async def run(self, stop: asyncio.Event, ready: Callable[[], Awaitable[None]]) -> None:
        """Poll until ``stop`` is set. ``ready`` runs once the bot answers (getMe)."""
        bot_id = int(self.bot.token.split(":", 1)[0])
        if bot_id in _POLLING:
            raise AlreadyPolling(f"bot {bot_id} is already polled by this process")
        _POLLING.add(bot_id)
        try:
            await self._loop(stop, ready)
        finally:
            _POLLING.discard(bot_id)

    async def _loop(self, stop: asyncio.Event, ready: Callable[[], Awaitable[None]]) -> None:
        failures = 0
        started = False
        while not stop.is_set():
            try:
                if not started:
                    await ready()
                    started = True
                    self._offset = await self.db.read(bot_tables.load_offset)
                updates = await self._fetch(stop)
                if updates is None:
                    return
                failures = 0
                if updates:
                    await self._process(updates)
            except Conflict as exc:
                self.conflicts += 1
                failures += 1
                delay = self._backoff(failures)
                log.warning("bot_conflict", error=exc.message, retry_in_s=round(delay, 1))
                await pause(stop, delay)
            except RetryAfter as exc:
                await pause(stop, retry_after_seconds(exc))
            except InvalidToken:
                log.error("bot_token_rejected", retry_in_s=TOKEN_REJECTED_S)
                await pause(stop, TOKEN_REJECTED_S)
            except (TelegramError, DeliveryError, StorageError) as exc:  # API or database down
                failures += 1
                delay = self._backoff(failures)
                log.warning("bot_poll_failed", error=f"{type(exc).__name__}: {exc}")
                await pause(stop, delay)

    def _backoff(self, failures: int) -> float:
        base = min(MAX_BACKOFF_S, 2.0 ** max(0, failures - 1))
        return base * (0.5 + self.rng.random() / 2)

    async def _fetch(self, stop: asyncio.Event) -> Sequence[Update] | None:
        """The next updates, or None when ``stop`` was set while waiting."""
        offset = self._offset + 1 if self._offset is not None else None
        poll = asyncio.ensure_future(
            self.bot.get_updates(
                offset=offset,
                limit=BATCH,
                timeout=timedelta(seconds=self.timeout_s),
                allowed_updates=list(ALLOWED_UPDATES),
                read_timeout=READ_MARGIN_S,  # PTB adds the long poll's timeout to it
            )
        )
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({poll, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not poll.done():
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError, TelegramError):
                await poll
            return None
        return poll.result()

    async def _process(self, updates: Sequence[Update]) -> None:
        """Handle a batch in per-chat lanes, then store its last update id."""
        lanes: dict[int, list[Update]] = {}
        for update in updates:
            lanes.setdefault(_chat_of(update), []).append(update)
        gate = asyncio.Semaphore(self.lanes)
        outage: list[StorageError] = []

        async def lane(queue: list[Update]) -> None:
            async with gate:
                for update in queue:
                    try:
                        await self.handle(update)
                        self.handled += 1
                    except StorageError as exc:
                        outage.append(exc)
                        return
                    except Exception:  # a bug in one handler must not stop the bot
                        self.failures += 1
                        log.exception("bot_update_failed", update_id=update.update_id)

        await asyncio.gather(*(lane(queue) for queue in lanes.values()))
        if outage:
            raise outage[0]  # fetch the batch again later: handled updates are skipped
        last = max(u.update_id for u in updates)
        await self.db.write(bot_tables.save_offset, last, self.clock.now())
        self._offset = last


def _chat_of(update: Update) -> int:
    chat = update.effective_chat
    return chat.id if chat is not None else 0


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
