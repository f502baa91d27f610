"""The Bot API methods the emulator implements, with the checks the real server makes.

getMe, sendMessage (HTML validated, 4096 UTF-16 units after parsing, inline buttons
checked), editMessageText ("message is not modified"), deleteMessage, sendChatAction,
getUpdates (long polling, offsets, allowed_updates, 409 for a second poller or an active
webhook), setWebhook/deleteWebhook/getWebhookInfo, answerCallbackQuery, set/get/
deleteMyCommands, getChat, getChatMember, getChatAdministrators, logOut, close.
Markdown parse modes are accepted but not validated.

Each method is ``fn(api, bot, params)`` called with the state lock held; it returns the
``result`` or raises ``ApiError``. No sockets here.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support.telegram import objects
from tests.support.telegram.bot_api import ApiError, BotAccount, BotApi, ChatRecord, MethodFn
from tests.support.telegram.markup import (
    EntityParseError,
    ParsedText,
    parse_html,
    utf16_len,
    visible_text,
)
from tests.support.telegram.objects import JSON
from tests.support.telegram.records import CallbackAnswer, Edit, Outgoing, ReceivedMessage

MAX_TEXT = 4096
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_BUTTON_URL = ("http://", "https://", "tg://")


def get_me(api: BotApi, bot: BotAccount, p: JSON) -> Any:
    return bot.user


def log_out(api: BotApi, bot: BotAccount, p: JSON) -> Any:
    return True


def send_message(api: BotApi, bot: BotAccount, p: JSON) -> Any:
    record = api.chat(p)
    parsed = _content(api, p)
    markup = _markup(p)
    api.check_rate(record.chat_id)
    preview = p.get("link_preview_options")
    if preview is None and p.get("disable_web_page_preview"):
        preview = {"is_disabled": True}
    sent = ReceivedMessage(
        chat_id=record.chat_id,
        message_id=record.take_message_id(),
        text=parsed.text,
        raw_text=str(p["text"]),
        parse_mode=p.get("parse_mode") or None,
        entities=parsed.entities,
        reply_markup=markup,
        link_preview=preview,
        at=api.clock(),
        date=api.now_date(),
        token=bot.token,
    )
    api.received.append(sent)
    api.outgoing.append(Outgoing(sent.at, record.chat_id, "sendMessage"))
    return message_json(bot, record, sent)


def edit_message_text(api: BotApi, bot: BotAccount, p: JSON) -> Any:
    if p.get("inline_message_id"):
        raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
    record = api.chat(p)
    sent = _own_message(api, record, p, objects.EDIT_NOT_FOUND)
    parsed = _content(api, p)
    markup = _markup(p)
    current = sent.edits[-1] if sent.edits else sent
    if (parsed.text, parsed.entities, markup) == (
        current.text,
        current.entities,
        current.reply_markup,
    ):
        raise ApiError(400, objects.NOT_MODIFIED)
    api.check_rate(record.chat_id)
    at = api.clock()
    mode = p.get("parse_mode") or None
    sent.edits.append(Edit(parsed.text, str(p["text"]), mode, parsed.entities, markup, at))
    api.outgoing.append(Outgoing(at, record.chat_id, "editMessageText"))
    return message_json(bot, record, sent, edit_date=api.now_date())


def delete_message(api: BotApi, bot: BotAccount, p: JSON) -> Any:
    record = api.chat(p)
    sent = _own_message(api, record, p, objects.DELETE_NOT_FOUND)
    sent.deleted_at = api.clock()
    return True


def send_chat_action(api: BotApi, bot: BotAccount, p: JSON) -> Any:
    api.chat(p)
    return True


def get_updates(api: BotApi, bot: BotAccount, p: JSON) -> Any:
    queue = bot.updates
    if bot.webhook_url:
        raise ApiError(409, objects.CONFLICT_WEBHOOK)
    limit = min(max(int(p.get("limit") or 100), 1), 100)
    poll = queue.claim(api.conflict)
    if poll is None:
        raise ApiError(409, objects.CONFLICT_POLL)
    api.cond.notify_all()  # the poll this one replaced answers 409 now
    try:
        queue.set_allowed(p.get("allowed_updates"))
        queue.confirm(p.get("offset"))
        deadline = api.clock() + max(int(p.get("timeout") or 0), 0)
        while True:
            if poll.terminated:
                raise ApiError(409, objects.CONFLICT_POLL)
            ready = queue.ready(limit)
            remaining = deadline - api.clock()
            if ready or remaining <= 0:
                return ready
            api.wait(remaining)
    finally:
        queue.release(poll)


def set_webhook(api: BotApi, bot: BotAccount, p: JSON) -> Any:
    url = str(p.get("url") or "")
    if url and not url.startswith("https://"):
        raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
    bot.webhook_url = url
    _after_webhook_change(api, bot, p)
    if url and bot.updates.poll is not None:
        bot.updates.poll.terminated = True
    return True


def delete_webhook(api: BotApi, bot: BotAccount, p: JSON) -> Any:
    bot.webhook_url = ""
    _after_webhook_change(api, bot, p)
    return True


def get_webhook_info(api: BotApi, bot: BotAccount, p: JSON) -> Any:
    allowed = sorted(bot.updates.allowed) if bot.webhook_url else None
    return objects.webhook_info(bot.webhook_url, len(bot.updates.pending), allowed)


def answer_callback_query(api: BotApi, bot: BotAccount, p: JSON) -> Any:
    query_id = str(p.get("callback_query_id") or "")
    if query_id not in api.open_queries:
        raise ApiError(400, objects.QUERY_TOO_OLD)
    text = p.get("text")
    if text is not None and len(str(text)) > 200:
        raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
    api.open_queries.discard(query_id)
    answer = CallbackAnswer(query_id, text, bool(p.get("show_alert")), api.clock())
    api.answers.append(answer)
    return True


def set_my_commands(api: BotApi, bot: BotAccount, p: JSON) -> Any:
    commands = p.get("commands")
    if not isinstance(commands, list):
        raise ApiError(400, "Bad Request: can't parse commands JSON object")
    if len(commands) > 100:
        raise ApiError(400, "Bad Request: too many commands specified")
    for command in commands:
        name = command.get("command") if isinstance(command, dict) else None
        if not isinstance(name, str) or not _COMMAND_NAME.fullmatch(name):
            raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        description = command.get("description")
        if not isinstance(description, str) or not 1 <= len(description) <= 256:
            raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
    bot.commands[_commands_key(p)] = [dict(c) for c in commands]
    return True


def get_my_commands(api: BotApi, bot: BotAccount, p: JSON) -> Any:
    return bot.commands.get(_commands_key(p), [])


def delete_my_commands(api: BotApi, bot: BotAccount, p: JSON) -> Any:
    bot.commands.pop(_commands_key(p), None)
    return True


def get_chat(api: BotApi, bot: BotAccount, p: JSON) -> Any:
    return objects.chat_full_info(api.chat(p).info)


def get_chat_member(api: BotApi, bot: BotAccount, p: JSON) -> Any:
    record = api.chat(p)
    user_id = p.get("user_id")
    if not user_id:
        raise ApiError(400, "Bad Request: user_id is empty")
    return member_of(bot, record, int(user_id))


def get_chat_administrators(api: BotApi, bot: BotAccount, p: JSON) -> Any:
    record = api.chat(p)
    if record.info["type"] == "private":
        raise ApiError(400, "Bad Request: there are no administrators in the private chat")
    return [m for m in record.members.values() if m["status"] in ("creator", "administrator")]


def member_of(bot: BotAccount, record: ChatRecord, user_id: int) -> JSON:
    """A member as configured; the bot and a private chat's user are members by default."""
    if user_id in record.members:
        return record.members[user_id]
    is_private = record.info["type"] == "private"
    if user_id == bot.user["id"]:
        is_channel = record.info["type"] == "channel"
        return objects.chat_member(bot.sender, "administrator" if is_channel else "member")
    if is_private and user_id == record.chat_id:
        first_name = record.info.get("first_name")
        return objects.chat_member(objects.user(user_id, first_name), "member")
    if is_private:
        raise ApiError(400, "Bad Request: user not found")
    return objects.chat_member(objects.user(user_id), "left")


