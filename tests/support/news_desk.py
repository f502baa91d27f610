"""Live news for process-level tests: feeds that gain items, and who should hear of what.

Shared by the daemon tests that run ``monitor run`` as a subprocess (crash, health,
signals, scale-out, soak):

- ``NewsDesk``: feeds on the local feed server that gain distinct items while a test
  runs (one story may be published on several feeds at once: copies from several
  outlets, which clustering must join), and ``expected()``: every (chat, story) pair
  that should be alerted; ``subscriptions``: the chats of the crash and scale-out runs;
- ``tally`` / ``count_deliveries`` / ``delivered`` / ``wait_drained``: lost, duplicated
  and stray alerts, counted at the Telegram emulator from the ``(story N)`` tag every
  title carries; ``rate_summary``: the rates the emulator saw;
- ``Publisher``: news arriving in the background at a random pace;
- ``fast_settings`` / ``telegram_recipients`` / ``TOKEN_ENV``: monitor.yaml for a daemon
  under test (second-scale intervals and leases, Telegram at the emulator);
- the ``tg`` fixture (the emulator with Telegram's rate limits enforced),
  ``baselined`` (feeds past their first poll) and ``leases_of`` (feeds a killed
  process still holds).

Test support only: nothing here touches the daemon except through its feeds.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.configs import rss
from tests.support.daemon_runner import DaemonProcess, DatabaseReader, Ticker, wait_until
from tests.support.feed_server import FeedServer, Request, Response
from tests.support.telegram_emulator import TELEGRAM_LIMITS, TelegramEmulator

# -- live feeds ---------------------------------------------------------------------

_CONSONANTS = "bcdfghklmnprstvz"
_VOWELS = "aeiou"


def invented_word(rng: random.Random, syllables: int = 3) -> str:
    """A pronounceable word that no dictionary (and no other item) is likely to share."""
    return "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables))


STORY_TAG = re.compile(r"\(story (\d+)\)")
# The watchlists the tests publish for, and how often a story is about each.
WATCHLISTS = {"Starlink": "Starlink", "Kiriyenko": "Kiriyenko", "Rosatom": "Rosatom"}
WEIGHTS = {"Starlink": 0.4, "Kiriyenko": 0.4, "Rosatom": 0.2}


def subscriptions(first_chat: int, group: int) -> dict[int, tuple[str, ...]]:
    """Four private chats numbered from ``first_chat`` and a group, over ``WATCHLISTS``."""
    return {
        first_chat: ("Starlink", "Kiriyenko"),
        first_chat + 1: ("Starlink",),
        first_chat + 2: ("Kiriyenko",),
        first_chat + 3: ("Rosatom", "Starlink"),
        group: ("Rosatom",),  # a group: 20 messages a minute at most
    }


@dataclass(frozen=True)
class NewsItem:
    serial: int
    feed: str
    terms: tuple[str, ...]  # watchlist terms it mentions
    title: str
    body: str
    also: tuple[str, ...] = ()  # other feeds carrying a copy (same title and text)
    at: float = 0.0  # time.monotonic() when it was published

    @property
    def feeds(self) -> tuple[str, ...]:
        return (self.feed, *self.also)


class NewsDesk:
    """Feeds on ``server`` that gain distinct items; ``expected`` = who should hear of what.

    ``watchlists`` maps a watchlist name to the one term that matches it; ``recipients``
    maps a chat id to the watchlist names it receives. Every item's title ends with
    ``(story N)``; ``tally`` reads those tags from the messages the emulator received.
    A story published with ``copies`` > 1 appears at once on that many feeds, with the
    same title and text but each feed's own link and GUID (syndicated copies): it is
    one story, alerted once per chat.
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

    def watchlists_config(self) -> list[dict[str, Any]]:
        """watchlists.yaml entries: each watchlist matching its one term."""
        return [{"name": name, "terms": [term]} for name, term in self.watchlists.items()]

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
        copies: int = 1,
    ) -> NewsItem:
        """Publish one item (on a random feed by default) mentioning watchlist terms.

        The terms of ``watchlists``; by default one watchlist drawn by ``weights``, and
        a quarter of the time a second one. ``copies`` > 1: the same item also appears
        on ``copies - 1`` other feeds drawn at random.
        """
        with self._lock:
            name = feed or self.rng.choice(list(self._items))
            also: tuple[str, ...] = ()
            if copies > 1:
                others = [f for f in self._items if f != name]
                also = tuple(self.rng.sample(others, min(copies - 1, len(others))))
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
            news = NewsItem(serial, name, terms, title, f"{body}.", also, time.monotonic())
            for carrier in news.feeds:
                self._items[carrier].append(news)
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


def delivered(tg: TelegramEmulator, expected: set[tuple[int, int]]) -> DeliveryCount:
    """``expected`` against every message the emulator received so far."""
    return count_deliveries(expected, tally(tg.all_messages()))


def wait_drained(
    tg: TelegramEmulator, expected: set[tuple[int, int]], timeout: float, step: float
) -> bool:
    """Wait until every ``expected`` alert arrived at the emulator."""
    return wait_until(lambda: delivered(tg, expected).lost == 0, timeout=timeout, step=step)


def rate_summary(tg: TelegramEmulator) -> str:
    """The message rates the emulator saw (maxima) and how many 429s it answered."""
    rates = tg.rates()
    return (
        f"max per chat/s {rates.max_per_chat_per_second}, per group/min "
        f"{rates.max_per_group_per_minute}, overall/s {rates.max_overall_per_second}, "
        f"429s {len(tg.requests(status=429))}"
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


class Publisher(Ticker):
    """A background thread publishing an item every ``mean_s`` seconds on average.

    ``copy_share``: the share of stories published on several feeds at once (2 to
    ``max_copies`` copies), so that several instances ingest copies of one story at
    about the same moment.
    """

    def __init__(
        self,
        desk: NewsDesk,
        mean_s: float,
        seed: int = 11,
        *,
        copy_share: float = 0.0,
        max_copies: int = 3,
    ) -> None:
        super().__init__(mean_s)
        self.desk = desk
        self.rng = random.Random(seed)
        self.copy_share = copy_share
        self.max_copies = max_copies

    def interval(self) -> float:
        return self.rng.expovariate(1 / self.every_s)

    def tick(self) -> None:
        copies = 1
        if self.copy_share > 0 and self.rng.random() < self.copy_share:
            copies = self.rng.randint(2, self.max_copies)
        self.desk.add(copies=copies)


# -- fixtures and database helpers -------------------------------------------------


@pytest.fixture
def tg() -> Iterator[TelegramEmulator]:
    with TelegramEmulator() as emulator:
        emulator.enforce_limits(TELEGRAM_LIMITS)
        yield emulator


def baselined(daemon: DaemonProcess, feeds: int, timeout: float = 20.0) -> bool:
    """Wait until at least ``feeds`` feeds made their first poll (the baseline)."""
    done = "SELECT count(*) FROM feed WHERE baseline_done"
    return wait_until(lambda: daemon.db.count(done) >= feeds, timeout)


def leases_of(db: DatabaseReader, pid: int) -> int:
    """How many feeds a killed daemon still held (the next start releases them: the
    owner string ``host:pid:random`` names a process that is gone)."""
    return db.count("SELECT count(*) FROM feed WHERE lease_owner LIKE :o", o=f"%:{pid}:%")
