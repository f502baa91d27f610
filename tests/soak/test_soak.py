"""Long reliability runs of the real daemon (``make soak``; not in the normal suite).

- Leak soak (RELIABILITY.md D09, issue 7): ``monitor run`` polls 60 live feeds every
  1-2 s and sends alerts to 50 private chats through the Telegram emulator (Telegram's
  limits enforced) until it made 10,000 polls and 5,000 sends. The daemon's resident
  memory (``VmRSS`` in ``/proc/<pid>/status``) and open file descriptors
  (``/proc/<pid>/fd``) are sampled every 2 s; the growth after warm-up must stay under
  20 MB and the descriptors flat. Deliveries are checked too: 0 lost, 0 duplicated.
- Kill soak (D01 at full length): the crash scenario of
  tests/service/test_daemon_crash.py with 200 kill -9 and 20 SIGTERM.

Figures are printed; run with ``make soak`` or
``.venv/bin/python -m pytest -m soak -s -p no:cacheprovider tests/soak``.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.service.test_daemon_crash import check_crash_figures, run_crash_scenario
from tests.support.configs import write_config
from tests.support.daemon_runner import DaemonProcess, Ticker, wait_until
from tests.support.feed_server import FeedServer
from tests.support.news_desk import (
    TOKEN_ENV,
    NewsDesk,
    Publisher,
    delivered,
    fast_settings,
    telegram_recipients,
)
from tests.support.news_desk import tg as tg
from tests.support.telegram_emulator import TelegramEmulator

POLLS, SENDS = 10_000, 5_000
FEEDS = [f"wire{n:02d}" for n in range(60)]
TERMS = (
    "Starlink", "Kiriyenko", "Rosatom", "Gazprom", "Roscosmos",
    "Danantara", "Pertamina", "Telkomsel", "Bukalapak", "Tokopedia",
)  # fmt: skip
WARM_UP = (1_000, 500)  # polls and sends before memory counts
RSS_GROWTH_MAX_MB = 20.0


@dataclass(frozen=True)
class Sample:
    at: float
    rss_kb: int
    fds: int
    polls: int
    sends: int


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def open_fds(pid: int) -> int:
    return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


class Sampler(Ticker):
    """Reads the daemon's RSS and descriptors every ``every_s`` seconds in a thread."""

    def __init__(self, pid: int, server: FeedServer, tg: TelegramEmulator, every_s: float = 2.0):
        super().__init__(every_s)
        self.pid = pid
        self.server = server
        self.tg = tg
        self.samples: list[Sample] = []

    def sends(self) -> int:
        return len(self.tg.requests("sendMessage", status=200))

    def tick(self) -> None:
        self.samples.append(
            Sample(
                time.monotonic(),
                rss_kb(self.pid),
                open_fds(self.pid),
                self.server.hits,
                self.sends(),
            )
        )


def median_kb(samples: list[Sample]) -> float:
    return float(statistics.median(s.rss_kb for s in samples))


@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_leak_soak_10000_polls_5000_sends(
    tmp_path: Path, feed_server: FeedServer, tg: TelegramEmulator
) -> None:
    rng = random.Random(7)
    chats = {1000 + n: rng.sample(TERMS, 2) for n in range(50)}
    watchlists = {t: t for t in TERMS}
    desk = NewsDesk(feed_server, FEEDS, watchlists=watchlists, recipients=chats, window=30)
    config = write_config(
        tmp_path / "config",
        feeds=desk.feeds_config(interval=1, full_text="never"),
        watchlists=desk.watchlists_config(),
        monitor=fast_settings(tg.base_url),
        recipients=telegram_recipients(chats),
    )
    started = time.monotonic()
    with DaemonProcess(config.directory, env={TOKEN_ENV: tg.token}, keep_lines=2000) as daemon:
        daemon.start()
        with Sampler(daemon.pid, feed_server, tg) as sampler:
            with Publisher(desk, mean_s=0.75, seed=7) as publisher:
                assert wait_until(lambda: len(desk.expected()) >= SENDS + 50, 1800, step=1.0)
                publisher.stopped.set()
            expected = desk.expected()

            def done() -> bool:
                return feed_server.hits >= POLLS and delivered(tg, expected).lost == 0

            assert wait_until(done, 1200, step=1.0), daemon.tail()
            time.sleep(4.0)
        assert daemon.terminate().returncode == 0
    elapsed = time.monotonic() - started
    counted = delivered(tg, expected)
    samples = sampler.samples
    warm = [s for s in samples if s.polls >= WARM_UP[0] and s.sends >= WARM_UP[1]]
    assert len(warm) >= 10, "the run was too short to measure"
    start_kb, end_kb = median_kb(warm[:5]), median_kb(warm[-5:])
    growth_mb = (end_kb - start_kb) / 1024
    per_1000 = 1000 * growth_mb / max(1, warm[-1].sends - warm[0].sends)
    fds = [s.fds for s in warm]
    fd_growth = statistics.median(fds[-5:]) - statistics.median(fds[:5])
    step = max(1, len(samples) // 20)
    print(
        f"\nleak soak: {samples[-1].polls} polls, {sampler.sends()} sends in {elapsed:.0f} s "
        f"({counted}); RSS at warm-up {start_kb / 1024:.1f} MB, at the end "
        f"{end_kb / 1024:.1f} MB, growth {growth_mb:+.1f} MB "
        f"({per_1000:+.2f} MB per 1,000 sends), max "
        f"{max(s.rss_kb for s in samples) / 1024:.1f} MB; open fds after warm-up "
        f"min {min(fds)} max {max(fds)}, growth {fd_growth:+.0f}\n"
        f"  RSS MB series: {[round(s.rss_kb / 1024, 1) for s in samples[::step]]}\n"
        f"  fd series:     {[s.fds for s in samples[::step]]}"
    )
    assert samples[-1].polls >= POLLS and sampler.sends() >= SENDS
    assert counted.lost == 0 and counted.duplicates == 0 and counted.stray == 0
    assert growth_mb < RSS_GROWTH_MAX_MB
    # Flat: pooled connections (feeds, Bot API, SQLite) come and go, nothing piles up.
    assert fd_growth <= 5 and max(fds) <= 64


@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_200_kills_lose_nothing(
    tmp_path: Path, feed_server: FeedServer, tg: TelegramEmulator
) -> None:
    figures = run_crash_scenario(tmp_path, feed_server, tg, kills=200, terms=20, seed=200)
    print("\n" + figures.summary())
    check_crash_figures(figures)
