"""Fault controls of the Telegram emulator, programmable while a test runs.

Per chat (or for every call with ``chat_id=None``): 429 with retry_after for the next K
calls, 403 blocked or kicked, 400 chat not found, migration to a supergroup (the new id
then works), 5xx for the next K calls (JSON 500 or nginx's HTML 502/503), and
deliver-then-hang (the message is recorded, the answer stalls past the client's timeout).
``apply_faults`` reads the notation of the reliability battery. Faults are consumed in the
order they were added; ``clear_faults`` lifts them.

A mixin of ``TelegramEmulator``; the fault book itself is ``records.FaultBook``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.support.telegram import objects
from tests.support.telegram.bot_api import BotApi
from tests.support.telegram.records import Fault

MESSAGE_METHODS = frozenset({"sendMessage", "editMessageText"})


class FaultControls:
    """Methods to inject failures; needs ``self.api``."""

    api: BotApi

    def _chat_info(self, chat_id: int) -> objects.JSON:
        with self.api.cond:
            return self.api.chat({"chat_id": chat_id}).info

    def add_fault(self, chat_id: int | None, fault: Fault) -> None:
        """The general mechanism; ``chat_id=None`` applies to every call."""
        with self.api.cond:
            self.api.faults.add(chat_id, fault)

    def rate_limit(
        self,
        chat_id: int | None,
        *,
        retry_after: int = 5,
        times: int = 1,
        methods: frozenset[str] | None = None,
    ) -> None:
        """429 "Too Many Requests: retry after N" for the next ``times`` calls."""
        description = objects.retry_after_description(retry_after)
        params = {"retry_after": retry_after}
        self.add_fault(chat_id, Fault("error", 429, description, params, times, methods=methods))

    def block(self, chat_id: int) -> None:
        """403 "bot was blocked by the user" from now on (``clear_faults`` lifts it)."""
        self.add_fault(chat_id, Fault("error", 403, objects.BLOCKED, times=None))

    def kick(self, chat_id: int) -> None:
        """403 "bot was kicked from the (super)group chat" from now on."""
        kind = self._chat_info(chat_id)["type"]
        text = objects.KICKED_SUPERGROUP if kind == "supergroup" else objects.KICKED_GROUP
        self.add_fault(chat_id, Fault("error", 403, text, times=None))

    def forget_chat(self, chat_id: int) -> None:
        """400 "chat not found" from now on."""
        self.add_fault(chat_id, Fault("error", 400, objects.CHAT_NOT_FOUND, times=None))

    def migrate(self, chat_id: int, new_chat_id: int) -> None:
        """The group became a supergroup: the old id answers 400 with migrate_to_chat_id."""
        title = self._chat_info(chat_id).get("title")
        self.api.add_chat(objects.chat(new_chat_id, "supergroup", title=title))
        params = {"migrate_to_chat_id": new_chat_id}
        self.add_fault(chat_id, Fault("error", 400, objects.MIGRATED, params, times=None))

    def server_error(
        self,
        chat_id: int | None = None,
        *,
        times: int = 1,
        status: int = 500,
        methods: frozenset[str] | None = None,
    ) -> None:
        """A 5xx for the next ``times`` calls: JSON for 500, nginx's HTML page for 502/503."""
        fault = Fault(
            "error",
            status,
            objects.INTERNAL_ERROR,
            times=times,
            methods=methods,
            html_body=status != 500,
        )
        self.add_fault(chat_id, fault)

    def deliver_then_hang(
        self,
        chat_id: int | None = None,
        *,
        times: int = 1,
        hang_s: float = 10.0,
        methods: frozenset[str] | None = MESSAGE_METHODS,
    ) -> None:
        """Record the message, then stall ``hang_s`` before answering (client times out)."""
        fault = Fault("deliver_then_hang", times=times, hang_s=hang_s, methods=methods)
        self.add_fault(chat_id, fault)

    def apply_faults(self, spec: Mapping[int | None, Mapping[str, Any]]) -> None:
        """Faults in the battery's notation, e.g. ``{A: {"retry_after": 5, "times": 1}}``.

        Keys per chat: retry_after (+times), blocked, kicked, chat_not_found, migrate_to,
        http500 (count), deliver_then_hang (count, +hang_s).
        """
        for chat_id, options in spec.items():
            if "retry_after" in options:
                retry = int(options["retry_after"])
                self.rate_limit(chat_id, retry_after=retry, times=int(options.get("times", 1)))
            if chat_id is not None and options.get("blocked"):
                self.block(chat_id)
            if chat_id is not None and options.get("kicked"):
                self.kick(chat_id)
            if chat_id is not None and options.get("chat_not_found"):
                self.forget_chat(chat_id)
            if chat_id is not None and "migrate_to" in options:
                self.migrate(chat_id, int(options["migrate_to"]))
            if "http500" in options:
                self.server_error(chat_id, times=int(options["http500"]))
            if "deliver_then_hang" in options:
                hang = float(options.get("hang_s", 10.0))
                self.deliver_then_hang(
                    chat_id, times=int(options["deliver_then_hang"]), hang_s=hang
                )

    def clear_faults(self, chat_id: int | None = None, *, everything: bool = False) -> None:
        """Lift the faults of one chat (``None``: the ones for every call), or all of them."""
        with self.api.cond:
            self.api.faults.clear(chat_id, everything=everything)