def message_json(
    bot: BotAccount, record: ChatRecord, sent: ReceivedMessage, *, edit_date: int | None = None
) -> JSON:
    """The Message object the server returns for one of the bot's messages."""
    current = sent.edits[-1] if sent.edits else sent
    is_channel = record.info["type"] == "channel"
    return objects.message(
        message_id=sent.message_id,
        date=sent.date,
        chat=record.info,
        text=current.text,
        from_user=None if is_channel else bot.sender,
        sender_chat=record.info if is_channel else None,
        entities=list(current.entities),
        reply_markup=current.reply_markup,
        edit_date=edit_date,
        link_preview_options=sent.link_preview,
    )


def _content(api: BotApi, p: JSON) -> ParsedText:
    """Visible text and entities of ``text`` under ``parse_mode``, checked like Telegram."""
    text = p.get("text")
    if text is None or str(text) == "":
        raise ApiError(400, objects.TEXT_EMPTY)
    raw = str(text)
    mode = str(p.get("parse_mode") or "")
    if not mode:
        entities = p.get("entities") or []
        parsed = ParsedText(raw, tuple(e for e in entities if isinstance(e, dict)))
    elif mode.lower() == "html":
        try:
            parsed = parse_html(raw, strict=api.strict_html)
        except EntityParseError as error:
            raise ApiError(400, objects.PARSE_ENTITIES + str(error)) from None
    elif mode.lower() in ("markdown", "markdownv2"):
        parsed = ParsedText(raw)  # accepted, not validated
    else:
        raise ApiError(400, "Bad Request: unsupported parse_mode")
    parsed = visible_text(parsed)
    if not parsed.text:
        raise ApiError(400, objects.TEXT_EMPTY)
    if utf16_len(parsed.text) > MAX_TEXT:
        raise ApiError(400, objects.TOO_LONG)
    return parsed


