"""Quiet hours and digest windows on the recipient's clock, across midnight and DST."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.core.models import Recipient
from monitor.core.schedule_delivery import (
    Hold,
    digest_window,
    hold_for,
    in_quiet_hours,
    next_wall_time,
    parse_hhmm,
    quiet_hours_end,
    release_hold,
)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def person(**fields: object) -> Recipient:
    return Recipient("telegram:1", "telegram", "1", **fields)  # type: ignore[arg-type]


NIGHT = ("22:00", "07:00")


@pytest.mark.parametrize(
    ("moment", "quiet"),
    [
        (utc(2026, 1, 10, 20, 59), False),  # 21:59 Berlin
        (utc(2026, 1, 10, 21, 0), True),  # 22:00
        (utc(2026, 1, 10, 23, 30), True),  # 00:30, after midnight
        (utc(2026, 1, 11, 5, 59), True),  # 06:59
        (utc(2026, 1, 11, 6, 0), False),  # 07:00
    ],
)
def test_quiet_hours_cross_midnight(moment: datetime, quiet: bool) -> None:
    assert in_quiet_hours(NIGHT, moment, "Europe/Berlin") is quiet


def test_quiet_hours_within_one_day_and_empty_ones() -> None:
    lunch = ("12:00", "13:00")
    assert in_quiet_hours(lunch, utc(2026, 1, 10, 5, 30), "Asia/Jakarta")  # 12:30 WIB
    assert not in_quiet_hours(lunch, utc(2026, 1, 10, 6, 0), "Asia/Jakarta")  # 13:00
    assert not in_quiet_hours(("08:00", "08:00"), utc(2026, 1, 10, 8), "UTC")
    assert not in_quiet_hours(None, utc(2026, 1, 10, 8), "UTC")
    assert parse_hhmm("24:00") == parse_hhmm("00:00")


def test_quiet_hours_end_is_the_next_end_on_the_local_clock() -> None:
    assert quiet_hours_end(NIGHT, utc(2026, 1, 10, 21, 30), "Europe/Berlin") == utc(
        2026, 1, 11, 6, 0
    )
    assert quiet_hours_end(NIGHT, utc(2026, 1, 11, 1, 0), "Europe/Berlin") == utc(2026, 1, 11, 6, 0)


def test_quiet_hours_over_the_dst_changes_end_at_seven_local() -> None:
    # Spring forward in Berlin (29 March 2026, 02:00 -> 03:00): the night is an hour shorter.
    assert quiet_hours_end(NIGHT, utc(2026, 3, 28, 22, 0), "Europe/Berlin") == utc(
        2026, 3, 29, 5, 0
    )
    # Fall back (25 October 2026, 03:00 -> 02:00): an hour longer.
    assert quiet_hours_end(NIGHT, utc(2026, 10, 24, 21, 0), "Europe/Berlin") == utc(
        2026, 10, 25, 6, 0
    )
    # 02:30 happens twice on the fall-back night: quiet both times.
    assert in_quiet_hours(NIGHT, utc(2026, 10, 25, 0, 30), "Europe/Berlin")
    assert in_quiet_hours(NIGHT, utc(2026, 10, 25, 1, 30), "Europe/Berlin")


def test_a_wall_time_in_the_spring_gap_moves_forward_by_the_gap() -> None:
    wall = parse_hhmm("02:30")  # does not exist in Berlin on 29 March 2026
    assert next_wall_time(utc(2026, 3, 28, 12), wall, "Europe/Berlin") == utc(2026, 3, 29, 1, 30)
    assert next_wall_time(utc(2026, 3, 29, 1, 30), wall, "Europe/Berlin") == utc(2026, 3, 30, 0, 30)


def test_hourly_windows_follow_the_local_hour_also_in_half_hour_zones() -> None:
    hourly = person(mode="hourly", timezone="Asia/Kolkata")  # UTC+05:30
    start, end = digest_window(hourly, utc(2026, 5, 1, 4, 45))  # 10:15 IST
    assert (start, end) == (utc(2026, 5, 1, 4, 30), utc(2026, 5, 1, 5, 30))


def test_daily_windows_end_at_the_chosen_local_time() -> None:
    daily = person(mode="daily", daily_at="08:00", timezone="America/New_York")
    assert digest_window(daily, utc(2026, 3, 7, 12, 0))[1] == utc(2026, 3, 7, 13, 0)  # EST
    assert digest_window(daily, utc(2026, 3, 7, 13, 0))[1] == utc(2026, 3, 8, 12, 0)  # EDT
    start, end = digest_window(daily, utc(2026, 3, 8, 12, 30))
    assert end == utc(2026, 3, 9, 12, 0) and start < end


def test_hold_for_each_mode() -> None:
    now = utc(2026, 1, 10, 21, 30)  # 22:30 Berlin, 04:30 Jakarta
    assert hold_for(person(), "normal", now) is None
    quiet = person(timezone="Europe/Berlin", quiet_hours=NIGHT)
    assert hold_for(quiet, "normal", now) == Hold(utc(2026, 1, 11, 6, 0), "quiet hours")
    assert hold_for(quiet, "high", now) is None
    hourly = person(mode="hourly", timezone="Asia/Jakarta")
    assert hold_for(hourly, "normal", now) == Hold(utc(2026, 1, 10, 22, 0), "hourly")
    assert hold_for(hourly, "high", now) is None
    # A daily digest due inside quiet hours waits for them to end.
    late = person(mode="daily", daily_at="23:00", timezone="Europe/Berlin", quiet_hours=NIGHT)
    assert hold_for(late, "normal", utc(2026, 1, 10, 12)) == Hold(utc(2026, 1, 11, 6), "daily")


def test_release_holds_on_through_quiet_hours() -> None:
    quiet = person(mode="hourly", timezone="Europe/Berlin", quiet_hours=NIGHT)
    assert release_hold(quiet, "hourly", "normal", utc(2026, 1, 10, 23)) == Hold(
        utc(2026, 1, 11, 6), "hourly"
    )
    assert release_hold(quiet, "hourly", "normal", utc(2026, 1, 11, 6)) is None
    assert release_hold(quiet, "hourly", "high", utc(2026, 1, 10, 23)) is None
