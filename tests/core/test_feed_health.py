"""Feed health, pure: one notice per incident, one per recovery, one per outage."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.core.feed_health import (
    FAILING,
    OUTAGE,
    STALE,
    FeedSignal,
    HealthPlan,
    HealthPolicy,
    Incident,
    assess,
    feed_condition,
    human_duration,
    is_stale,
    usual_gap_s,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
POLICY = HealthPolicy(failures_before_alert=3, stale_factor=6.0, stale_min_s=6 * 3600)
HOUR = timedelta(hours=1)


def hourly_items(last: datetime, n: int = 10) -> tuple[datetime, ...]:
    return tuple(last - i * HOUR for i in range(n))


def signal(feed_id: int, **kw: object) -> FeedSignal:
    values: dict[str, object] = {
        "feed_id": feed_id,
        "name": f"Feed {feed_id}",
        "url": f"https://f{feed_id}.example/rss",
        "last_polled_at": NOW - timedelta(minutes=5),
        "last_success_at": NOW - timedelta(minutes=5),
        "item_times": hourly_items(NOW - HOUR),
    }
    values.update(kw)
    return FeedSignal(**values)  # type: ignore[arg-type]


def failing(feed_id: int, streak: int = 3, **kw: object) -> FeedSignal:
    return signal(
        feed_id,
        error_streak=streak,
        last_error="FetchError: connection refused",
        last_success_at=NOW - 6 * HOUR,
        **kw,
    )


class World:
    """Applies plans to an in-memory incident list, as the store does."""

    def __init__(self) -> None:
        self.incidents: list[Incident] = []
        self.closed: list[tuple[Incident, datetime]] = []
        self.notices: list[tuple[str, str, str]] = []
        self.next_id = 1

    def step(self, feeds: list[FeedSignal], now: datetime = NOW) -> HealthPlan:
        end = max((at for i, at in self.closed if i.kind == OUTAGE), default=None)
        plan = assess(feeds, self.incidents, now, POLICY, last_outage_end=end)
        for o in plan.opened:
            self.incidents.append(Incident(self.next_id, o.feed_id, o.kind, now, o.announced))
            self.next_id += 1
        self.incidents = [
            replace(i, announced=True) if i.id in plan.announced else i for i in self.incidents
        ]
        gone = {c.incident_id for c in plan.closed}
        self.closed += [(i, now) for i in self.incidents if i.id in gone]
        self.incidents = [i for i in self.incidents if i.id not in gone]
        self.notices += [(n.key, n.subject, n.body) for n in plan.notices]
        return plan


def test_usual_gap_is_the_median_and_ignores_bursts() -> None:
    times = [NOW - timedelta(hours=h) for h in (0, 1, 2, 4)]
    assert usual_gap_s(times) == 3600
    burst = [NOW, NOW + timedelta(seconds=5), NOW + timedelta(seconds=10), NOW + 6 * HOUR]
    assert usual_gap_s(burst) is None  # one real gap: not enough to know
    assert usual_gap_s([*burst, NOW + 12 * HOUR]) == pytest.approx(6 * 3600, abs=10)


def test_stale_needs_a_known_rhythm_and_a_working_feed() -> None:
    silent = signal(1, item_times=hourly_items(NOW - 7 * HOUR))
    assert is_stale(silent, NOW, POLICY) is True  # 7 h > max(6 * 1 h, 6 h)
    assert is_stale(signal(1), NOW, POLICY) is False
    assert is_stale(replace(silent, error_streak=1), NOW, POLICY) is None
    assert is_stale(replace(silent, item_times=silent.item_times[:2]), NOW, POLICY) is None
    assert feed_condition(silent, NOW, POLICY) == STALE
    assert feed_condition(failing(1), NOW, POLICY) == FAILING
    assert feed_condition(failing(1, streak=1), NOW, POLICY) == "erroring"
    assert feed_condition(signal(1, last_polled_at=None), NOW, POLICY) == "new"


def test_one_notice_per_incident_and_one_recovery() -> None:
    world = World()
    feeds = [signal(1), signal(2), signal(3), signal(4)]
    assert world.step(feeds).empty
    for streak in (1, 2):  # under the threshold: nothing
        assert world.step([failing(1, streak), *feeds[1:]]).empty
    plan = world.step([failing(1, 3), *feeds[1:]])
    assert [(o.feed_id, o.kind, o.announced) for o in plan.opened] == [(1, FAILING, True)]
    for streak in range(4, 30):  # failing on and on: no more notices
        assert world.step([failing(1, streak), *feeds[1:]]).notices == ()
    plan = world.step(feeds)
    assert len(plan.closed) == 1
    subjects = [s for _, s, _ in world.notices]
    assert subjects == ["monitor: feed Feed 1 failing", "monitor: feed Feed 1 recovered"]
    assert "connection refused" in world.notices[0][2]
    assert len({k for k, _, _ in world.notices}) == 2


def test_stale_incident_and_recovery_when_items_come_back() -> None:
    world = World()
    silent = signal(1, item_times=hourly_items(NOW - 8 * HOUR))
    plan = world.step([silent, signal(2), signal(3)])
    assert [(o.kind, o.announced) for o in plan.opened] == [(STALE, True)]
    assert "no new item for 8h" in plan.notices[0].body
    assert world.step([silent, signal(2), signal(3)], NOW + HOUR).empty
    back = signal(1, item_times=hourly_items(NOW + HOUR))
    plan = world.step([back, signal(2), signal(3)], NOW + 2 * HOUR)
    assert len(plan.closed) == 1 and plan.notices[0].subject == "monitor: feed Feed 1 recovered"


def test_global_outage_is_one_notice_not_one_per_feed() -> None:
    world = World()
    feeds = [signal(i) for i in range(1, 101)]
    world.step(feeds)
    for streak in range(1, 12):  # every feed fails, for a long time
        world.step([failing(i, streak) for i in range(1, 101)], NOW + streak * HOUR)
    assert [s for _, s, _ in world.notices] == ["monitor: feeds failing everywhere (100 of 100)"]
    assert "connection refused" not in world.notices[0][1]
    assert "FetchError (100 feeds)" in world.notices[0][2]
    # Every feed has a failing incident on record, none announced.
    assert sum(1 for i in world.incidents if i.kind == FAILING and not i.announced) == 100
    # Recovery: all but two poll fine again (with the items published meanwhile) -> one
    # "polling again" notice.
    later = NOW + 20 * HOUR

    def fine(i: int, at: datetime) -> FeedSignal:
        return signal(i, last_polled_at=at, item_times=hourly_items(at - HOUR))

    still = [failing(1, 12, last_polled_at=later - HOUR), failing(2, 12, last_polled_at=later)]
    world.step([*still, *(fine(i, later) for i in range(3, 101))], later)
    assert [s for _, s, _ in world.notices][1:] == ["monitor: feeds polling again"]
    assert "98 of 100 feeds polled successfully" in world.notices[1][2]
    # The two still failing are told about only after failing a poll of their own.
    after = later + HOUR
    rest = [fine(i, after) for i in range(3, 101)]
    plan = world.step([failing(1, 13, last_polled_at=after), failing(2, 12), *rest], after)
    assert plan.announced and len(plan.announced) == 1
    assert plan.notices[0].subject == "monitor: feed Feed 1 failing"
    # The feed still failing since before is announced once it fails again; recoveries of
    # feeds never announced stay silent.
    plan = world.step([failing(1, 14), failing(2, 13, last_polled_at=after + HOUR), *rest], after)
    assert [n.subject for n in plan.notices] == ["monitor: feed Feed 2 failing"]
    total = len(world.notices)
    world.step([fine(i, after) for i in range(1, 101)], after + HOUR)
    assert [s for _, s, _ in world.notices[total:]] == ["monitor: 2 feeds recovered"]


def test_feeds_failing_in_one_assessment_share_one_notice() -> None:
    world = World()
    feeds = [failing(1), failing(2), *(signal(i) for i in range(3, 21))]
    plan = world.step(feeds)
    assert len(plan.opened) == 2 and len(plan.notices) == 1
    assert plan.notices[0].subject == "monitor: 2 feeds need attention (2 failing)"
    assert "Feed 1" in plan.notices[0].body and "Feed 2" in plan.notices[0].body


def test_outage_needs_enough_feeds_and_closes_with_hysteresis() -> None:
    world = World()
    world.step([failing(1), failing(2)])  # two feeds only: per-feed notices, no outage
    assert all(i.kind == FAILING for i in world.incidents)
    world = World()
    assert world.step([failing(i, 1) for i in range(1, 11)]).empty  # one bad minute: nothing
    feeds = [failing(i, 2) for i in range(1, 11)]
    assert [o.kind for o in world.step(feeds).opened] == [OUTAGE]
    mostly = [failing(i, 2) for i in range(1, 7)] + [signal(i) for i in range(7, 11)]
    assert world.step(mostly).closed == ()  # 60 % failing: still an outage
    fewer = [failing(i, 2) for i in range(1, 5)] + [signal(i) for i in range(5, 11)]
    assert len(world.step(fewer).closed) == 1  # 40 %: over


def test_removed_feeds_close_quietly_and_notices_list_at_most_twenty() -> None:
    world = World()
    feeds = [failing(i) for i in range(1, 31)] + [signal(i) for i in range(31, 400)]
    plan = world.step(feeds)
    assert plan.notices[0].body.count("\n") == 20
    assert plan.notices[0].body.endswith("... and 10 more (see `monitor status`)")
    plan = world.step([signal(i) for i in range(31, 400)])
    assert len(plan.closed) == 30 and plan.notices == ()


def test_keys_are_unique_per_assessment() -> None:
    world = World()
    world.step([failing(1), *(signal(i) for i in range(2, 5))])
    world.step([signal(i) for i in range(1, 5)], NOW + timedelta(microseconds=1))
    keys = [k for k, _, _ in world.notices]
    assert len(keys) == len(set(keys)) == 2


def test_human_duration() -> None:
    assert [human_duration(s) for s in (5, 300, 3600 + 600, 86400 * 3 + 3600 * 4, 86400)] == [
        "5s",
        "5m",
        "1h 10m",
        "3d 4h",
        "1d",
    ]
