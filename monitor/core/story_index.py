"""In-memory candidate index of the stories in the clustering window, with document frequencies.

The same small, key-based interface as the database index in monitor/store:

- ``add(story_id, fp, at)``: an item joined (or started) a story; it is filed under its
  keys (canonical URL, title, LSH bands, heaviest terms: `fingerprint.index_keys`) and
  its terms count in the document frequencies.
- ``candidates(fp, now, window)``: the few window items sharing keys with a new item,
  most shared keys first, at most ``max_candidates``. Each key reads at most ``per_key``
  most recent items, so the work per item does not grow with the window: no scan.
- ``expire(before)``: forget items added before a time (keys and frequencies).
- ``documents`` / ``count(term)``: the window's document frequencies (a `DocFreq`).

Pure data structure: no I/O, no clock (callers pass ``now``), not thread-safe. Items
should be added in time order (the store's ``at`` is the insertion time); an item added
out of order is still found but may expire late. Keys are held as Python string hashes
(a collision only adds a candidate, which the decision then rejects).
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import repeat
from typing import NamedTuple

from monitor.core.cluster import DEFAULT_SETTINGS, ClusterSettings, StoryCandidate
from monitor.core.fingerprint import (
    Fingerprint,
    key_terms,
    strong_keys,
    term_key,
    term_weights,
)

STRONG_KEY = 1000.0  # ranking weight of a shared URL, title or LSH band key


class _Filed(NamedTuple):
    story_id: int
    at: float  # POSIX seconds
    fingerprint: Fingerprint
    terms: tuple[str, ...]  # the terms it was filed under (they depend on the df of then)


class StoryIndex:
    """Candidate lookup and document frequencies for one clustering window, in memory."""

    def __init__(self, settings: ClusterSettings = DEFAULT_SETTINGS) -> None:
        self.settings = settings
        self._items: dict[int, _Filed] = {}
        self._order: deque[int] = deque()  # item numbers in insertion order
        self._postings: dict[int, int | list[int]] = {}  # key hash -> item number(s)
        self._df: Counter[str] = Counter()
        self._headlines: dict[int, int] = {}  # story -> item number of its first item
        self._next = 0

    # -- DocFreq ------------------------------------------------------------------------
    @property
    def documents(self) -> int:
        """Items in the window."""
        return len(self._items)

    def counts(self, terms: Sequence[str]) -> list[int]:
        """Items in the window containing each term."""
        return list(map(self._df.get, terms, repeat(0)))

    # -- index --------------------------------------------------------------------------
    def add(self, story_id: int, fp: Fingerprint, at: datetime) -> None:
        """File an item of ``story_id`` under its keys and count its terms."""
        weights = term_weights(fp, self, self.settings.name_boost)
        terms = key_terms(fp, weights, self.settings.index_terms)
        number = self._next
        self._next += 1
        self._items[number] = _Filed(story_id, at.timestamp(), fp, terms)
        self._order.append(number)
        self._headlines.setdefault(story_id, number)
        postings = self._postings
        cap = self.settings.per_key
        for key in _keys(fp, terms):
            posting = postings.get(key)
            if posting is None:
                postings[key] = number
            elif isinstance(posting, int):
                postings[key] = [posting, number]
            else:
                posting.append(number)
                if len(posting) > cap:  # only the most recent are ever read
                    del posting[0]
        self._df.update(fp.terms)

    def candidates(
        self, fp: Fingerprint, now: datetime, window: timedelta | None = None
    ) -> list[StoryCandidate]:
        """Items added since ``now - window`` sharing keys with ``fp``, most shared first."""
        settings = self.settings
        since = (now - (window or settings.window)).timestamp()
        weights = term_weights(fp, self, settings.name_boost)
        # Rank by shared evidence: a URL, title or band key outweighs any terms; a shared
        # term counts with its TF-IDF weight in the new item.
        evidence = [(hash(key), STRONG_KEY) for key in strong_keys(fp)]
        terms = key_terms(fp, weights, settings.lookup_terms)
        evidence += [(hash(term_key(t)), weights[t]) for t in terms]
        shared: dict[int, float] = {}
        for key, weight in evidence:
            posting = self._postings.get(key)
            if posting is None:
                continue
            for number in (posting,) if isinstance(posting, int) else posting[-settings.per_key :]:
                shared[number] = shared.get(number, 0.0) + weight
        out: list[StoryCandidate] = []
        ranked = heapq.nlargest(4 * settings.max_candidates, shared.items(), key=_evidence)
        for number, score in ranked:
            filed = self._items[number]
            if filed.at < since:
                continue
            when = datetime.fromtimestamp(filed.at, UTC)
            first = self._items.get(self._headlines.get(filed.story_id, -1))
            headline = first.fingerprint if first else None
            out.append(
                StoryCandidate(filed.story_id, filed.fingerprint, when, round(score, 3), headline)
            )
            if len(out) >= settings.max_candidates:
                break
        return out

    def expire(self, before: datetime) -> int:
        """Forget items added before ``before``; return how many were forgotten."""
        limit = before.timestamp()
        removed = 0
        while self._order and self._items[self._order[0]].at < limit:
            number = self._order.popleft()
            filed = self._items.pop(number)
            if self._headlines.get(filed.story_id) == number:
                del self._headlines[filed.story_id]
            for key in _keys(filed.fingerprint, filed.terms):
                self._unfile(key, number)
            self._df.subtract(filed.fingerprint.terms)
            for term in filed.fingerprint.terms:
                if self._df[term] <= 0:
                    del self._df[term]
            removed += 1
        return removed

    def _unfile(self, key: int, number: int) -> None:
        posting = self._postings.get(key)
        if posting == number:
            del self._postings[key]
        elif isinstance(posting, list) and number in posting:
            posting.remove(number)
            if len(posting) == 1:
                self._postings[key] = posting[0]

    def __len__(self) -> int:
        return len(self._items)

    @property
    def stories(self) -> int:
        """Distinct stories with an item in the window."""
        return len({filed.story_id for filed in self._items.values()})


def _evidence(entry: tuple[int, float]) -> tuple[float, int]:
    return entry[1], entry[0]  # most evidence, then the most recent item


def _keys(fp: Fingerprint, terms: tuple[str, ...]) -> list[int]:
    """An item's index keys (strong keys and these terms' keys), hashed, distinct."""
    keys = strong_keys(fp) + tuple(term_key(t) for t in terms)
    return list(dict.fromkeys(hash(key) for key in keys))
