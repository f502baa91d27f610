"""One bot's incoming updates: the queue getUpdates reads, offsets and the long-poll owner.

Confirming works as on Telegram: an ``offset`` drops every update with a lower id, a
negative offset keeps only the last ``-offset`` updates. ``allowed_updates`` is remembered
between calls, and by default chat_member and reaction updates are not delivered. Only one
long poll may be open per token: ``claim`` marks the previous one terminated (the real
server answers it 409) or refuses the newcomer, depending on the policy.

No locking here: the Bot API state calls these while holding its lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tests.support.telegram.objects import JSON

ConflictPolicy = Literal["terminate_old", "reject_new"]

UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "message_reaction",
        "message_reaction_count",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
NOT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


@dataclass
class LongPoll:
    """An open getUpdates call; ``terminated`` when another poll took its place."""

    terminated: bool = False


class UpdateQueue:
    """Pending updates of one bot and who is polling them."""

    def __init__(self, first_update_id: int = 100_000_001) -> None:
        self.pending: list[JSON] = []
        self.next_update_id = first_update_id
        self.allowed: frozenset[str] = UPDATE_TYPES - NOT_BY_DEFAULT
        self.poll: LongPoll | None = None

    def push(self, kind: str, payload: JSON) -> JSON:
        """Queue an update of ``kind`` (an Update field name) and return it."""
        if kind not in UPDATE_TYPES:
            raise ValueError(f"unknown update type {kind!r}")
        update = {"update_id": self.next_update_id, kind: payload}
        self.next_update_id += 1
        self.pending.append(update)
        return update

    def set_allowed(self, allowed: list[str] | None) -> None:
        """Remember the filter; an empty list means the default set, None keeps the last one."""
        if allowed is None:
            return
        chosen = frozenset(allowed) & UPDATE_TYPES
        self.allowed = chosen or (UPDATE_TYPES - NOT_BY_DEFAULT)

    def confirm(self, offset: int | None) -> None:
        if not offset:
            return
        if offset < 0:
            self.pending = self.pending[offset:]
        else:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]

    def ready(self, limit: int) -> list[JSON]:
        """Deliverable updates, oldest first; ones outside the filter are dropped for good."""
        self.pending = [u for u in self.pending if _kind(u) in self.allowed]
        return self.pending[:limit]

    def drop_all(self) -> None:
        self.pending.clear()

    def claim(self, policy: ConflictPolicy) -> LongPoll | None:
        """Open a poll; None when the policy refuses it because another one is open."""
        if self.poll is not None:
            if policy == "reject_new":
                return None
            self.poll.terminated = True
        self.poll = LongPoll()
        return self.poll

    def release(self, poll: LongPoll) -> None:
        if self.poll is poll:
            self.poll = None


def _kind(update: JSON) -> str:
    return next(key for key in update if key != "update_id")