def _markup(p: JSON) -> JSON | None:
    """reply_markup, with the inline-keyboard checks the server makes."""
    markup = p.get("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return markup
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError(
            400,
            'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup should be an '
            "Array of Arrays",
        )
    for button in objects.inline_buttons(markup):
        if not isinstance(button, dict) or "text" not in button:
            raise ApiError(400, 'Bad Request: can\'t find field "text"')
        if "callback_data" in button:
            size = len(str(button["callback_data"]).encode("utf-8"))
            if not 1 <= size <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        elif "url" in button:
            if not str(button["url"]).startswith(_BUTTON_URL):
                raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
        elif len(button) == 1:
            raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
    return markup


def _own_message(api: BotApi, record: ChatRecord, p: JSON, missing: str) -> ReceivedMessage:
    message_id = p.get("message_id")
    if not message_id:
        raise ApiError(400, "Bad Request: message identifier is not specified")
    for sent in api.received:
        if sent.chat_id == record.chat_id and sent.message_id == message_id:
            if sent.deleted_at is None:
                return sent
            break
    if message_id in record.user_message_ids and missing == objects.EDIT_NOT_FOUND:
        raise ApiError(400, objects.CANT_BE_EDITED)
    raise ApiError(400, missing)


def _after_webhook_change(api: BotApi, bot: BotAccount, p: JSON) -> None:
    if p.get("drop_pending_updates"):
        bot.updates.drop_all()
    bot.updates.set_allowed(p.get("allowed_updates"))
    api.cond.notify_all()


def _commands_key(p: JSON) -> str:
    scope = p.get("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True) + "|" + str(p.get("language_code") or "")


METHODS: dict[str, MethodFn] = {
    "getMe": get_me,
    "logOut": log_out,
    "close": log_out,
    "sendMessage": send_message,
    "editMessageText": edit_message_text,
    "deleteMessage": delete_message,
    "sendChatAction": send_chat_action,
    "getUpdates": get_updates,
    "setWebhook": set_webhook,
    "deleteWebhook": delete_webhook,
    "getWebhookInfo": get_webhook_info,
    "answerCallbackQuery": answer_callback_query,
    "setMyCommands": set_my_commands,
    "getMyCommands": get_my_commands,
    "deleteMyCommands": delete_my_commands,
    "getChat": get_chat,
    "getChatMember": get_chat_member,
    "getChatAdministrators": get_chat_administrators,
}
