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

Also home of the live-feed helpers the other process-level tests share: ``NewsDesk``
(feeds that gain distinct items while a test runs, and who should be alerted of what),
``tally`` / ``count_deliveries`` (lost, duplicated, stray, counted at the emulator),
``Publisher`` (news arriving in the background) and the daemon settings helpers.
"""

from __future__ import annotations

import bisect
import itertools
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.support.configs import rss, write_config
from tests.support.daemon_runner import DaemonProcess, daemons, percentile, wait_until
from tests.support.feed_server import FeedServer, Request, Response
from tests.support.telegram_emulator import TELEGRAM_LIMITS, TelegramEmulator

# -- live feeds ---------------------------------------------------------------------

_CONSONANTS = "bcdfghklmnprstvz"
_VOWELS = "aeiou"


def invented_word(rng: random.Random, syllables: int = 3) -> str:
    """A pronounceable word that no dictionary (and no other item) is likely to share."""
    return "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables))


STORY_TAG = re.compile(r"\(story (\d+)\)")


@dataclass(frozen=True)
class NewsItem:
    serial: int
    feed: str
    terms: tuple[str, ...]  # watchlist terms it mentions
    title: str
    body: str


class NewsDesk:
    """Feeds on ``server`` that gain distinct items; ``expected`` = who should hear of what.

    ``watchlists`` maps a watchlist name to the one term that matches it; ``recipients``
    maps a chat id to the watchlist names it receives. Every item's title ends with
    ``(story N)``; ``tally`` reads those tags from the messages the emulator received.
    """

    def __init__(
        self,
        server: FeedServer,
        feeds: Sequence[str],
        *,
        watchlists: Mapping[str, str],
        recipients: Mapping[int, Sequence[str]],
        weights: Mapping[str, float] | None = None,
        seed: int = 5,
        window: int | None = None,
    ) -> None:
        self.server = server
        self.watchlists = dict(watchlists)
        self.weights = [float((weights or {}).get(w, 1.0)) for w in self.watchlists]
        self.recipients = {chat: tuple(names) for chat, names in recipients.items()}
        self.rng = random.Random(seed)
        self.window = window  # newest items kept in a document (None: all)
        self._items: dict[str, list[NewsItem]] = {name: [] for name in feeds}
        self._serial = itertools.count(1)
        self._lock = threading.Lock()
        self.published: list[NewsItem] = []  # after the baseline: should alert
        self.baseline: list[NewsItem] = []
        for name in feeds:
            server.route(self.path(name), self._serve(name))

    @staticmethod
    def path(feed: str) -> str:
        return f"/news/{feed}.xml"

    def url(self, feed: str) -> str:
        return self.server.url(self.path(feed))

    def feeds_config(self, **fields: Any) -> list[dict[str, Any]]:
        """feeds.yaml entries for every feed (``fields`` added to each)."""
        return [{"url": self.url(f), "name": f, **fields} for f in self._items]

    def _serve(self, feed: str) -> Callable[[Request], Response]:
        def answer(_request: Request) -> Response:
            with self._lock:
                items = list(self._items[feed])
            if self.window is not None:
                items = items[-self.window :]
            entries = [
                {
                    "title": i.title,
                    "link": f"http://example.test/{feed}/{i.serial}",
                    "guid": f"{feed}-{i.serial}",
                    "description": i.body,
                }
                for i in reversed(items)
            ]
            return Response(rss(entries, title=f"Desk {feed}"))

        return answer

    def add(
        self,
        feed: str | None = None,
        *,
        baseline: bool = False,
        watchlists: Sequence[str] | None = None,
    ) -> NewsItem:
        """Publish one item (on a random feed by default) mentioning watchlist terms.

        The terms of ``watchlists``; by default one watchlist drawn by ``weights``, and
        a quarter of the time a second one.
        """
        with self._lock:
            name = feed or self.rng.choice(list(self._items))
            serial = next(self._serial)
            names = list(self.watchlists)
            chosen = list(watchlists or self.rng.choices(names, self.weights))
            others = [n for n in names if n not in chosen]
            if watchlists is None and others and self.rng.random() < 0.25:
                chosen += self.rng.choices(others, [self.weights[names.index(n)] for n in others])
            terms = tuple(self.watchlists[w] for w in chosen)
            words = [invented_word(self.rng).capitalize() for _ in range(5)]
            title = f"{' '.join(words[:2])} {terms[0]} {' '.join(words[2:])} (story {serial})"
            body = " ".join(
                [*(invented_word(self.rng) for _ in range(18)), *terms, invented_word(self.rng)]
            )
            news = NewsItem(serial, name, terms, title, f"{body}.")
            self._items[name].append(news)
            (self.baseline if baseline else self.published).append(news)
            return news

    def publish(self, n: int) -> list[NewsItem]:
        return [self.add() for _ in range(n)]

    def watchlists_of(self, news: NewsItem) -> set[str]:
        return {w for w, term in self.watchlists.items() if term in news.terms}

    def expected(self) -> set[tuple[int, int]]:
        """(chat id, story serial) for every published item and every chat subscribed to it."""
        with self._lock:
            published = list(self.published)
        return {
            (chat, news.serial)
            for news in published
            for chat, names in self.recipients.items()
            if self.watchlists_of(news) & set(names)
        }


def tally(messages: Sequence[Any]) -> dict[tuple[int, int], int]:
    """How often each (chat id, story serial) arrived, from the emulator's messages."""
    found: dict[tuple[int, int], int] = {}
    for message in messages:
        for serial in {int(s) for s in STORY_TAG.findall(message.text)}:
            key = (int(message.chat_id), serial)
            found[key] = found.get(key, 0) + 1
    return found


