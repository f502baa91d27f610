"""What the Telegram emulator records, the faults it injects and the rates it measures.

``ReceivedMessage``/``Edit`` are what a user actually sees (visible text, entities,
buttons, arrival times); ``ApiCall`` is every HTTP call with its outcome. ``FaultBook``
holds the programmed failures, per chat or for every call, consumed in the order they
were added. ``RateLimits`` are Telegram's published limits, enforced when a test asks,
and ``max_in_window`` gives the observed maxima a test asserts on.

Plain data and arithmetic: no sockets, no threads (the emulator locks around these).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from tests.support.telegram.objects import JSON


@dataclass(frozen=True)
class Edit:
    """One accepted editMessageText: the new content and when it arrived (monotonic s)."""

    text: str
    raw_text: str
    parse_mode: str | None
    entities: tuple[JSON, ...]
    reply_markup: JSON | None
    at: float


@dataclass
class ReceivedMessage:
    """A message the bot sent, as the recipient sees it (``text`` = visible, entities parsed)."""

    chat_id: int
    message_id: int
    text: str
    raw_text: str
    parse_mode: str | None
    entities: tuple[JSON, ...]
    reply_markup: JSON | None
    link_preview: JSON | None  # link_preview_options, or {"is_disabled": True} from the old flag
    at: float  # time.monotonic() when the server accepted it
    date: int  # unix time, as in the Message object
    token: str
    edits: list[Edit] = field(default_factory=list)
    deleted_at: float | None = None

    @property
    def current_text(self) -> str:
        """The text the user sees now (after the last edit)."""
        return self.edits[-1].text if self.edits else self.text

    @property
    def current_markup(self) -> JSON | None:
        return self.edits[-1].reply_markup if self.edits else self.reply_markup

    def snapshot(self) -> ReceivedMessage:
        """A copy a test can keep while the server goes on recording."""
        return copy.deepcopy(self)


@dataclass(frozen=True)
class ApiCall:
    """One HTTP call to the Bot API and how the emulator answered it."""

    method: str
    params: JSON
    at: float  # time.monotonic() when the call arrived
    status: int
    description: str | None
    chat_id: int | None
    token: str


@dataclass(frozen=True)
class CallbackAnswer:
    """An answerCallbackQuery the bot made."""

    query_id: str
    text: str | None
    show_alert: bool
    at: float


FaultKind = Literal["error", "deliver_then_hang"]


@dataclass
class Fault:
    """A programmed failure. ``times=None`` means until cleared.

    ``error`` answers ``status`` with ``description``/``parameters`` instead of doing the
    call. ``deliver_then_hang`` does the call (the message is recorded) and then stalls
    ``hang_s`` seconds before answering, longer than a client's read timeout.
    ``html_body`` answers with nginx's HTML error page instead of JSON (502/504).
    """

    kind: FaultKind
    status: int = 200
    description: str = ""
    parameters: JSON | None = None
    times: int | None = 1
    hang_s: float = 0.0
    methods: frozenset[str] | None = None
    html_body: bool = False

    def applies_to(self, method: str) -> bool:
        return self.methods is None or method in self.methods


class FaultBook:
    """Faults per chat id (``None`` = any call), taken first-in first-out."""

    def __init__(self) -> None:
        self._faults: dict[int | None, list[Fault]] = {}

    def add(self, chat_id: int | None, fault: Fault) -> None:
        self._faults.setdefault(chat_id, []).append(fault)

    def clear(self, chat_id: int | None = None, *, everything: bool = False) -> None:
        if everything:
            self._faults.clear()
        else:
            self._faults.pop(chat_id, None)

    def pending(self, chat_id: int | None) -> list[Fault]:
        return list(self._faults.get(chat_id, []))

    def take(self, chat_id: int | None, method: str) -> Fault | None:
        """The fault this call meets (global ones first), counting it down."""
        keys: list[int | None] = [None] if chat_id is None else [None, chat_id]
        for key in keys:
            queue = self._faults.get(key, [])
            for fault in queue:
                if not fault.applies_to(method):
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        queue.remove(fault)
                return fault
        return None


@dataclass(frozen=True)
class RateLimits:
    """Telegram's limits (bots FAQ): 1 message/s per chat, 20/min per group, 30/s overall."""

    per_chat: int = 1
    per_chat_window_s: float = 1.0
    per_group: int = 20
    per_group_window_s: float = 60.0
    overall: int = 30
    overall_window_s: float = 1.0


@dataclass(frozen=True)
class Outgoing:
    """A message-producing call the server accepted (sendMessage or editMessageText)."""

    at: float
    chat_id: int
    method: str


@dataclass(frozen=True)
class RateReport:
    """Observed maxima over any sliding window: what a test compares with the limits."""

    messages: int
    max_per_chat_per_second: int
    max_per_group_per_minute: int
    max_overall_per_second: int


def max_in_window(times: Sequence[float], window_s: float) -> int:
    """The most events in any window ``(t - window_s, t]``; ``times`` need not be sorted."""
    ordered = sorted(times)
    best = 0
    first = 0
    for last, moment in enumerate(ordered):
        while ordered[first] <= moment - window_s:
            first += 1
        best = max(best, last - first + 1)
    return best


def rate_report(events: Iterable[Outgoing]) -> RateReport:
    """Maxima per chat per second, per group (chat id < 0) per minute, overall per second."""
    listed = list(events)
    by_chat: dict[int, list[float]] = {}
    for event in listed:
        by_chat.setdefault(event.chat_id, []).append(event.at)
    return RateReport(
        messages=len(listed),
        max_per_chat_per_second=max((max_in_window(t, 1.0) for t in by_chat.values()), default=0),
        max_per_group_per_minute=max(
            (max_in_window(t, 60.0) for chat, t in by_chat.items() if chat < 0), default=0
        ),
        max_overall_per_second=max_in_window([e.at for e in listed], 1.0),
    )


def _wait_for(times: list[float], now: float, limit: int, window_s: float) -> int | None:
    """Seconds until one more event fits under ``limit`` per ``window_s``, or None if it fits."""
    recent = [t for t in times if t > now - window_s]
    if len(recent) < limit:
        return None
    oldest_blocking = sorted(recent)[len(recent) - limit]
    return max(1, math.ceil(oldest_blocking + window_s - now))


def limit_wait(
    events: Sequence[Outgoing], now: float, chat_id: int, limits: RateLimits
) -> int | None:
    """The retry_after a strict server would answer for one more message, or None."""
    horizon = now - max(
        limits.per_chat_window_s, limits.per_group_window_s, limits.overall_window_s
    )
    recent: list[Outgoing] = []
    for event in reversed(events):
        if event.at <= horizon:
            break
        recent.append(event)
    same_chat = [e.at for e in recent if e.chat_id == chat_id]
    waits = [
        _wait_for([e.at for e in recent], now, limits.overall, limits.overall_window_s),
        _wait_for(same_chat, now, limits.per_chat, limits.per_chat_window_s),
    ]
    if chat_id < 0:
        waits.append(_wait_for(same_chat, now, limits.per_group, limits.per_group_window_s))
    found = [w for w in waits if w is not None]
    return max(found) if found else None
