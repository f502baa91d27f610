"""Several ``monitor run`` instances on one PostgreSQL database (issue 8, RELIABILITY.md D07).

Real subprocesses, a real PostgreSQL server, feeds on the local feed server and alerts
counted at the Telegram Bot API emulator (Telegram's limits enforced):

- 3 instances share 500 live feeds; news keeps arriving, a third of the stories as
  copies on 2-3 feeds at once, so instances ingest copies of one story at about the
  same moment (clustering under concurrency). First every story must reach every
  subscribed chat exactly once; then one instance is killed (kill -9) every 30 s and
  restarted: 0 lost, duplicates <= kills. The figures are printed: stories, expected,
  received, lost, duplicates, kills, drain time, how polls and deliveries were shared,
  which instance led (``pytest -s -m slow tests/service/test_scale_out.py``). A
  ``soak`` variant runs 20 kills.
- The PostgreSQL server restarts under 2 running instances while news arrives: they
  keep running, reconnect, and nothing is lost. The server is left running.
- An instance refuses a schema revision it does not know, with a clear message.
- The leader is killed: another instance takes over within seconds (``leader_elected``).

Starting the instances and seeing who did what (leaders, claims, shares of the polls)
is in tests/support/fleet.py. Must not: leave the shared PostgreSQL server stopped, or
contact anything but 127.0.0.1.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.configs import item, rss, write_config
from tests.support.daemon_runner import DaemonProcess, DatabaseReader, daemons, wait_until
from tests.support.feed_server import FeedServer, Response
from tests.support.fleet import (
    ClaimSampler,
    Share,
    leader_holders,
    leaders,
    monitor_command,
    shares,
    split_stories,
    start_all,
    stored_across,
)
from tests.support.news_desk import (
    TOKEN_ENV,
    WATCHLISTS,
    WEIGHTS,
    DeliveryCount,
    NewsDesk,
    Publisher,
    baselined,
    delivered,
    fast_settings,
    rate_summary,
    subscriptions,
    telegram_recipients,
    wait_drained,
)
from tests.support.news_desk import tg as tg
from tests.support.private_pg import PrivateServer, private_server
from tests.support.telegram_emulator import TelegramEmulator

pytestmark = pytest.mark.postgres

CHATS = subscriptions(201, group=-1009002)
# Feeds are polled every 4-8 s (adaptive): ~80 polls/s for 500 feeds, shared out.
FETCH = {"min_interval": 4, "default_interval": 6, "max_interval": 8, "concurrency": 20}


def news_fleet(
    workdir: Path,
    server: FeedServer,
    tg: TelegramEmulator,
    url: str,
    *,
    feeds: list[str],
    baseline: list[str],
    fetch: dict[str, int],
    names: list[str],
) -> tuple[NewsDesk, list[DaemonProcess]]:
    """A desk of ``feeds`` (an item on each of ``baseline`` before the first poll, never
    alerted) with ``CHATS`` subscribed at the emulator, and instances (not started)."""
    desk = NewsDesk(
        server, feeds, watchlists=WATCHLISTS, recipients=CHATS, weights=WEIGHTS, window=12
    )
    for feed in baseline:
        desk.add(feed, baseline=True)
    config = write_config(
        workdir / "config",
        feeds=desk.feeds_config(full_text="never"),
        watchlists=desk.watchlists_config(),
        database_url=url,
        monitor=fast_settings(tg.base_url, fetch=fetch),
        recipients=telegram_recipients(CHATS),
    )
    instances = [
        DaemonProcess(config.directory, env={TOKEN_ENV: tg.token}, name=name) for name in names
    ]
    return desk, instances


def drain(tg: TelegramEmulator, desk: NewsDesk, timeout: float) -> float:
    """Wait until every expected alert arrived; the seconds it took (timeout if not)."""
    began = time.monotonic()
    wait_drained(tg, desk.expected(), timeout=timeout, step=0.25)
    return time.monotonic() - began


# -- the scenario: 3 instances, 500 feeds, then kill -9 every 30 s ---------------------


@dataclass
class ScaleFigures:
    stories: int
    copied: int  # stories published on several feeds at once
    copied_across: int  # copied stories whose copies were stored by >1 instance
    exact: DeliveryCount  # after the first phase (no kills)
    counted: DeliveryCount  # at the end
    kills: int
    drain_exact_s: float
    drain_s: float
    split: int  # stories whose copies ended in more than one story
    polls: dict[str, Share]
    claims: Counter[str]
    leases: Counter[str]
    lock_waits: int
    samples: int
    leader_log: list[str]
    kill_log: list[str]
    rates: str
    exits: list[str] = field(default_factory=list)

    def summary(self) -> str:
        share = ", ".join(
            f"{name}: {s.polls} polls, {s.new_items} new items, {s.alerts} alerts planned, "
            f"{self.claims.get(name, 0)} deliveries claimed"
            for name, s in sorted(self.polls.items())
        )
        return "\n".join(
            [
                f"scale-out: {self.stories} stories ({self.copied} published as copies on 2-3 "
                f"feeds, {self.copied_across} of them stored by more than one instance; "
                f"stories split by clustering: {self.split})",
                f"  no kills: {self.exact}; drained {self.drain_exact_s:.1f} s after the "
                "last story",
                f"  with {self.kills} kill -9 (one every 30 s): {self.counted}; drained "
                f"{self.drain_s:.1f} s after the last story",
                f"  work shared: {share}",
                f"  feed leases seen per instance (sum over {self.samples} samples): "
                f"{dict(sorted(self.leases.items()))}; clustering writers seen waiting on the "
                f"advisory lock: {self.lock_waits} (backend-samples)",
                f"  leader: {'; '.join(self.leader_log)}",
                f"  kills: {'; '.join(self.kill_log)}",
                f"  {self.rates}",
            ]
        )


def run_scale_out(
    workdir: Path, server: FeedServer, tg: TelegramEmulator, url: str, *, kills: int, seed: int
) -> ScaleFigures:
    rng = random.Random(seed)
    feeds = [f"wire{n:03d}" for n in range(500)]
    desk, instances = news_fleet(
        workdir,
        server,
        tg,
        url,
        feeds=feeds,
        baseline=feeds[::5],
        fetch=FETCH,
        names=["m1", "m2", "m3"],
    )
    upgraded = monitor_command("db", "upgrade", config_dir=instances[0].config_dir)
    assert upgraded.returncode == 0, upgraded.stderr
    kill_log: list[str] = []
    with daemons(*instances), ClaimSampler(url, instances) as sampler:
        start_all(instances)
        db = instances[0].db
        assert baselined(instances[0], len(feeds), 60), instances[0].tail()
        # Phase 1: no kills. Every story exactly once per subscribed chat.
        with Publisher(desk, mean_s=1.0, seed=seed, copy_share=0.33):
            time.sleep(40)
        drain_exact = drain(tg, desk, timeout=90)
        time.sleep(2.0)  # a late duplicate would arrive now
        exact = delivered(tg, desk.expected())
        # Phase 2: kill -9 one instance every 30 s (the leader first), restart it.
        leader = leaders(instances)[-1][1]
        order = sorted(instances, key=lambda i: i.name != leader)
        with Publisher(desk, mean_s=1.0, seed=seed + 1, copy_share=0.33):
            for k in range(kills):
                time.sleep(30 + rng.uniform(-5, 5))
                victim = order[k % len(order)]
                claimed = db.count("SELECT count(*) FROM delivery WHERE claimed_by IS NOT NULL")
                victim.kill()
                kill_log.append(f"{victim.name} at {claimed} claimed deliveries")
                time.sleep(rng.uniform(1.0, 5.0))  # systemd's RestartSec
                victim.start()
            time.sleep(5)
        drain_s = drain(tg, desk, timeout=120)
        time.sleep(2.0)
        exits = [
            f"{i.name} run {n} exited {r.returncode}"
            for i in instances
            for n, r in enumerate(i.runs)
            if r.returncode not in (None, -9)
        ]
        _, _, split = split_stories(db)
        polls = shares(instances)
        leader_log = [f"{name} (run {run}) at +{at - instances[0].runs[0].started:.0f} s"
                      for at, name, run in leaders(instances)]  # fmt: skip
    copied = [n for n in desk.published if n.also]
    return ScaleFigures(
        stories=len(desk.published),
        copied=len(copied),
        copied_across=stored_across(instances, copied),
        exact=exact,
        counted=delivered(tg, desk.expected()),
        kills=kills,
        drain_exact_s=drain_exact,
        drain_s=drain_s,
        split=split,
        polls=polls,
        claims=sampler.claimed_by(),
        leases=sampler.lease_samples,
        lock_waits=sampler.lock_waits,
        samples=sampler.samples,
        leader_log=leader_log,
        kill_log=kill_log,
        rates=f"Telegram rates at the emulator: {rate_summary(tg)}",
        exits=exits,
    )


def check_scale_figures(figures: ScaleFigures) -> None:
    assert figures.exact.lost == 0 and figures.exact.duplicates == 0, figures.summary()
    assert figures.exact.stray == 0 and figures.counted.stray == 0, figures.summary()
    assert figures.split == 0, figures.summary()
    assert figures.counted.lost == 0, figures.summary()
    assert figures.counted.duplicates <= figures.kills, figures.summary()
    assert not figures.exits, figures.exits  # no instance exited on its own
    assert all(s.polls > 0 for s in figures.polls.values()), figures.summary()
    assert len(figures.claims) >= 2, f"deliveries were not shared: {figures.summary()}"


@pytest.mark.parametrize(
    ("kills", "seed"),
    [
        pytest.param(4, 808, marks=[pytest.mark.slow, pytest.mark.timeout(420)], id="4-kills"),
        pytest.param(20, 909, marks=[pytest.mark.soak, pytest.mark.timeout(1800)], id="soak"),
    ],
)
def test_three_instances_alert_once_and_survive_kill_9(
    tmp_path: Path,
    feed_server: FeedServer,
    tg: TelegramEmulator,
    pg_url: str,
    kills: int,
    seed: int,
) -> None:
    figures = run_scale_out(tmp_path, feed_server, tg, pg_url, kills=kills, seed=seed)
    print("\n" + figures.summary())
    check_scale_figures(figures)


# -- a PostgreSQL restart ----------------------------------------------------------------


@pytest.fixture
def private_pg() -> Iterator[PrivateServer]:
    """A PostgreSQL server of this test's own: restarting the shared one would cut the
    connections of the tests running beside it."""
    with private_server() as server:
        yield server


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_a_postgresql_restart_is_survived(
    tmp_path: Path, feed_server: FeedServer, tg: TelegramEmulator, private_pg: PrivateServer
) -> None:
    """2 instances, news arriving, the server restarts: they keep running, reconnect, and
    every story still reaches every subscribed chat."""
    feeds = [f"desk{n:02d}" for n in range(60)]
    fetch = {"min_interval": 2, "default_interval": 3, "max_interval": 4}
    desk, instances = news_fleet(
        tmp_path,
        feed_server,
        tg,
        private_pg.create_database("monitor"),
        feeds=feeds,
        baseline=feeds,
        fetch=fetch,
        names=["r1", "r2"],
    )
    with daemons(*instances):
        start_all(instances)
        assert baselined(instances[0], len(feeds), 30), instances[0].tail()
        with Publisher(desk, mean_s=0.7, seed=21, copy_share=0.25):
            time.sleep(10)
            before = len(desk.published)
            restarted_at = time.monotonic()
            restart_s = private_pg.restart()
            back_at = time.monotonic()
            time.sleep(20)
        drain_s = drain(tg, desk, timeout=240)
        time.sleep(2.0)
        counted = delivered(tg, desk.expected())
        alive = {i.name: (i.running, len(i.runs)) for i in instances}
        failed = shares(instances, since=restarted_at)
        recovered = {
            i.name: min(
                (line.at - back_at for line in i.logs("poll") if line.at >= back_at
                 and line.fields.get("status") != "error"),
                default=float("nan"),
            )
            for i in instances
        }  # fmt: skip
        events = Counter(
            f"{i.name} {line.event}"
            for i in instances
            for line in i.logs()
            if line.at >= restarted_at
            and line.event not in (None, "poll")
            and (line.fields.get("level") in ("warning", "error") or "leader" in str(line.event))
        )
    print(
        f"\npostgresql restart: {len(desk.published)} stories ({before} before the restart), "
        f"{counted}; server down and back in {restart_s:.1f} s; first good poll after it "
        f"{ {k: round(v, 1) for k, v in recovered.items()} } s; polls failed during it "
        f"{ {k: s.errors for k, s in failed.items()} }; drained {drain_s:.1f} s after the "
        f"last story; instances (running, starts) {alive}; events after the restart "
        f"{dict(sorted(events.items()))}"
    )
    assert all(running and starts == 1 for running, starts in alive.values()), alive
    assert counted.lost == 0 and counted.stray == 0, counted
    # a send that the server's going away kept from being marked goes again: at most one
    # per chat (each chat has at most one send in flight)
    assert counted.duplicates <= len(CHATS), counted


# -- an unknown schema, a dead leader -------------------------------------------------


def test_an_unknown_schema_revision_is_refused(tmp_path: Path, pg_url: str) -> None:
    config = write_config(
        tmp_path / "config",
        feeds=[{"url": "http://127.0.0.1:9/never.xml", "name": "never"}],
        database_url=pg_url,
        monitor=fast_settings(),
    )
    upgraded = monitor_command("db", "upgrade", config_dir=config.directory)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "database schema: empty ->" in upgraded.stdout
    reader = DatabaseReader(pg_url)
    try:
        with reader.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'f00dfeedbeef'")
        run = monitor_command("run", "--log-json", config_dir=config.directory)
        again = monitor_command("db", "upgrade", config_dir=config.directory)
        polled = reader.count("SELECT count(*) FROM feed WHERE last_polled_at IS NOT NULL")
        revision = reader.scalar("SELECT version_num FROM alembic_version")
    finally:
        reader.close()
    for refused in (run, again):
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "schema is at revision f00dfeedbeef" in refused.stderr, refused.stderr
        assert "does not know" in refused.stderr and "upgrade monitor" in refused.stderr
        assert "Traceback" not in refused.stderr, refused.stderr
    assert (polled, revision) == (0, "f00dfeedbeef")  # nothing was touched


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_leader_fails_over_when_killed(
    tmp_path: Path, feed_server: FeedServer, pg_url: str
) -> None:
    """kill -9 the leader: PostgreSQL drops its session and its advisory lock, and another
    instance leads within its next attempt (every 5 s); the restarted one does not."""
    feeds = [{"url": feed_server.url(f"/f{n}.xml"), "name": f"f{n}"} for n in range(3)]
    for n in range(3):
        feed_server.route(f"/f{n}.xml", Response(rss([item(n)])))
    config = write_config(
        tmp_path / "config", feeds=feeds, database_url=pg_url, monitor=fast_settings()
    )
    instances = [DaemonProcess(config.directory, name=f"l{n}") for n in (1, 2, 3)]
    with daemons(*instances):
        start_all(instances)
        db = instances[0].db
        assert wait_until(lambda: leaders(instances), 15), instances[0].tail()
        time.sleep(6)  # every instance tried at least once more: still one leader
        first = leaders(instances)
        held_before = leader_holders(db)
        old = next(i for i in instances if i.name == first[0][1])
        killed_at = time.monotonic()
        old.kill()
        assert wait_until(lambda: len(leaders(instances)) > len(first), 15), "no takeover"
        elected_at, new_name, _ = leaders(instances)[-1]
        takeover_s = elected_at - killed_at
        held_after = leader_holders(db)
        old.start()
        time.sleep(7)  # the restarted instance tries at start and 5 s later
        final = leaders(instances)
        shown = [f"{i.name}: {line.raw}" for i in instances for line in i.logs("leader_elected")]
    print(f"\nleader failover: {first[0][1]} killed, {new_name} elected {takeover_s:.1f} s later")
    print("\n".join(shown))
    assert len(first) == 1 and held_before == 1, first
    assert new_name != old.name
    assert takeover_s <= 8.0  # the next attempt (every 5 s) finds the lock free
    assert held_after == 1
    assert len(final) == 2, f"leadership moved again after the restart: {final}"


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_instances_started_together_all_come_up(
    tmp_path: Path, feed_server: FeedServer, pg_url: str
) -> None:
    """``systemctl enable --now monitor@1 monitor@2 monitor@3`` on a migrated database
    without the feeds yet: every instance must come up.

    They race to insert the same feed rows; the insert skips the rows another instance
    inserted first. The race is made certain rather than likely: the test holds a SHARE
    lock on the feed table (reads pass, writes wait) until all three instances wait on a
    lock (here: to insert the feeds they read as missing), as a slow transaction would."""
    feeds = [{"url": feed_server.url(f"/s{n}.xml"), "name": f"s{n}"} for n in range(50)]
    config = write_config(
        tmp_path / "config", feeds=feeds, database_url=pg_url, monitor=fast_settings()
    )
    assert monitor_command("db", "upgrade", config_dir=config.directory).returncode == 0
    reader = DatabaseReader(pg_url)
    waiting = (
        "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    instances = [DaemonProcess(config.directory, name=f"t{n}") for n in (1, 2, 3)]
    failures: list[str] = []
    try:
        with daemons(*instances), reader.engine.connect() as blocker:
            blocker.exec_driver_sql("LOCK TABLE feed IN SHARE MODE")
            for instance in instances:
                instance.start(wait_ready=False)
            all_wait = wait_until(lambda: reader.count(waiting) == len(instances), 60)
            blocker.commit()
            for instance in instances:
                try:
                    instance.wait_ready(timeout=60)
                except AssertionError:
                    errors = [line for line in instance.stderr.splitlines() if "Error" in line]
                    failures.append(f"{instance.name}: {errors[-1:]}")
    finally:
        reader.close()
    assert all_wait, "the instances did not all wait behind the lock"
    assert not failures, "\n".join(failures)
