"""When an alert may go out: quiet hours and digest windows in the recipient's time zone.

``hold_for`` decides for an alert about to be sent: send it now (None), or hold it until
the end of the recipient's digest window (``hourly``, ``daily HH:MM``) or of their quiet
hours (``22:00-07:00``, which may cross midnight). ``release_hold`` decides for held
alerts whose time has come: send them now as one digest, or hold them on (a digest window
that ends inside quiet hours waits for the quiet hours to end). High-priority alerts go
through both holds.

Times are computed on the recipient's wall clock with zoneinfo and returned in UTC;
a wall time that does not exist (spring forward) moves forward by the length of the gap
(02:30 -> 03:30), an ambiguous one (fall back) takes its first occurrence.
Pure: ``now`` is an argument; no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from monitor.core.models import Recipient

HOURLY, DAILY, QUIET = "hourly", "daily", "quiet hours"  # why alerts are held


@dataclass(frozen=True, slots=True)
class Hold:
    """Keep the alert until ``until`` (UTC), then send it in a digest with this reason."""

    until: datetime
    reason: str  # hourly, daily or quiet hours: the digest says why it came


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def parse_hhmm(value: str) -> time:
    """ "07:30" -> time(7, 30); "24:00" is accepted as midnight."""
    hours, _, minutes = value.strip().partition(":")
    h, m = int(hours), int(minutes or 0)
    if h == 24 and m == 0:
        return time(0, 0)
    return time(h, m)


def _at_wall(day: datetime, wall: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of ``wall`` o'clock on ``day``'s date in ``zone`` (fold=0: a wall
    time inside a spring-forward gap moves forward by the gap, an ambiguous one takes its
    first occurrence)."""
    return datetime.combine(day.date(), wall, tzinfo=zone).astimezone(UTC)


def next_wall_time(now: datetime, wall: time, timezone: str) -> datetime:
    """The first instant strictly after ``now`` when the clock in ``timezone`` shows ``wall``."""
    zone = _zone(timezone)
    local = now.astimezone(zone)
    for days in range(0, 3):
        day = local + timedelta(days=days)
        candidate = _at_wall(day, wall, zone)
        if candidate > now:
            return candidate
    raise AssertionError("unreachable: a wall time recurs within two days")  # pragma: no cover


def in_quiet_hours(quiet: tuple[str, str] | None, now: datetime, timezone: str) -> bool:
    """Whether ``now`` falls inside ``quiet`` ("22:00", "07:00") on the recipient's clock."""
    if quiet is None:
        return False
    start, end = parse_hhmm(quiet[0]), parse_hhmm(quiet[1])
    if start == end:
        return False
    wall = now.astimezone(_zone(timezone)).time().replace(tzinfo=None)
    if start < end:
        return start <= wall < end
    return wall >= start or wall < end


def quiet_hours_end(quiet: tuple[str, str], now: datetime, timezone: str) -> datetime:
    """When the quiet hours that hold ``now`` end (UTC)."""
    return next_wall_time(now, parse_hhmm(quiet[1]), timezone)


def digest_window(recipient: Recipient, now: datetime) -> tuple[datetime, datetime]:
    """(start, end) in UTC of the digest window that holds ``now``.

    hourly: the recipient's clock hour (half-hour zones keep their own boundaries);
    daily: from one ``daily_at`` to the next.
    """
    zone = _zone(recipient.timezone)
    if recipient.mode == "daily":
        end = next_wall_time(now, parse_hhmm(recipient.daily_at or "08:00"), recipient.timezone)
        return end - timedelta(days=1), end
    local = now.astimezone(zone)
    start = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    end = start + timedelta(hours=1)
    while end <= now:  # pragma: no cover - only with odd offsets
        start, end = end, end + timedelta(hours=1)
    return start, end


def hold_for(recipient: Recipient, priority: str, now: datetime) -> Hold | None:
    """For an alert about to be sent at ``now``: None = send it, else hold it."""
    if priority == "high":
        return None
    if recipient.mode in ("hourly", "daily"):
        _start, end = digest_window(recipient, now)
        reason = HOURLY if recipient.mode == "hourly" else DAILY
        if recipient.quiet_hours and in_quiet_hours(recipient.quiet_hours, end, recipient.timezone):
            return Hold(quiet_hours_end(recipient.quiet_hours, end, recipient.timezone), reason)
        return Hold(end, reason)
    if recipient.quiet_hours and in_quiet_hours(recipient.quiet_hours, now, recipient.timezone):
        return Hold(quiet_hours_end(recipient.quiet_hours, now, recipient.timezone), QUIET)
    return None


def release_hold(recipient: Recipient, reason: str, priority: str, now: datetime) -> Hold | None:
    """For held alerts whose time came: None = send the digest now, else hold on."""
    if priority != "high" and in_quiet_hours(recipient.quiet_hours, now, recipient.timezone):
        assert recipient.quiet_hours is not None
        return Hold(quiet_hours_end(recipient.quiet_hours, now, recipient.timezone), reason)
    return None
