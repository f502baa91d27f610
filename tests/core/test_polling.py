"""Adaptive polling: busy feeds sooner, quiet ones later, within bounds; hints; missed items."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.polling import (
    FASTER,
    MISSED,
    SLOWER,
    IntervalBounds,
    ServerHints,
    next_interval,
    server_hints,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BOUNDS = IntervalBounds(base_s=600, min_s=60, max_s=86400)


def after(current: float | None, **kw: object):
    values: dict[str, object] = {
        "new_items": 0,
        "entries": 20,
        "known": 20,
        "first_poll": False,
        "bounds": BOUNDS,
    }
    values.update(kw)
    return next_interval(current, **values)  # type: ignore[arg-type]


def test_bounds_spread_around_the_base_within_the_global_limits() -> None:
    assert (BOUNDS.low, BOUNDS.high) == (150, 2400)
    assert IntervalBounds(base_s=120, min_s=60, max_s=86400).low == 60  # min_interval wins
    assert IntervalBounds(base_s=43200, min_s=60, max_s=86400).high == 86400  # max wins
    with pytest.raises(ValueError):
        IntervalBounds(base_s=600, min_s=600, max_s=60)


def test_a_busy_feed_is_polled_sooner_and_a_quiet_one_later() -> None:
    busy = after(600, new_items=3, known=17)
    quiet = after(600)
    assert busy.interval_s == pytest.approx(600 * FASTER) and busy.reason == "busy"
    assert quiet.interval_s == pytest.approx(600 * SLOWER) and quiet.reason == "quiet"
    assert not busy.missed and not quiet.missed


def test_not_modified_counts_as_quiet_and_never_adapted_starts_at_the_base() -> None:
    decision = after(None, entries=0, known=None)
    assert decision.interval_s == pytest.approx(600 * SLOWER)


def test_the_interval_stays_inside_the_feed_bounds_however_long_the_streak() -> None:
    interval: float | None = None
    for _ in range(50):
        interval = after(interval).interval_s
    assert interval == BOUNDS.high
    for _ in range(50):
        interval = after(interval, new_items=5, known=15).interval_s
    assert interval == BOUNDS.low


def test_no_overlap_with_known_items_means_items_were_probably_missed() -> None:
    decision = after(1000, new_items=20, entries=20, known=0)
    assert decision.missed and decision.reason == "missed"
    assert decision.interval_s == pytest.approx(1000 * MISSED)
    first = after(1000, new_items=20, entries=20, known=0, first_poll=True)
    assert not first.missed and first.interval_s == 1000  # a baseline knows nothing yet


def test_server_hints_delay_the_next_poll_but_not_past_the_feed_bound() -> None:
    ttl = after(600, hints=ServerHints(ttl_s=1800))
    assert ttl.interval_s == pytest.approx(750) and ttl.delay_s == 1800
    huge = after(600, hints=ServerHints(max_age_s=86400))
    assert huge.delay_s == BOUNDS.high
    small = after(600, hints=ServerHints(max_age_s=30))
    assert small.delay_s == small.interval_s  # a hint never makes us poll sooner


def test_cache_control_max_age_minus_age() -> None:
    hints = server_hints({"cache-control": "public, max-age=900", "age": "300"}, NOW)
    assert hints.max_age_s == 600 and hints.floor_s == 600


def test_no_cache_gives_no_floor_and_ignores_expires() -> None:
    later = (NOW + timedelta(hours=2)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    hints = server_hints({"cache-control": "no-cache, max-age=900", "expires": later}, NOW)
    assert hints.floor_s is None


def test_expires_is_measured_against_the_date_header() -> None:
    date = NOW.strftime("%a, %d %b %Y %H:%M:%S GMT")
    expires = (NOW + timedelta(minutes=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    later_now = NOW + timedelta(minutes=10)  # our clock runs ahead of the server's
    hints = server_hints({"date": date, "expires": expires}, later_now)
    assert hints.expires_s == 1800
    assert server_hints({"expires": "0"}, NOW).floor_s is None
    assert server_hints({"expires": "-1", "date": "garbage"}, NOW).floor_s is None


def test_max_age_wins_over_expires_and_ttl_and_retry_after_combine() -> None:
    expires = (NOW + timedelta(hours=5)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    hints = server_hints(
        {"cache-control": "max-age=60", "expires": expires, "retry-after": "120"},
        NOW,
        ttl_s=300,
    )
    assert hints.expires_s is None
    assert hints.floor_s == 300  # the largest of ttl 300, max-age 60, retry-after 120


def test_settles_near_the_feeds_publication_gap() -> None:
    """Simulated Poisson publishing: the interval ends near ln 2 times the mean gap."""
    rng = random.Random(7)
    for mean_gap in (400.0, 1200.0):
        interval: float | None = None
        seen = []
        for _ in range(3000):
            current = interval or BOUNDS.base_s
            new = _poisson(rng, current / mean_gap)
            interval = after(interval, new_items=new, known=20 - min(new, 19)).interval_s
            seen.append(math.log(interval))
        typical = math.exp(sum(seen[500:]) / len(seen[500:]))
        assert 0.4 * mean_gap < typical < 1.2 * mean_gap, (mean_gap, typical)


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


@given(
    current=st.one_of(st.none(), st.floats(0.001, 1e7)),
    new=st.integers(0, 200),
    entries=st.integers(0, 200),
    known=st.one_of(st.none(), st.integers(0, 200)),
    base=st.floats(1, 1e6),
    hint=st.one_of(st.none(), st.floats(0, 1e8)),
)
def test_always_inside_bounds_and_never_before_the_interval(
    current: float | None,
    new: int,
    entries: int,
    known: int | None,
    base: float,
    hint: float | None,
) -> None:
    bounds = IntervalBounds(base_s=base, min_s=60, max_s=86400)
    d = next_interval(
        current,
        new_items=new,
        entries=entries,
        known=known,
        first_poll=False,
        bounds=bounds,
        hints=ServerHints(ttl_s=hint),
    )
    assert bounds.low <= d.interval_s <= bounds.high
    assert d.interval_s <= d.delay_s <= bounds.high
