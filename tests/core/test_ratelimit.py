"""Rate shaping arithmetic: waits per bucket, sends in flight, and safety against the server.

The property test plays a greedy sender against random network delays and checks what
the *server* sees (a send lands anywhere between its start and its answer) with the
same sliding-window count the Telegram emulator uses.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.ratelimit import (
    Bucket,
    Limit,
    RateLedger,
    TelegramLimits,
    is_group_chat,
    telegram_buckets,
)

PER_CHAT = Bucket("chat:1", Limit(1, 1.0))
OVERALL = Bucket("all", Limit(3, 1.0), shared=True)


def max_in_window(times: list[float], window: float) -> int:
    """Most events in any window (t - window, t] (the emulator's count)."""
    ordered = sorted(times)
    best, first = 0, 0
    for last, moment in enumerate(ordered):
        while ordered[first] <= moment - window:
            first += 1
        best = max(best, last - first + 1)
    return best


def test_a_limit_must_allow_something() -> None:
    with pytest.raises(ValueError):
        Limit(0, 1.0)
    with pytest.raises(ValueError):
        Limit(1, 0.0)


def test_one_per_second_per_chat_counts_from_the_answer() -> None:
    ledger = RateLedger()
    assert ledger.delay([PER_CHAT], 10.0) == 0.0
    ticket = ledger.begin([PER_CHAT])
    assert math.isinf(ledger.delay([PER_CHAT], 10.0))  # in flight: wait for the answer
    ledger.end(ticket, 10.3)
    assert ledger.delay([PER_CHAT], 10.5) == pytest.approx(0.8)
    assert ledger.delay([PER_CHAT], 11.3) == 0.0
    assert ledger.delay([Bucket("chat:2", Limit(1, 1.0))], 10.5) == 0.0  # other chats free


def test_the_wait_is_the_longest_of_every_bucket() -> None:
    ledger = RateLedger()
    for at in (0.0, 0.1, 0.2):
        ledger.end(ledger.begin([OVERALL, Bucket(f"chat:{at}", Limit(1, 1.0))]), at)
    assert ledger.delay([OVERALL, Bucket("chat:new", Limit(1, 1.0))], 0.5) == pytest.approx(0.5)
    group = Bucket("group", Limit(2, 60.0))
    ledger.record([group], 0.0)
    ledger.record([group], 30.0)
    assert ledger.delay([OVERALL, group], 1.5) == pytest.approx(58.5)


def test_recorded_history_counts_and_old_history_is_forgotten() -> None:
    ledger = RateLedger()
    ledger.record_many([([PER_CHAT], 5.0), ([PER_CHAT], 2.0)])  # any order
    assert ledger.delay([PER_CHAT], 5.5) == pytest.approx(0.5)
    ledger.prune(100.0)
    assert ledger.delay([PER_CHAT], 100.0) == 0.0
    assert ledger.in_flight == 0


def test_telegram_buckets_know_groups_and_channels() -> None:
    limits = TelegramLimits()
    assert is_group_chat("-1001234") and is_group_chat("@news_channel")
    assert not is_group_chat("4242")
    private = telegram_buckets("4242", limits)
    group = telegram_buckets("-1001234", limits)
    assert [b.limit for b in private] == [limits.overall, limits.per_chat]
    assert [b.limit for b in group] == [limits.overall, limits.per_chat, limits.per_group]
    assert [b.shared for b in group] == [True, False, False]


@settings(max_examples=40, deadline=None)
@given(
    latencies=st.lists(
        st.tuples(st.floats(0.0, 0.4), st.floats(0.0, 0.4)), min_size=20, max_size=80
    ),
    chats=st.lists(st.sampled_from(["-1", "-2", "3", "4", "5"]), min_size=20, max_size=80),
)
def test_the_server_never_sees_more_than_the_limits(
    latencies: list[tuple[float, float]], chats: list[str]
) -> None:
    """Greedy senders, one per chat, with random delays before and after the server."""
    limits = TelegramLimits(per_chat=Limit(1, 1.0), per_group=Limit(3, 5.0), overall=Limit(4, 1.0))
    ledger = RateLedger()
    queue = list(zip(chats, latencies, strict=False))
    free_at = dict.fromkeys(chats, 0.0)  # a chat's sender is busy until its answer
    landed: dict[str, list[float]] = {}
    overall: list[float] = []
    now = 0.0
    in_flight: list[tuple[float, int]] = []  # (answer time, ticket)
    while queue or in_flight:
        for answer, ticket in [f for f in in_flight if f[0] <= now]:
            ledger.end(ticket, answer)
            in_flight.remove((answer, ticket))
        progressed = False
        for item in list(queue):
            chat, (before, after) = item
            if free_at[chat] > now or any(c == chat for c, _ in queue[: queue.index(item)]):
                continue
            buckets = telegram_buckets(chat, limits)
            if ledger.delay(buckets, now) > 0:
                continue
            ticket = ledger.begin(buckets)
            at_server = now + before
            answer = at_server + after
            landed.setdefault(chat, []).append(at_server)
            overall.append(at_server)
            in_flight.append((answer, ticket))
            free_at[chat] = answer
            queue.remove(item)
            progressed = True
        if not progressed:
            now += 0.01
    assert max_in_window(overall, 1.0) <= 4
    for chat, times in landed.items():
        assert max_in_window(times, 1.0) <= 1
        if chat.startswith("-"):
            assert max_in_window(times, 5.0) <= 3