@dataclass(frozen=True)
class DeliveryCount:
    """Delivered vs expected, counted at the emulator."""

    expected: int
    received: int  # distinct (chat, story) pairs that arrived
    lost: int
    duplicates: int  # extra copies beyond the first
    stray: int  # pairs that arrived but should not have (baseline, unsubscribed)

    def __str__(self) -> str:
        return (
            f"expected {self.expected}, received {self.received}, lost {self.lost}, "
            f"duplicates {self.duplicates}, stray {self.stray}"
        )


def count_deliveries(
    expected: set[tuple[int, int]], received: Mapping[tuple[int, int], int]
) -> DeliveryCount:
    return DeliveryCount(
        expected=len(expected),
        received=sum(1 for key in received if key in expected),
        lost=sum(1 for key in expected if received.get(key, 0) == 0),
        duplicates=sum(n - 1 for n in received.values() if n > 1),
        stray=sum(1 for key in received if key not in expected),
    )


# -- configuration helpers ----------------------------------------------------------

TOKEN_ENV = "MONITOR_TEST_TG_TOKEN"


def fast_settings(telegram_base_url: str | None = None, **sections: Any) -> dict[str, Any]:
    """monitor.yaml settings for a daemon under test: second-scale intervals and leases.

    With ``telegram_base_url`` the Telegram channel points at the emulator (its token in
    ``$MONITOR_TEST_TG_TOKEN``) and the console channel is off. ``sections`` are merged.
    """
    settings: dict[str, Any] = {
        "fetch": {"min_interval": 1, "max_interval": 2, "default_interval": 1},
        "delivery": {"lease": 3, "retry_base_s": 0.5, "max_backoff": 5},
    }
    if telegram_base_url is not None:
        settings["channels"] = {
            "console": {"enabled": False},
            "telegram": {"token_env": TOKEN_ENV, "api_base_url": telegram_base_url},
        }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(settings.get(key), dict):
            settings[key] = {**settings[key], **value}
        else:
            settings[key] = value
    return settings


def telegram_recipients(chats: Mapping[int, Sequence[str] | None]) -> list[dict[str, Any]]:
    """recipients: entries for Telegram chats (negative ids are groups) and their watchlists."""
    found = []
    for chat, names in chats.items():
        entry: dict[str, Any] = {
            "name": f"chat{chat}".replace("-", "g"),
            "channel": "telegram",
            "chat_id": chat,
        }
        if names is not None:
            entry["watchlists"] = list(names)
        found.append(entry)
    return found


