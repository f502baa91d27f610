"""The whole daemon under kill -9 and SIGTERM restarts, counted at the Telegram emulator.

Issue 5 / RELIABILITY.md D01 + D02. ``monitor run`` runs as a real process against four
live feeds on the local feed server (new items keep arriving, each a distinct story
mentioning watchlist terms) and the Telegram Bot API emulator (Telegram's rate limits
enforced) with private chats and a group. It is killed 20 times at random moments
(during start-up, polls, clustering, planning and sends), restarted each time, then
stopped 20 times with SIGTERM, then left to drain. What every chat received is compared
with what it should have received (every story x subscribed chat):
0 lost, duplicates <= kills, none from the SIGTERM restarts, every SIGTERM exit 0 within
30 s (TimeoutStopSec), SQLite ``integrity_check`` ok. Figures are printed
(``pytest -s -m slow tests/service/test_daemon_crash.py``). tests/soak runs it with 200 kills.

The live-feed helpers (``NewsDesk``, ``Publisher``, ``tally``, ``count_deliveries``, the
daemon settings and the ``tg`` fixture) live in tests/support/news_desk.py.
"""

from __future__ import annotations

import bisect
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.configs import write_config
from tests.support.daemon_runner import DaemonProcess, daemons, percentile, wait_until
from tests.support.feed_server import FeedServer, Response
from tests.support.news_desk import (
    TOKEN_ENV,
    WATCHLISTS,
    WEIGHTS,
    DeliveryCount,
    NewsDesk,
    Publisher,
    baselined,
    count_deliveries,
    fast_settings,
    leases_of,
    rate_summary,
    subscriptions,
    tally,
    telegram_recipients,
    wait_drained,
)
from tests.support.news_desk import tg as tg
from tests.support.telegram_emulator import TelegramEmulator

FEEDS = ("north", "south", "east", "west")
CHATS = subscriptions(101, group=-1009001)
KILLS = TERMS = 20
STOP_TIMEOUT_S = 30.0  # TimeoutStopSec in the test; deploy/monitor.service has 45 s


@dataclass
class CrashFigures:
    """What a crash run measured, counted at the emulator."""

    kills: int
    terms: int
    stories: int
    counted: DeliveryCount
    kills_in_send: int  # kills while the outbox had claimed deliveries
    worst_kill: int  # the most duplicates one kill caused (sends in flight to several chats)
    from_sigterm: int  # duplicates whose first copy came after the kill phase
    stop_times: list[float]
    exit_codes: list[int | None]
    drain_s: float
    stale_leases: int  # feeds a killed daemon still held (released when it restarts)
    integrity: str
    rates: str

    def summary(self) -> str:
        codes = sorted({str(c) for c in self.exit_codes})
        return (
            f"daemon crash: {self.stories} stories, {self.counted}; {self.kills} kill -9 "
            f"({self.kills_in_send} with sends claimed, at most {self.worst_kill} duplicates "
            f"from one kill), {self.terms} SIGTERM (duplicates "
            f"from SIGTERM restarts {self.from_sigterm}); stop p95 "
            f"{percentile(self.stop_times, 0.95):.2f} s, max {max(self.stop_times):.2f} s, "
            f"exit codes {codes}; drain {self.drain_s:.1f} s; feeds left leased by a killed "
            f"daemon {self.stale_leases}; {self.rates}; integrity {self.integrity}"
        )


