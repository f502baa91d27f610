"""The same-story decision: does a new item join one of a few candidate stories?

Signals, strongest first (the first that holds decides, and is recorded with its score):

- ``url``: the same canonical URL.
- ``copy``: near-identical text: estimated Jaccard of word 3-shingles >= ``copy_min``.
- ``content``: a rewrite: cosine of TF-IDF vectors over folded content terms (function
  words removed, document frequencies of the window) >= ``content_min``, provided the
  names and numbers agree too (``specifics_min``; waived from ``content_sure`` or when an
  item has too few names) and the texts, titles left out, share something (``text_min``).
- ``title``: near-identical titles (rapidfuzz ratio >= ``title_min``) with at least some
  shared content (cosine >= ``title_content_min``): short feed items, edited leads.
- ``names``: items in two different languages sharing names and numbers after
  transliteration (cosine over those terms >= ``names_min``, at least ``names_shared``).

``decide`` compares an item with the candidates an index returned (never a scan of the
window) and picks the strongest signal, then the highest score; a join through a later
item of a story must also fit the story's first item (``headline_min``: no drifting
chains). ``same_story`` is the decision for two texts (``monitor compare``). Defaults
were calibrated on the SemEval-2022 Task 8 pairs; docs/clustering.md tells how
(bench/eval_same_story.py reproduces it).

Pure: no I/O, no clock, no database; the caller supplies document frequencies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rapidfuzz import fuzz

from monitor.core.fingerprint import (
    NO_DOC_FREQ,
    DocFreq,
    Fingerprint,
    body_weights,
    cosine,
    fingerprint,
    resemblance,
    term_weights,
)

SIGNALS = ("url", "copy", "content", "title", "names")  # strongest first
_RANK = {s: i for i, s in enumerate(SIGNALS)}


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """Thresholds and index limits; defaults calibrated as docs/clustering.md explains."""

    window: timedelta = timedelta(hours=72)
    """A story takes new items while one of its items is younger than this."""
    copy_min: float = 0.5
    """Estimated word-3-shingle Jaccard from which two texts are copies."""
    content_min: float = 0.18
    """TF-IDF cosine from which two texts tell the same story (a rewrite) ..."""
    specifics_min: float = 0.2
    """... if their names and numbers agree this much (cosine over those terms) ..."""
    content_sure: float = 0.3
    """... or the cosine reaches this, or one item has under ``names_needed`` names."""
    names_needed: int = 3
    text_min: float = 0.05
    """Texts (without titles) must share at least this cosine: one title is no story."""
    headline_min: float = 0.08
    """Joining through a later item also needs this cosine with the story's first item."""
    title_min: float = 0.9
    """rapidfuzz ratio (0-1) of folded titles from which they are near-identical ..."""
    title_content_min: float = 0.05
    """... provided the texts share at least this cosine."""
    names_min: float = 0.4
    """Cosine over names and numbers, for two items in different languages ..."""
    names_shared: int = 2
    """... sharing at least this many names or numbers."""
    name_boost: float = 1.0
    """Weight multiplier of names and numbers in the TF-IDF vector (1.0 measured best)."""
    index_terms: int = 16
    """Heaviest terms an item is indexed under (besides URL, title and band keys)."""
    lookup_terms: int = 12
    """Heaviest terms a new item looks up."""
    per_key: int = 32
    """Most recent items read per key (bounds the cost of common keys)."""
    max_candidates: int = 4
    """Items compared in full: those sharing the most key evidence."""


DEFAULT_SETTINGS = ClusterSettings()


@dataclass(frozen=True, slots=True)
class StoryCandidate:
    """An item of a story in the window that shares index keys with the new item."""

    story_id: int
    fingerprint: Fingerprint
    at: datetime
    evidence: float = 0.0  # how much index evidence it shares (the index's ranking score)
    headline: Fingerprint | None = None  # the story's first item, when still in the window


@dataclass(frozen=True, slots=True)
class PairDecision:
    """Whether two items tell the same story, and why (`monitor compare --json`)."""

    same_story: bool
    score: float
    signal: str  # one of SIGNALS, or "none" (score is then the content cosine)


@dataclass(frozen=True, slots=True)
class ClusterDecision:
    """Where a new item goes: an existing story (and why) or a new one (story_id None)."""

    story_id: int | None
    signal: str
    score: float


