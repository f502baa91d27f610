"""Scripted incoming updates for the Telegram emulator: what users do, as real Update JSON.

A user writes (``/commands`` carry bot_command entities), an anonymous group admin writes
(from GroupAnonymousBot with ``sender_chat``), a channel posts, a user presses an inline
button under one of the bot's messages (callback_query, answerable once), someone adds or
removes the bot (my_chat_member). Each helper assigns message and update ids, queues the
update for getUpdates and returns it.

A mixin of ``TelegramEmulator``; the builders are in ``objects``.
"""

from __future__ import annotations

from tests.support.telegram import objects
from tests.support.telegram.bot_api import BotApi, ChatRecord
from tests.support.telegram.methods import message_json
from tests.support.telegram.objects import JSON, MemberStatus


class IncomingUpdates:
    """Methods to script what users do; needs ``self.api`` and ``self.token``."""

    api: BotApi
    token: str

    def enqueue(self, kind: str, payload: JSON, *, token: str | None = None) -> JSON:
        """Queue a raw update (``kind`` is the Update field, e.g. "message")."""
        with self.api.cond:
            update = self.api.bots[token or self.token].updates.push(kind, payload)
            self.api.cond.notify_all()
            return update

    def user_message(
        self,
        chat_id: int,
        text: str,
        *,
        from_user: int | JSON | None = None,
        token: str | None = None,
    ) -> JSON:
        """A user writes ``text`` (``/commands`` get bot_command entities)."""
        with self.api.cond:
            record = self._chat(chat_id)
            if from_user is None and record.info["type"] != "private":
                raise ValueError("a group message needs from_user")
            sender = self._person(from_user if from_user is not None else chat_id, record)
            payload = self._incoming(record, text, from_user=sender)
            return self.enqueue("message", payload, token=token)

    def anonymous_admin_message(self, chat_id: int, text: str, *, token: str | None = None) -> JSON:
        """An anonymous group admin writes: from GroupAnonymousBot, sender_chat = the group."""
        with self.api.cond:
            record = self._chat(chat_id)
            payload = self._incoming(
                record, text, from_user=objects.anonymous_admin(), sender_chat=record.info
            )
            return self.enqueue("message", payload, token=token)

    def channel_post(self, chat_id: int, text: str, *, token: str | None = None) -> JSON:
        with self.api.cond:
            record = self._chat(chat_id)
            payload = self._incoming(record, text, sender_chat=record.info)
            return self.enqueue("channel_post", payload, token=token)

    def press_button(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        from_user: int | JSON | None = None,
        token: str | None = None,
    ) -> JSON:
        """A user presses the inline button carrying ``data`` under one of the bot's messages."""
        with self.api.cond:
            record = self._chat(chat_id)
            sent = next(
                (
                    m
                    for m in self.api.received
                    if (m.chat_id, m.message_id) == (chat_id, message_id)
                ),
                None,
            )
            buttons = objects.inline_buttons(sent.current_markup) if sent else []
            if sent is None or data not in [b.get("callback_data") for b in buttons]:
                raise ValueError(f"no button with callback_data {data!r} on message {message_id}")
            bot = self.api.bots[token or self.token]
            query_id = str(4_000_000_000_000 + next(self.api.ids))
            self.api.open_queries.add(query_id)
            payload = objects.callback_query(
                query_id=query_id,
                from_user=self._person(from_user if from_user is not None else chat_id, record),
                message_obj=message_json(bot, record, sent),
                data=data,
                chat_instance=str(abs(chat_id) * 31 + 7),
            )
            return self.enqueue("callback_query", payload, token=token)

    def bot_membership(
        self,
        chat_id: int,
        new_status: MemberStatus,
        *,
        old_status: MemberStatus = "left",
        by_user: int | JSON = 1,
        token: str | None = None,
    ) -> JSON:
        """my_chat_member: someone added, promoted or removed the bot in a chat."""
        with self.api.cond:
            record = self._chat(chat_id)
            bot = self.api.bots[token or self.token]
            payload = objects.chat_member_updated(
                chat=record.info,
                from_user=self._person(by_user, record),
                old=objects.chat_member(bot.sender, old_status),
                new=objects.chat_member(bot.sender, new_status),
                date=self.api.now_date(),
            )
            return self.enqueue("my_chat_member", payload, token=token)

    def _chat(self, chat_id: int) -> ChatRecord:
        with self.api.cond:
            return self.api.chat({"chat_id": chat_id})

    def _person(self, who: int | JSON, record: ChatRecord) -> JSON:
        if not isinstance(who, int):
            return who
        if who == record.chat_id and record.info["type"] == "private":
            return objects.user(who, record.info.get("first_name"))
        return objects.user(who)

    def _incoming(
        self,
        record: ChatRecord,
        text: str,
        *,
        from_user: JSON | None = None,
        sender_chat: JSON | None = None,
    ) -> JSON:
        message_id = record.take_message_id()
        record.user_message_ids.add(message_id)
        return objects.message(
            message_id=message_id,
            date=self.api.now_date(),
            chat=record.info,
            text=text,
            from_user=from_user,
            sender_chat=sender_chat,
        )