def run_crash_scenario(
    workdir: Path, server: FeedServer, tg: TelegramEmulator, *, kills: int, terms: int, seed: int
) -> CrashFigures:
    """Publish news while killing (then SIGTERM-ing) the daemon; drain; count (module doc)."""
    rng = random.Random(seed)
    desk = NewsDesk(server, FEEDS, watchlists=WATCHLISTS, recipients=CHATS, weights=WEIGHTS)
    for feed in FEEDS:  # present before the first poll: the baseline, never alerted
        desk.add(feed, baseline=True)
    config = write_config(
        workdir / "config",
        feeds=desk.feeds_config(interval=1, full_text="never"),
        watchlists=desk.watchlists_config(),
        monitor=fast_settings(tg.base_url),
        recipients=telegram_recipients(CHATS),
    )
    daemon = DaemonProcess(config.directory, env={TOKEN_ENV: tg.token})
    kills_in_send = stale_leases = 0
    stops = []
    claimed = "SELECT count(*) FROM delivery WHERE claimed_until IS NOT NULL"
    with daemons(daemon):
        daemon.start()
        assert baselined(daemon, len(FEEDS), 20), daemon.tail()
        with Publisher(desk, mean_s=1.5, seed=seed):
            for _ in range(kills):  # kill -9 at random: start-up, polls, claims, sends
                if not daemon.running:
                    daemon.start(wait_ready=False)
                time.sleep(rng.uniform(0.3, 2.0))
                kills_in_send += daemon.db.count(claimed) > 0
                pid = daemon.pid
                daemon.kill()
                stale_leases += leases_of(daemon.db, pid)
            kill_phase_end = time.monotonic()
            for _ in range(terms):
                daemon.start()
                time.sleep(rng.uniform(0.3, 1.5))
                stops.append(daemon.terminate(timeout=STOP_TIMEOUT_S))
        published_end = time.monotonic()
        daemon.start()
        expected = desk.expected()
        wait_drained(tg, expected, timeout=300, step=0.2)
        drain_s = time.monotonic() - published_end
        time.sleep(2.0)  # a late duplicate would arrive now
        stops.append(daemon.terminate(timeout=STOP_TIMEOUT_S))
        integrity = daemon.db.integrity_check()
    messages = sorted(tg.all_messages(), key=lambda m: m.at)
    received = tally(messages)
    first_arrival: dict[tuple[int, int], float] = {}
    for m in messages:
        for key in tally([m]):
            first_arrival.setdefault(key, m.at)
    starts = [run.started for run in daemon.runs]
    per_run = Counter(
        bisect.bisect_right(starts, first_arrival[key]) - 1
        for key, n in received.items()
        for _ in range(n - 1)
    )
    return CrashFigures(
        kills=kills,
        terms=terms,
        stories=len(desk.published),
        counted=count_deliveries(expected, received),
        kills_in_send=kills_in_send,
        worst_kill=max(per_run.values(), default=0),
        from_sigterm=sum(
            n - 1 for key, n in received.items() if n > 1 and first_arrival[key] > kill_phase_end
        ),
        stop_times=[s.seconds for s in stops],
        exit_codes=[s.returncode for s in stops],
        drain_s=drain_s,
        stale_leases=stale_leases,
        integrity=integrity,
        rates=rate_summary(tg),
    )


def check_crash_figures(figures: CrashFigures) -> None:
    """The promises of issue 5 (and RELIABILITY.md D01/D02)."""
    counted = figures.counted
    assert counted.stray == 0, "a baseline item or an unsubscribed chat was alerted"
    assert counted.lost == 0, figures.summary()
    assert counted.duplicates <= figures.kills
    assert figures.from_sigterm == 0, "a SIGTERM restart sent an alert twice"
    assert all(code == 0 for code in figures.exit_codes), figures.exit_codes
    assert max(figures.stop_times) <= STOP_TIMEOUT_S
    assert figures.integrity == "ok"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill_9_loses_nothing_and_sigterm_restarts_deliver_exactly_once(
    tmp_path: Path, feed_server: FeedServer, tg: TelegramEmulator
) -> None:
    figures = run_crash_scenario(tmp_path, feed_server, tg, kills=KILLS, terms=TERMS, seed=2026)
    print("\n" + figures.summary())
    check_crash_figures(figures)


@pytest.mark.timeout(120)
def test_a_killed_poll_is_retried_soon(tmp_path: Path, feed_server: FeedServer) -> None:
    """kill -9 while a poll waits for a slow server: after a restart, the feed is polled again.

    systemd restarts a crashed daemon after RestartSec (5 s); the feed it was polling
    should be polled again within a few intervals, not after the 5-minute feed lease.
    """
    feed_server.route("/slow.xml", Response(b"<rss version='2.0'><channel/></rss>", delay_s=4))
    config = write_config(
        tmp_path / "config",
        feeds=[{"url": feed_server.url("/slow.xml"), "name": "slow", "interval": 1}],
        monitor=fast_settings(),
    )
    with DaemonProcess(config.directory) as daemon:
        daemon.start()
        assert wait_until(lambda: feed_server.requests("/slow.xml"), 10)
        daemon.kill()  # the request is in flight: the feed is leased to the dead process
        seen = len(feed_server.requests("/slow.xml"))
        daemon.start()
        repolled = wait_until(lambda: len(feed_server.requests("/slow.xml")) > seen, 8)
        leased = daemon.db.count("SELECT count(*) FROM feed WHERE lease_owner IS NOT NULL")
    assert repolled, f"not polled for 8 s after the restart; feeds still leased: {leased}"