def compare(
    a: Fingerprint,
    b: Fingerprint,
    doc_freq: DocFreq = NO_DOC_FREQ,
    settings: ClusterSettings = DEFAULT_SETTINGS,
    *,
    a_weights: dict[str, float] | None = None,
) -> PairDecision:
    """The same-story decision for two fingerprints."""
    if a.url and a.url == b.url:
        return PairDecision(True, 1.0, "url")
    copy = resemblance(a.signature, b.signature)
    if copy >= settings.copy_min:
        return PairDecision(True, round(copy, 4), "copy")
    wa = a_weights if a_weights is not None else term_weights(a, doc_freq, settings.name_boost)
    wb = term_weights(b, doc_freq, settings.name_boost)
    content = cosine(wa, wb)
    if (
        content >= settings.content_min
        and _specific(a, b, content, wa, wb, settings)
        and _texts_agree(a, b, wa, wb, settings)
    ):
        return PairDecision(True, round(content, 4), "content")
    if a.title_key and b.title_key and content >= settings.title_content_min:
        title = fuzz.ratio(a.title, b.title) / 100.0
        if title >= settings.title_min and _texts_agree(a, b, wa, wb, settings):
            return PairDecision(True, round(title, 4), "title")
    if a.language and b.language and a.language != b.language:
        shared = set(a.names).intersection(b.names)
        if len(shared) >= settings.names_shared:
            names = _names_cosine(a, b, wa, wb)
            if names >= settings.names_min:
                return PairDecision(True, round(names, 4), "names")
    return PairDecision(False, round(content, 4), "none")


def _names_cosine(
    a: Fingerprint, b: Fingerprint, wa: dict[str, float], wb: dict[str, float]
) -> float:
    return cosine({t: wa[t] for t in a.names}, {t: wb[t] for t in b.names})


def _specific(
    a: Fingerprint,
    b: Fingerprint,
    content: float,
    wa: dict[str, float],
    wb: dict[str, float],
    settings: ClusterSettings,
) -> bool:
    """A rewrite shares its names and numbers, not only the topic's words.

    Waived for a strong content score and for items with too few names to judge.
    """
    if content >= settings.content_sure:
        return True
    if min(len(a.names), len(b.names)) < settings.names_needed:
        return True
    return _names_cosine(a, b, wa, wb) >= settings.specifics_min


def _texts_agree(
    a: Fingerprint,
    b: Fingerprint,
    wa: dict[str, float],
    wb: dict[str, float],
    settings: ClusterSettings,
) -> bool:
    """Two items with a text must share words of the text, not only of the title."""
    if not (a.has_text and b.has_text):
        return True
    return cosine(body_weights(a, wa), body_weights(b, wb)) >= settings.text_min


def decide(
    item: Fingerprint,
    candidates: Sequence[StoryCandidate],
    doc_freq: DocFreq = NO_DOC_FREQ,
    settings: ClusterSettings = DEFAULT_SETTINGS,
) -> ClusterDecision:
    """Join the candidate story with the strongest signal, else start a new story.

    A new story's decision carries signal "none" and the best content score seen, so a
    near miss can be explained.
    """
    weights = term_weights(item, doc_freq, settings.name_boost)
    best: tuple[int, float, int] | None = None  # (rank, -score, story_id): smaller is better
    nearest = 0.0
    for candidate in candidates:
        pair = compare(item, candidate.fingerprint, doc_freq, settings, a_weights=weights)
        if not pair.same_story:
            nearest = max(nearest, pair.score)
            continue
        if pair.signal not in ("url", "copy") and not _fits_headline(
            weights, candidate, doc_freq, settings
        ):
            continue
        key = (_RANK[pair.signal], -pair.score, candidate.story_id)
        if best is None or key < best:
            best = key
    if best is None:
        return ClusterDecision(None, "none", nearest)
    rank, negative_score, story_id = best
    return ClusterDecision(story_id, SIGNALS[rank], -negative_score)


def _fits_headline(
    weights: dict[str, float],
    candidate: StoryCandidate,
    doc_freq: DocFreq,
    settings: ClusterSettings,
) -> bool:
    """Joining through a later item must not drift away from what the story is about.

    An item matching a story's later item (say a newsletter covering two stories) must
    still share terms, or names and numbers, with the story's first item.
    """
    headline = candidate.headline
    if headline is None or headline is candidate.fingerprint:
        return True
    wh = term_weights(headline, doc_freq, settings.name_boost)
    if cosine(weights, wh) >= settings.headline_min:
        return True
    names = {t: w for t, w in weights.items() if t in headline.names}
    return cosine(names, {t: wh[t] for t in headline.names}) >= settings.headline_min


def same_story(
    a_text: str,
    b_text: str,
    *,
    a_title: str | None = None,
    b_title: str | None = None,
    a_url: str | None = None,
    b_url: str | None = None,
    a_language: str | None = None,
    b_language: str | None = None,
    doc_freq: DocFreq = NO_DOC_FREQ,
    settings: ClusterSettings = DEFAULT_SETTINGS,
) -> PairDecision:
    """The decision for two plain texts; without a title, a short first line is the title."""
    a = fingerprint(*_titled(a_text, a_title), url=a_url, language=a_language)
    b = fingerprint(*_titled(b_text, b_title), url=b_url, language=b_language)
    return compare(a, b, doc_freq, settings)


def split_title(text: str) -> tuple[str, str]:
    """(title, body): the first non-empty line is a title when short and more text follows."""
    stripped = text.strip()
    first, _, rest = stripped.partition("\n")
    if rest.strip() and len(first) <= 300:
        return first.strip(), rest.strip()
    return "", stripped


def _titled(text: str, title: str | None) -> tuple[str, str]:
    return (title, text) if title is not None else split_title(text)
