"""next_poll_at and parse_retry_after: jitter, backoff, cap, recovery, Retry-After."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from monitor.core.schedule import next_poll_at, parse_retry_after

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def delays(n: int, **kwargs: object) -> list[float]:
    rng = random.Random(7)
    return [
        (next_poll_at(NOW, rng=rng, **kwargs) - NOW).total_seconds()  # type: ignore[arg-type]
        for _ in range(n)
    ]


def test_success_is_the_interval_with_small_jitter() -> None:
    got = delays(500, interval_s=600)
    assert min(got) >= 540 and max(got) <= 660
    assert statistics.pstdev(got) > 10  # spread, not lock-step
    assert abs(statistics.mean(got) - 600) < 10


def test_same_seed_same_schedule() -> None:
    a = next_poll_at(NOW, 600, error_streak=3, rng=random.Random(1))
    b = next_poll_at(NOW, 600, error_streak=3, rng=random.Random(1))
    assert a == b


def test_backoff_grows_with_the_error_streak() -> None:
    means = [statistics.mean(delays(400, interval_s=60, error_streak=n)) for n in range(1, 7)]
    assert means == sorted(means)
    assert means[-1] > 10 * means[0]
    for n in range(1, 7):
        got = delays(200, interval_s=60, error_streak=n)
        assert min(got) >= 60  # never more often than a healthy feed
        assert max(got) <= 60 * 2**n
        assert statistics.pstdev(got) > 0  # jittered


def test_backoff_is_capped_and_never_disables_the_feed() -> None:
    for streak in (10, 50, 1000, 10**6):
        got = delays(200, interval_s=600, error_streak=streak, max_backoff_s=3600)
        assert max(got) <= 3600
        assert min(got) >= 600


def test_interval_longer_than_the_cap_is_kept() -> None:
    got = delays(50, interval_s=86400, error_streak=5, max_backoff_s=3600)
    assert all(d == 86400 for d in got)


def test_retry_after_is_a_minimum() -> None:
    got = delays(300, interval_s=60, error_streak=1, retry_after_s=900, jitter=0.1)
    assert min(got) >= 900
    assert max(got) <= 990  # at most +jitter, so one host's feeds do not return together
    assert statistics.pstdev(got) > 0


def test_short_retry_after_does_not_shorten_the_backoff() -> None:
    got = delays(300, interval_s=600, error_streak=3, retry_after_s=5)
    assert min(got) >= 600


def test_retry_after_beyond_the_cap_is_shortened_to_the_cap() -> None:
    got = delays(100, interval_s=600, error_streak=1, retry_after_s=10**9, max_backoff_s=3600)
    assert min(got) >= 3600 and max(got) <= 3600 * 1.1


def test_a_feed_recovers_within_the_cap_after_an_outage() -> None:
    """F11: 5xx for 3 hours then OK; the first poll after recovery is <= cap later."""
    rng = random.Random(3)
    interval, cap = 300.0, 3600.0
    outage_end = NOW + timedelta(hours=3)
    t, streak, polls_during_outage = NOW, 0, 0
    while t < outage_end:
        polls_during_outage += 1
        streak += 1
        t = next_poll_at(t, interval, error_streak=streak, rng=rng, max_backoff_s=cap)
    recovered_after = (t - outage_end).total_seconds()
    print(f"polls during 3 h outage: {polls_during_outage}, recovered {recovered_after:.0f} s late")
    assert recovered_after <= cap
    assert polls_during_outage < 3 * 3600 / interval  # fewer than when healthy (36)


def test_bad_arguments_are_refused() -> None:
    rng = random.Random(0)
    with pytest.raises(ValueError, match="timezone"):
        next_poll_at(datetime(2026, 1, 1), 60, rng=rng)
    with pytest.raises(ValueError, match="interval_s"):
        next_poll_at(NOW, 0, rng=rng)
    with pytest.raises(ValueError, match="error_streak"):
        next_poll_at(NOW, 60, error_streak=-1, rng=rng)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        ("Sun, 01 Mar 2026 12:02:00 GMT", 120.0),
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),  # in the past
        ("", None),
        ("soon", None),
        ("-5", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected
