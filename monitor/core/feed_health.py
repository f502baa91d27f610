"""Feed health: which feeds are failing or stale, and the admin notices that makes, once each.

Pure: ``assess`` takes what the store knows of every active feed (``FeedSignal``), the
incidents still open, ``now`` and a ``HealthPolicy``, and returns a ``HealthPlan``:
incidents to open, incidents to close and the notices to send. The shell applies the
plan and queues the notices in one transaction, so a restart neither repeats nor loses
one. No clock, no database, no I/O.

Conditions:

- **failing**: ``failures_before_alert`` failed polls in a row (throttling is not a
  failure). Recovered at the first successful poll.
- **stale**: the feed polls fine but has been silent for ``stale_factor`` times its
  usual gap between items, and at least ``stale_min``. The usual gap is the median gap
  between its recent items' times (publication, or first sight when earlier), ignoring
  gaps under a minute (items published together). Too few items, a failing feed or a
  feed never polled: unknown, the incident state stays as it is. Recovered when the
  silence is over.
- **outage**: at least ``outage_share`` of the polled active feeds (and at least
  ``outage_min_feeds``) failed their latest ``outage_streak`` polls (a single bad minute
  is not an outage): the trouble is ours (network, DNS, proxy), not the feeds'. One
  notice opens it, one closes it (when fewer than ``outage_clear_share`` of the feeds
  failed their latest poll). Failing incidents opened during it are recorded but not
  announced; one is announced later only if its feed fails a poll after the outage ended.

Notices: each incident is announced at most once and its recovery is announced only if
its opening was; what one assessment opens goes out as one notice, what it closes as
another (a feed's own subject when it is the only one), so the admins get a few
messages per incident wave, never one per failed poll.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

FAILING, STALE, OUTAGE = "failing", "stale", "outage"
MAX_LISTED = 20  # feeds named in one notice; the rest are counted


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """Thresholds of the health assessment (the first three come from monitor.yaml ``health``)."""

    failures_before_alert: int = 5
    stale_factor: float = 6.0
    stale_min_s: float = 24 * 3600
    outage_share: float = 0.9
    outage_clear_share: float = 0.5
    outage_min_feeds: int = 3
    outage_streak: int = 2  # failed polls in a row that count a feed as down (a blip is not)
    min_gaps: int = 2  # gaps between items needed to know a feed's usual gap
    burst_s: float = 60.0  # items closer than this count as one publication


@dataclass(frozen=True, slots=True)
class FeedSignal:
    """What the store knows about one active feed's health."""

    feed_id: int
    name: str
    url: str
    error_streak: int = 0
    last_error: str | None = None
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    item_times: tuple[datetime, ...] = ()  # recent items: min(published, first seen)


@dataclass(frozen=True, slots=True)
class Incident:
    """An open incident as stored: ``feed_id`` None is the outage of every feed."""

    id: int
    feed_id: int | None
    kind: str
    opened_at: datetime
    announced: bool


@dataclass(frozen=True, slots=True)
class Opening:
    feed_id: int | None
    kind: str
    detail: str
    announced: bool


@dataclass(frozen=True, slots=True)
class Closing:
    incident_id: int
    announced: bool  # a recovery notice names it


@dataclass(frozen=True, slots=True)
class HealthNotice:
    key: str  # unique forever: the admin outbox sends a key once
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class HealthPlan:
    opened: tuple[Opening, ...] = ()
    closed: tuple[Closing, ...] = ()
    announced: tuple[int, ...] = ()  # open incidents, held back before, announced now
    notices: tuple[HealthNotice, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.opened or self.closed or self.announced)


def usual_gap_s(
    times: Sequence[datetime], *, min_gaps: int = 2, burst_s: float = 60.0
) -> float | None:
    """Median gap in seconds between publications, or None with fewer than ``min_gaps`` gaps."""
    ordered = sorted(times)
    gaps = [
        (b - a).total_seconds()
        for a, b in itertools.pairwise(ordered)
        if (b - a).total_seconds() >= burst_s
    ]
    if len(gaps) < max(1, min_gaps):
        return None
    return float(statistics.median(gaps))


def stale_after_s(gap_s: float, policy: HealthPolicy) -> float:
    """Silence after which a feed with this usual gap is stale."""
    return max(policy.stale_factor * gap_s, policy.stale_min_s)


def is_stale(signal: FeedSignal, now: datetime, policy: HealthPolicy) -> bool | None:
    """True/False, or None when it cannot be told (failing, never polled, too few items)."""
    if signal.error_streak > 0 or signal.last_success_at is None or not signal.item_times:
        return None
    gap = usual_gap_s(signal.item_times, min_gaps=policy.min_gaps, burst_s=policy.burst_s)
    if gap is None:
        return None
    return (now - max(signal.item_times)).total_seconds() > stale_after_s(gap, policy)


def feed_condition(signal: FeedSignal, now: datetime, policy: HealthPolicy) -> str:
    """One word for ``monitor status``: new, failing, erroring, stale or ok."""
    if signal.last_polled_at is None:
        return "new"
    if signal.error_streak >= policy.failures_before_alert:
        return FAILING
    if signal.error_streak > 0:
        return "erroring"
    return STALE if is_stale(signal, now, policy) else "ok"


def assess(
    feeds: Sequence[FeedSignal],
    incidents: Sequence[Incident],
    now: datetime,
    policy: HealthPolicy = HealthPolicy(),
    *,
    last_outage_end: datetime | None = None,
) -> HealthPlan:
    """What changed since the last assessment, and what to tell the admins (module docstring)."""
    plan = _Plan(now, policy)
    open_by = {(i.feed_id, i.kind): i for i in incidents}
    outage = open_by.get((None, OUTAGE))
    in_outage = _outage(feeds, outage, policy)
    if in_outage and outage is None:
        plan.open_outage(feeds)
    elif outage is not None and not in_outage:
        plan.close_outage(outage, feeds)
        last_outage_end = now
    by_id = {f.feed_id: f for f in feeds}
    for f in feeds:
        _assess_failing(plan, f, open_by.get((f.feed_id, FAILING)), in_outage, last_outage_end)
        _assess_stale(plan, f, open_by.get((f.feed_id, STALE)), now, policy)
    for i in incidents:  # the feed was removed from the configuration: close quietly
        if i.feed_id is not None and i.feed_id not in by_id:
            plan.closed.append(Closing(i.id, announced=False))
    return plan.build()


def _outage(feeds: Sequence[FeedSignal], current: Incident | None, policy: HealthPolicy) -> bool:
    polled = [f for f in feeds if f.last_polled_at is not None]
    if len(polled) < policy.outage_min_feeds:
        return False
    if current is None:  # opening: most feeds failed more than once (one bad minute is not it)
        streak = max(1, min(policy.outage_streak, policy.failures_before_alert))
        return sum(1 for f in polled if f.error_streak >= streak) >= policy.outage_share * len(
            polled
        )
    still = sum(1 for f in polled if f.error_streak > 0)  # staying: their latest poll failed
    return still >= policy.outage_clear_share * len(polled)


def _assess_failing(
    plan: _Plan,
    f: FeedSignal,
    incident: Incident | None,
    in_outage: bool,
    last_outage_end: datetime | None,
) -> None:
    failing = f.error_streak >= plan.policy.failures_before_alert
    # Held back during an outage, and after it until the feed fails a poll of its own.
    tellable = not in_outage and (
        last_outage_end is None
        or (f.last_polled_at is not None and f.last_polled_at > last_outage_end)
    )
    if failing and incident is None:
        plan.open(f, FAILING, _failing_line(f), announced=tellable)
    elif failing and incident is not None and not incident.announced and tellable:
        plan.announce(incident, f, _failing_line(f))
    elif not failing and incident is not None:
        plan.close(incident, f, _recovered_line(f, incident, plan.now))


def _assess_stale(
    plan: _Plan, f: FeedSignal, incident: Incident | None, now: datetime, policy: HealthPolicy
) -> None:
    stale = is_stale(f, now, policy)
    if stale and incident is None:
        plan.open(f, STALE, _stale_line(f, now, policy), announced=True)
    elif stale is False and incident is not None:
        plan.close(incident, f, f"{f.name}: new items again (silent since {_at(incident)})")


class _Plan:
    """Collects decisions and the lines of the notices while ``assess`` walks the feeds."""

    def __init__(self, now: datetime, policy: HealthPolicy) -> None:
        self.now = now
        self.policy = policy
        self.opened: list[Opening] = []
        self.closed: list[Closing] = []
        self.announced: list[int] = []
        self.outage_notices: list[HealthNotice] = []
        self.opened_lines: list[tuple[str, str, str]] = []  # (kind, feed name, line)
        self.closed_lines: list[tuple[str, str, str]] = []

    def open(self, f: FeedSignal, kind: str, line: str, *, announced: bool) -> None:
        self.opened.append(Opening(f.feed_id, kind, line, announced))
        if announced:
            self.opened_lines.append((kind, f.name, line))

    def announce(self, incident: Incident, f: FeedSignal, line: str) -> None:
        self.announced.append(incident.id)
        self.opened_lines.append((incident.kind, f.name, line))

    def close(self, incident: Incident, f: FeedSignal, line: str) -> None:
        self.closed.append(Closing(incident.id, incident.announced))
        if incident.announced:
            self.closed_lines.append((incident.kind, f.name, line))

    def open_outage(self, feeds: Sequence[FeedSignal]) -> None:
        polled = [f for f in feeds if f.last_polled_at is not None]
        failing = [f for f in polled if f.error_streak > 0]
        errors = Counter(_error_kind(f.last_error) for f in failing).most_common(1)
        common = f" Most common error: {errors[0][0]} ({errors[0][1]} feeds)." if errors else ""
        detail = f"{len(failing)} of {len(polled)} feeds failed their latest poll.{common}"
        self.opened.append(Opening(None, OUTAGE, detail, True))
        body = (
            f"{detail} When (nearly) every feed fails at once the trouble is usually on "
            "this side (network, DNS, proxy, firewall), not at the feeds. Notices about "
            "single feeds are held until it is over; one notice will say when feeds poll again."
        )
        subject = f"monitor: feeds failing everywhere ({len(failing)} of {len(polled)})"
        self.outage_notices.append(HealthNotice(self._key("outage"), subject, body))

    def close_outage(self, outage: Incident, feeds: Sequence[FeedSignal]) -> None:
        polled = [f for f in feeds if f.last_polled_at is not None]
        ok = sum(1 for f in polled if f.error_streak == 0)
        self.closed.append(Closing(outage.id, True))
        body = (
            f"The outage that began {_at(outage)} is over after "
            f"{human_duration((self.now - outage.opened_at).total_seconds())}: {ok} of "
            f"{len(polled)} feeds polled successfully. Feeds that keep failing will be "
            "reported on their own."
        )
        self.outage_notices.append(
            HealthNotice(self._key("outage-over"), "monitor: feeds polling again", body)
        )

    def _key(self, part: str) -> str:
        return f"feed-health/{self.now.strftime('%Y%m%dT%H%M%S.%fZ')}/{part}"

    def build(self) -> HealthPlan:
        notices = list(self.outage_notices)
        if self.opened_lines:
            notices.append(self._notice("opened", self.opened_lines, opening=True))
        if self.closed_lines:
            notices.append(self._notice("recovered", self.closed_lines, opening=False))
        return HealthPlan(
            tuple(self.opened), tuple(self.closed), tuple(self.announced), tuple(notices)
        )

    def _notice(
        self, part: str, lines: list[tuple[str, str, str]], *, opening: bool
    ) -> HealthNotice:
        kinds = Counter(kind for kind, _, _ in lines)
        if len(lines) == 1:
            kind, name, _line = lines[0]
            word = {FAILING: "failing", STALE: "silent"}[kind] if opening else "recovered"
            subject = f"monitor: feed {name} {word}"
        elif opening:
            parts = [f"{n} {'failing' if k == FAILING else 'silent'}" for k, n in kinds.items()]
            subject = f"monitor: {len(lines)} feeds need attention ({', '.join(parts)})"
        else:
            subject = f"monitor: {len(lines)} feeds recovered"
        shown = [line for _, _, line in lines[:MAX_LISTED]]
        if len(lines) > MAX_LISTED:
            shown.append(f"... and {len(lines) - MAX_LISTED} more (see `monitor status`)")
        return HealthNotice(self._key(part), subject, "\n".join(shown))


def _failing_line(f: FeedSignal) -> str:
    since = f"last success {_when(f.last_success_at)}" if f.last_success_at else "never polled OK"
    error = f"; last error: {f.last_error[:200]}" if f.last_error else ""
    return f"{f.name} ({f.url}): {f.error_streak} failed polls in a row, {since}{error}"


def _recovered_line(f: FeedSignal, incident: Incident, now: datetime) -> str:
    down = human_duration((now - incident.opened_at).total_seconds())
    return f"{f.name}: polling again (failing since {_at(incident)}, {down})"


def _stale_line(f: FeedSignal, now: datetime, policy: HealthPolicy) -> str:
    last = max(f.item_times)
    gap = usual_gap_s(f.item_times, min_gaps=policy.min_gaps, burst_s=policy.burst_s) or 0.0
    return (
        f"{f.name} ({f.url}): no new item for {human_duration((now - last).total_seconds())} "
        f"(usually one every {human_duration(gap)}); the feed itself answers"
    )


def _error_kind(error: str | None) -> str:
    return (error or "unknown").split(":", 1)[0].strip() or "unknown"


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _at(incident: Incident) -> str:
    return _when(incident.opened_at)


def human_duration(seconds: float) -> str:
    """``3d 4h``, ``2h 10m``, ``45m``, ``30s``: two units at most."""
    s = max(0, round(seconds))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


__all__ = [
    "FAILING",
    "OUTAGE",
    "STALE",
    "Closing",
    "FeedSignal",
    "HealthNotice",
    "HealthPlan",
    "HealthPolicy",
    "Incident",
    "Opening",
    "assess",
    "feed_condition",
    "human_duration",
    "is_stale",
    "stale_after_s",
    "usual_gap_s",
]
