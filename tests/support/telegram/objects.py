"""Bot API objects as JSON dicts (User, Chat, Message, ChatMember, Update payloads, errors).

Builders that produce what the real server sends, with every field the Bot API marks as
required, so python-telegram-bot parses them as it parses Telegram's answers. Error
descriptions are the server's exact wording. Tests use these to script incoming updates.

Pure data: no I/O, no clock (callers pass ``date``).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from tests.support.telegram.markup import utf16_len

JSON = dict[str, Any]
ChatType = Literal["private", "group", "supergroup", "channel"]
MemberStatus = Literal["creator", "administrator", "member", "restricted", "left", "kicked"]

# The user Telegram puts in `from` of a message an anonymous group admin sends.
GROUP_ANONYMOUS_BOT_ID = 1087968824

# Descriptions exactly as the Bot API returns them.
UNAUTHORIZED = "Unauthorized"
NOT_FOUND = "Not Found"
CHAT_NOT_FOUND = "Bad Request: chat not found"
BLOCKED = "Forbidden: bot was blocked by the user"
KICKED_GROUP = "Forbidden: bot was kicked from the group chat"
KICKED_SUPERGROUP = "Forbidden: bot was kicked from the supergroup chat"
USER_DEACTIVATED = "Forbidden: user is deactivated"
MIGRATED = "Bad Request: group chat was migrated to a supergroup chat"
TEXT_EMPTY = "Bad Request: message text is empty"
TOO_LONG = "Bad Request: message is too long"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
EDIT_NOT_FOUND = "Bad Request: message to edit not found"
CANT_BE_EDITED = "Bad Request: message can't be edited"
DELETE_NOT_FOUND = "Bad Request: message to delete not found"
PARSE_ENTITIES = "Bad Request: can't parse entities: "
CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
    "delete the webhook first"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
INTERNAL_ERROR = "Internal Server Error"

_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")


def error_body(status: int, description: str, parameters: JSON | None = None) -> JSON:
    """The JSON body of a failed call: ``{"ok": false, "error_code", "description", ...}``."""
    body: JSON = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


def retry_after_description(seconds: int) -> str:
    return f"Too Many Requests: retry after {seconds}"


def chat_type_for(chat_id: int) -> ChatType:
    """The type Telegram's id ranges imply: users > 0, supergroups -100..., groups < 0."""
    if chat_id > 0:
        return "private"
    return "supergroup" if str(chat_id).startswith("-100") else "group"


def user(
    user_id: int,
    first_name: str | None = None,
    *,
    username: str | None = None,
    last_name: str | None = None,
    is_bot: bool = False,
    language_code: str | None = "en",
) -> JSON:
    """A User object."""
    result: JSON = {"id": user_id, "is_bot": is_bot, "first_name": first_name or f"User{user_id}"}
    if last_name:
        result["last_name"] = last_name
    if username:
        result["username"] = username
    if language_code and not is_bot:
        result["language_code"] = language_code
    return result


def anonymous_admin() -> JSON:
    """The `from` of a message sent by an anonymous group administrator."""
    return user(GROUP_ANONYMOUS_BOT_ID, "Group", username="GroupAnonymousBot", is_bot=True)


def bot_user(bot_id: int, username: str, first_name: str) -> JSON:
    """What getMe returns for a bot."""
    return {
        **user(bot_id, first_name, username=username, is_bot=True),
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def chat(
    chat_id: int,
    chat_type: ChatType | None = None,
    *,
    title: str | None = None,
    username: str | None = None,
    first_name: str | None = None,
) -> JSON:
    """A Chat object; private chats carry a first name, the others a title."""
    kind = chat_type or chat_type_for(chat_id)
    result: JSON = {"id": chat_id, "type": kind}
    if kind == "private":
        result["first_name"] = first_name or f"User{chat_id}"
    else:
        result["title"] = title or f"{kind.capitalize()} {abs(chat_id)}"
    if username:
        result["username"] = username
    return result


def chat_full_info(chat_obj: JSON) -> JSON:
    """What getChat returns (ChatFullInfo) for a chat the emulator knows."""
    return {
        **chat_obj,
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
            "gifts_from_channels": False,
        },
    }


def command_entities(text: str) -> list[JSON]:
    """bot_command entities for every ``/command`` or ``/command@bot`` in ``text``."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_len(text[: found.start()]),
            "length": utf16_len(found.group()),
        }
        for found in _COMMAND.finditer(text)
    ]


def message(
    *,
    message_id: int,
    date: int,
    chat: JSON,
    text: str,
    from_user: JSON | None = None,
    sender_chat: JSON | None = None,
    entities: list[JSON] | None = None,
    reply_markup: JSON | None = None,
    edit_date: int | None = None,
    link_preview_options: JSON | None = None,
) -> JSON:
    """A text Message; ``entities`` defaults to the bot commands found in the text."""
    result: JSON = {"message_id": message_id, "date": date, "chat": chat, "text": text}
    if from_user is not None:
        result["from"] = from_user
    if sender_chat is not None:
        result["sender_chat"] = sender_chat
    found = command_entities(text) if entities is None else entities
    if found:
        result["entities"] = found
    if edit_date is not None:
        result["edit_date"] = edit_date
    if reply_markup:
        result["reply_markup"] = reply_markup
    if link_preview_options:
        result["link_preview_options"] = link_preview_options
    return result


_ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_pin_messages",
)
_RESTRICTED_RIGHTS = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_react_to_messages",
    "can_edit_tag",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
)


def chat_member(
    member: JSON,
    status: MemberStatus,
    *,
    is_anonymous: bool = False,
    custom_title: str | None = None,
    until_date: int = 0,
) -> JSON:
    """A ChatMember of the given status, with every field that status requires."""
    result: JSON = {"status": status, "user": member}
    if status == "creator":
        result["is_anonymous"] = is_anonymous
    elif status == "administrator":
        result.update(can_be_edited=False, is_anonymous=is_anonymous)
        result.update(dict.fromkeys(_ADMIN_RIGHTS, True))
    elif status == "restricted":
        result.update(is_member=True, until_date=until_date)
        result.update(dict.fromkeys(_RESTRICTED_RIGHTS, False))
    elif status == "kicked":
        result["until_date"] = until_date
    if custom_title and status in ("creator", "administrator"):
        result["custom_title"] = custom_title
    return result


def chat_member_updated(*, chat: JSON, from_user: JSON, old: JSON, new: JSON, date: int) -> JSON:
    """A ChatMemberUpdated (the payload of my_chat_member and chat_member updates)."""
    return {
        "chat": chat,
        "from": from_user,
        "date": date,
        "old_chat_member": old,
        "new_chat_member": new,
    }


def callback_query(
    *, query_id: str, from_user: JSON, message_obj: JSON, data: str, chat_instance: str
) -> JSON:
    """A CallbackQuery from an inline button under one of the bot's messages."""
    return {
        "id": query_id,
        "from": from_user,
        "message": message_obj,
        "chat_instance": chat_instance,
        "data": data,
    }


def webhook_info(url: str, pending: int, allowed_updates: list[str] | None) -> JSON:
    """What getWebhookInfo returns."""
    result: JSON = {"url": url, "has_custom_certificate": False, "pending_update_count": pending}
    if allowed_updates is not None:
        result["allowed_updates"] = allowed_updates
    return result


def inline_buttons(reply_markup: JSON | None) -> list[JSON]:
    """Every button of an inline keyboard (empty for other markups)."""
    if not reply_markup:
        return []
    rows = reply_markup.get("inline_keyboard") or []
    return [button for row in rows if isinstance(row, list) for button in row]
