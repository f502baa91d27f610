"""The bot inside the daemon: built around the Telegram channel's ``Bot``, started and
stopped with the daemon.

``BotService`` puts the signed buttons under alerts (the channel), registers the
command menu with setMyCommands (everyone's, plus the admin commands in each admin's
chat), and runs two tasks: the update poller (monitor.bot.poller) and a directory
watch that reloads the bot's chats and personal watchlists when another instance
changed them. It never calls PTB's ``run_polling`` (that takes over the event loop).
Replies share the outbox sender's rate shaper.
"""

from __future__ import annotations

import asyncio

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError

from monitor.bot.access import ChatAdmins
from monitor.bot.commands import menu
from monitor.bot.context import BotContext
from monitor.bot.directory import Directory
from monitor.bot.handlers import handle_update
from monitor.bot.poller import UpdatePoller, pause
from monitor.bot.replies import Replier
from monitor.channels.telegram import TelegramChannel
from monitor.clock import Clock
from monitor.config import Config
from monitor.logs import get_logger
from monitor.service.shaping import Shaper
from monitor.store.database import Database

log = get_logger("monitor.bot")

DIRECTORY_CHECK_S = 15.0
STOP_GRACE_S = 10.0


class BotService:
    """The running bot of one process."""

    def __init__(
        self,
        config: Config,
        *,
        db: Database,
        channel: TelegramChannel,
        clock: Clock,
        directory: Directory,
        shaper: Shaper | None = None,
        directory_check_s: float = DIRECTORY_CHECK_S,
    ) -> None:
        self.channel = channel
        codec = channel.enable_buttons()
        self.ctx = BotContext(
            db=db,
            bot=channel.bot,
            replier=Replier(channel.bot, shaper),
            clock=clock,
            codec=codec,
            directory=directory,
            chat_admins=ChatAdmins(channel.bot),
            config=config,
        )
        self.poller = UpdatePoller(
            channel.bot, db, clock, self.handle, timeout_s=config.monitor.bot.poll_timeout
        )
        self.directory_check_s = directory_check_s
        self.started = asyncio.Event()  # set once the bot answered and its menus are set
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def handle(self, update: Update) -> None:
        await handle_update(self.ctx, update)

    def reconfigure(self, config: Config) -> None:
        """A reloaded configuration: access, quotas, rates, admins, watchlist names."""
        self.ctx.reconfigure(config)
        self.poller.timeout_s = config.monitor.bot.poll_timeout

    async def ready(self) -> None:
        """The bot answers (getMe) and its command menus are set."""
        await self.channel.start()
        self.ctx.username = self.channel.bot.username
        await self.register_commands()
        self.started.set()
        log.info("bot_ready", username=self.ctx.username, access=self.ctx.settings.access)

    async def register_commands(self) -> None:
        bot = self.channel.bot
        await bot.set_my_commands([BotCommand(n, d) for n, d in menu(admin=False)])
        admin_menu = [BotCommand(n, d) for n, d in menu(admin=True)]
        for chat in sorted(self.ctx.bot_admins):
            try:
                await bot.set_my_commands(admin_menu, scope=BotCommandScopeChat(chat))
            except TelegramError as exc:  # an admin who never wrote to the bot: no chat yet
                log.info("bot_admin_menu_failed", chat=chat, error=str(exc))

    def start(self) -> None:
        """Start polling and watching the directory (in the running event loop)."""
        if self._tasks:
            return
        self._stop.clear()
        self._tasks = [
            asyncio.create_task(self.poller.run(self._stop, self.ready), name="bot-poller"),
            asyncio.create_task(self._watch_directory(), name="bot-directory"),
        ]
        for task in self._tasks:
            task.add_done_callback(_report)

    async def _watch_directory(self) -> None:
        while not self._stop.is_set():
            await pause(self._stop, self.directory_check_s)
            if self._stop.is_set():
                return
            try:
                await self.ctx.directory.refresh()
            except Exception as exc:  # the database may be down: try again later
                log.warning("bot_directory_failed", error=repr(exc))

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop polling; the batch being handled, then the replies queued, get ``grace_s``."""
        self._stop.set()
        tasks, self._tasks = self._tasks, []
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.ctx.replier.aclose(grace_s)


def _report(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("bot_task_failed", task=task.get_name(), error=repr(task.exception()))