class Publisher:
    """A background thread publishing an item every ``mean_s`` seconds on average."""

    def __init__(self, desk: NewsDesk, mean_s: float, seed: int = 11) -> None:
        self.desk = desk
        self.mean_s = mean_s
        self.rng = random.Random(seed)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stopped.wait(self.rng.expovariate(1 / self.mean_s)):
            self.desk.add()

    def __enter__(self) -> Publisher:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopped.set()
        self.thread.join(5.0)


FEEDS = ("north", "south", "east", "west")
WATCHLISTS = {"Starlink": "Starlink", "Kiriyenko": "Kiriyenko", "Rosatom": "Rosatom"}
WEIGHTS = {"Starlink": 0.4, "Kiriyenko": 0.4, "Rosatom": 0.2}
CHATS: dict[int, tuple[str, ...]] = {
    101: ("Starlink", "Kiriyenko"),
    102: ("Starlink",),
    103: ("Kiriyenko",),
    104: ("Rosatom", "Starlink"),
    -1009001: ("Rosatom",),  # a group: 20 messages a minute at most
}
KILLS = TERMS = 20
STOP_TIMEOUT_S = 30.0  # TimeoutStopSec in the test; deploy/monitor.service has 45 s


@pytest.fixture
def tg() -> Iterator[TelegramEmulator]:
    with TelegramEmulator() as emulator:
        emulator.enforce_limits(TELEGRAM_LIMITS)
        yield emulator


def watchlists_config() -> list[dict[str, object]]:
    return [{"name": name, "terms": [term]} for name, term in WATCHLISTS.items()]


def leases_of(url: str, pid: int) -> int:
    """How many feeds a killed daemon still held (the next start releases them: the
    owner string ``host:pid:random`` names a process that is gone)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            held = conn.execute(
                text("SELECT count(*) FROM feed WHERE lease_owner LIKE :o"), {"o": f"%:{pid}:%"}
            )
            return int(held.scalar_one())
    finally:
        engine.dispose()


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
        watchlists=watchlists_config(),
        monitor=fast_settings(tg.base_url),
        recipients=telegram_recipients(CHATS),
    )
    daemon = DaemonProcess(config.directory, env={TOKEN_ENV: tg.token})
    kills_in_send = stale_leases = 0
    stops = []
    claimed = "SELECT count(*) FROM delivery WHERE claimed_until IS NOT NULL"
    with daemons(daemon):
        daemon.start()
        baseline = "SELECT count(*) FROM feed WHERE baseline_done"
        assert wait_until(lambda: daemon.db.count(baseline) == len(FEEDS), 20), daemon.tail()
        with Publisher(desk, mean_s=1.5, seed=seed):
            for _ in range(kills):  # kill -9 at random: start-up, polls, claims, sends
                if not daemon.running:
                    daemon.start(wait_ready=False)
                time.sleep(rng.uniform(0.3, 2.0))
                kills_in_send += daemon.db.count(claimed) > 0
                pid = daemon.pid
                daemon.kill()
                stale_leases += leases_of(daemon.db.url, pid)
            kill_phase_end = time.monotonic()
            for _ in range(terms):
                daemon.start()
                time.sleep(rng.uniform(0.3, 1.5))
                stops.append(daemon.terminate(timeout=STOP_TIMEOUT_S))
        published_end = time.monotonic()
        daemon.start()
        expected = desk.expected()

        def drained() -> bool:
            return count_deliveries(expected, tally(tg.all_messages())).lost == 0

        wait_until(drained, timeout=300, step=0.2)
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
    rates = tg.rates()
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
        rates=(
            f"max per chat/s {rates.max_per_chat_per_second}, per group/min "
            f"{rates.max_per_group_per_minute}, overall/s {rates.max_overall_per_second}, "
            f"429s {len(tg.requests(status=429))}"
        ),
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
