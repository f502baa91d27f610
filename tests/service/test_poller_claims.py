"""How many due feeds a poll tick claims: its pace times the look-ahead, less what it holds."""

from __future__ import annotations

import time
from typing import cast

from monitor.service.pipeline import PollContext
from monitor.service.poller import CLAIM_AHEAD_S, PACE_WINDOW_S, Poller


def poller(concurrency: int) -> Poller:
    return Poller(cast(PollContext, None), [], concurrency=concurrency)


def test_a_fresh_poller_claims_twice_its_concurrency() -> None:
    assert poller(10).claim_size() == 20


def test_the_claim_follows_the_pace_of_recent_polls() -> None:
    p = poller(10)
    now = time.monotonic()
    p._recent.extend((now, 0.2) for _ in range(30))  # 10 slots / 0.2 s = 50 polls/s
    assert p.claim_size() == int(50 * CLAIM_AHEAD_S)
    p._recent.extend((now, 0.002) for _ in range(3000))  # fast polls: capped by the limit
    assert p.claim_size(limit=1000) == 1000


def test_feeds_held_count_against_the_claim_and_old_polls_are_forgotten() -> None:
    p = poller(10)
    now = time.monotonic()
    p._recent.extend((now, 0.2) for _ in range(30))
    p._in_flight.update(f"http://127.0.0.1/{n}.xml" for n in range(240))
    assert p.claim_size() == 10
    p._in_flight.update(f"http://127.0.0.1/more{n}.xml" for n in range(40))
    assert p.claim_size() == 0
    p._in_flight.clear()
    p._recent.clear()
    p._recent.append((now - PACE_WINDOW_S - 1, 10.0))  # a slow poll long ago: forgotten
    assert p.claim_size() == 20
