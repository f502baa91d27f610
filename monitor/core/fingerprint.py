"""An item's fingerprint for story clustering, the weights computed from it, its index keys.

A `Fingerprint` keeps what the clustering decision and the candidate index need and
nothing else: the canonical URL, the folded title, the folded content terms (function
words of the item's language removed) with their counts, which terms are names or
numbers, and a one-permutation MinHash signature over word 3-shingles whose LSH band
keys find near-copies. `term_weights` turns counts into a TF-IDF vector with document
frequencies the caller supplies (`DocFreq`: the window's, kept by the story index or the
store); `index_keys` are the strings an index files an item under and looks up.

Folding is a private copy of the project's rule (NFKC, casefold, diacritics removed,
anyascii transliteration; numbers keep their digits together: 4.25 -> 425). It can move
to `monitor.core.text` once that module keeps numbers whole (recalibrate when it does).

Pure: no I/O, no clock. The signature layout (shingle size, bins, bands, hash) and the
key formats are part of what the store keeps: changing them means re-fingerprinting
the window (bump `FINGERPRINT_VERSION`).
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import sys
import unicodedata
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import repeat
from operator import add, eq, mul, sub
from typing import Protocol

import numpy as np
import stop_words
from anyascii import anyascii
from babel.core import UnknownLocaleError
from babel.dates import get_day_names, get_month_names

FINGERPRINT_VERSION = 1
SHINGLE_WORDS = 3  # word n-gram size of the MinHash signature
SIGNATURE_BINS = 64  # one-permutation MinHash bins (a power of two), 8 bytes each
BAND_ROWS = 4  # LSH: 16 bands of 4 bins; two items share a band key with p = 0.64 at J = 0.5
MIN_SIGNATURE_WORDS = 8  # shorter texts have no signature (and no band keys)
MAX_TERMS = 120  # most frequent content terms kept per item (bounds memory per story)
TITLE_REPEAT = 2  # a title term counts as this many body occurrences
DEFAULT_STOPWORDS = "en"  # used when the language is unknown or has no list

_BIN_BITS = np.uint64(SIGNATURE_BINS.bit_length() - 1)
_BIN_MASK = np.uint64(SIGNATURE_BINS - 1)
_BLAKE8 = hashlib.blake2b(digest_size=8)  # shingle hash: 64 bits, bin in the low bits
_EMPTY = (1 << 64) - 1
# Optimal densification (Shrivastava 2017): an empty bin copies the first non-empty bin
# in its own fixed pseudo-random probe order, the same order for every document.
_PROBES: tuple[tuple[int, ...], ...] = tuple(
    tuple(random.Random(1000 + i).sample(range(SIGNATURE_BINS), SIGNATURE_BINS))
    for i in range(SIGNATURE_BINS)
)

_TF = [0.0] + [1.0 + math.log(n) for n in range(1, 256)]  # sublinear term frequency
_WORD = re.compile(r"\d+(?:[.,]\d+)+|[a-z0-9]+")  # 4.25 and 42,000 stay one token
_CAPITALISED = re.compile(r"[^\W\d_][\w'’-]*")
_SENTENCE_END = frozenset('.!?:;"“”«»|\n')
_OPENERS = frozenset(" \t\u00a0'\"‘“«([-–—")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


class DocFreq(Protocol):
    """Document frequencies of terms over the items in the clustering window."""

    @property
    def documents(self) -> int:
        """Items in the window."""
        ...

    def counts(self, terms: Sequence[str]) -> list[int]:
        """Items in the window containing each term (0 for an unknown term)."""
        ...


@dataclass(frozen=True, slots=True)
class TermCounts:
    """A `DocFreq` from a plain mapping (what the store fetches for a few terms)."""

    documents: int = 0
    table: Mapping[str, int] = field(default_factory=dict)

    def counts(self, terms: Sequence[str]) -> list[int]:
        return list(map(self.table.get, terms, repeat(0)))


NO_DOC_FREQ = TermCounts()


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What clustering keeps of one item (see the module docstring)."""

    url: str | None  # canonical URL (Entry.url)
    language: str | None  # ISO 639-1 code, lower-case
    title: str  # folded title words, space-separated
    terms: tuple[str, ...]  # folded content terms, most frequent first
    counts: bytes  # occurrences of each term, capped at 255 (a title term counts TITLE_REPEAT)
    names: tuple[str, ...]  # the terms written as names (capitalised) or numbers, sorted
    signature: bytes  # SIGNATURE_BINS little-endian uint64 of the text; b"" if too short
    has_text: bool = True  # False when the item had only a title

    @property
    def band_keys(self) -> tuple[str, ...]:
        """LSH band keys: items sharing one are likely near-copies."""
        return _band_keys(self.signature)

    @property
    def title_key(self) -> str | None:
        """Identical folded titles of three words or more share this key."""
        if self.title.count(" ") < 2:
            return None
        return "t:" + hashlib.blake2b(self.title.encode(), digest_size=8).hexdigest()


class _FoldTable(dict[int, str | None]):
    """``str.translate`` table of `fold`'s per-character steps after NFD, filled lazily.

    A combining mark is dropped, an ideograph gets spaces around it (scripts without
    spaces: one word per ideograph), any other character becomes its anyascii
    transliteration. Each step reads one character alone, so one table lookup per
    character gives what the three passes over the text would.
    """

    def __missing__(self, codepoint: int) -> str | None:
        char = chr(codepoint)
        if unicodedata.combining(char):
            out = None
        elif _CJK.match(char):
            out = f" {anyascii(char)} "
        else:
            out = anyascii(char)
        self[codepoint] = out
        return out


_FOLD_TABLE = _FoldTable()


def fold(text: str) -> str:
    """NFKC, case-folded, diacritics removed, other scripts transliterated to ASCII."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if text.isascii():
        return text
    return unicodedata.normalize("NFD", text).translate(_FOLD_TABLE).lower()


def words(folded: str) -> list[str]:
    """Word tokens of folded text: letters and digits; numbers lose their separators."""
    found = _WORD.findall(folded)
    if not found:
        return found
    # Only number tokens hold separators and no token holds a space: one pass for all.
    return " ".join(found).replace(",", "").replace(".", "").split(" ")


def fingerprint(
    title: str, text: str, *, url: str | None = None, language: str | None = None
) -> Fingerprint:
    """Fingerprint an item from its plain-text title and body, canonical URL and language."""
    lang = language.split("-")[0].lower() if language else None
    title_words = words(fold(title))
    has_text = bool(text.strip())
    body_words = words(fold(text)) if has_text else title_words
    stop = (lang and stopwords(lang)) or stopwords(DEFAULT_STOPWORDS)
    counts = Counter(body_words)  # first occurrences keep their order: most_common's ties
    for word in [w for w in counts if not _is_term(w, stop)]:
        del counts[word]
    for w in title_words:
        if _is_term(w, stop):
            counts[w] += TITLE_REPEAT
    top = counts.most_common(MAX_TERMS)
    terms = tuple([sys.intern(t) for t, _ in top])
    names = _names(text if has_text else title) - calendar_words(lang or "en")
    return Fingerprint(
        url=url or None,
        language=lang,
        title=" ".join(title_words),
        terms=terms,
        counts=bytes([min(c, 255) for _, c in top]),
        names=tuple(sorted(t for t in terms if t in names or t.isdigit())),
        signature=signature(body_words) if has_text else b"",
        has_text=has_text,
    )


def _is_term(word: str, stop: frozenset[str]) -> bool:
    return (len(word) > 1 or word.isdigit()) and word not in stop


def _names(text: str) -> set[str]:
    """Folded words written with a capital other than at a sentence start."""
    found: set[str] = set()
    for m in _CAPITALISED.finditer(text):
        token = m.group()
        if token[0].isupper() and (
            not _sentence_start(text, m.start()) or (token.isupper() and len(token) > 1)
        ):
            found.update(_token_words(token))
    return found


@lru_cache(maxsize=65536)
def _token_words(token: str) -> tuple[str, ...]:  # names repeat across items: cached
    return tuple(words(fold(token)))


def _sentence_start(text: str, at: int) -> bool:
    i = at - 1
    while i >= 0 and text[i] in _OPENERS:
        i -= 1
    return i < 0 or text[i] in _SENTENCE_END


def signature(tokens: list[str]) -> bytes:
    """One-permutation MinHash with optimal densification over word shingles.

    Texts under ``MIN_SIGNATURE_WORDS`` words get none: a source tag or a one-line
    teaser shared by many items is no evidence of a copy.
    """
    if len(tokens) < MIN_SIGNATURE_WORDS:
        return b""
    encoded = list(map(str.encode, tokens))
    shingles = set(map(b" ".join, zip(*(encoded[i:] for i in range(SHINGLE_WORDS)), strict=False)))
    digests: list[bytes] = []
    add = digests.append
    new = _BLAKE8.copy  # a copy of a prepared hasher: cheaper than blake2b(digest_size=8)
    for shingle in shingles:
        h = new()
        h.update(shingle)
        add(h.digest())
    hashes = np.frombuffer(b"".join(digests), dtype="<u8")
    lowest = np.full(SIGNATURE_BINS, _EMPTY, dtype=np.uint64)
    np.minimum.at(lowest, (hashes & _BIN_MASK).astype(np.intp), hashes >> _BIN_BITS)
    bins: list[int] = lowest.tolist()
    for i, value in enumerate(bins):
        if value == _EMPTY:
            bins[i] = bins[next(j for j in _PROBES[i] if bins[j] != _EMPTY)]
    packed = array("Q", bins)
    if sys.byteorder == "big":  # stored signatures and band keys are little-endian
        packed.byteswap()
    return packed.tobytes()


def resemblance(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of the shingle sets behind two signatures."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    same = sum(map(eq, memoryview(a).cast("Q"), memoryview(b).cast("Q")))
    return same / SIGNATURE_BINS


@lru_cache(maxsize=8192)
def _band_keys(sig: bytes) -> tuple[str, ...]:  # signatures of copies repeat: cached
    step = 8 * BAND_ROWS
    keys = []
    for band in range(len(sig) // step):
        rows = sig[band * step : (band + 1) * step]
        keys.append(f"b{band}:{hashlib.blake2b(rows, digest_size=8).hexdigest()}")
    return tuple(keys)


def idf(documents: int, count: int) -> float:
    """Smoothed inverse document frequency: log((N + 1) / (df + 1)) + 1 (1.0 in an empty window)."""
    return math.log((documents + 1) / (count + 1)) + 1.0


def term_weights(fp: Fingerprint, doc_freq: DocFreq, name_boost: float = 1.0) -> dict[str, float]:
    """TF-IDF weights (sublinear tf, smoothed idf); names and numbers times ``name_boost``."""
    base = math.log(doc_freq.documents + 1) + 1.0
    # tf * (base - log(df + 1)) for every term, in C loops (this runs for each candidate)
    idfs = map(sub, repeat(base), map(math.log, map(add, doc_freq.counts(fp.terms), repeat(1))))
    out = dict(zip(fp.terms, map(mul, map(_TF.__getitem__, fp.counts), idfs), strict=True))
    if name_boost != 1.0:
        for term in fp.names:
            out[term] *= name_boost
    return out


def body_weights(fp: Fingerprint, weights: Mapping[str, float]) -> dict[str, float]:
    """``weights`` without what the title added: the vector of the text alone."""
    in_title = Counter(w for w in words(fp.title) if w in weights)
    out = {}
    for term, n in zip(fp.terms, fp.counts, strict=True):
        body = n - TITLE_REPEAT * in_title[term] if term in in_title else n
        if body > 0:
            out[term] = weights[term] * _TF[body] / _TF[n]
    return out


def cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Cosine similarity of two sparse vectors."""
    shared = a.keys() & b.keys()
    if not shared:
        return 0.0
    dot = sum([a[t] * b[t] for t in shared])
    norms = math.hypot(*a.values()) * math.hypot(*b.values())
    return min(1.0, dot / norms) if dot > 0.0 else 0.0


def top_terms(weights: Mapping[str, float], limit: int) -> list[str]:
    """The ``limit`` heaviest terms (ties broken by the term, so keys are stable)."""
    return sorted(weights, key=lambda t: (-weights[t], t))[:limit]


def strong_keys(fp: Fingerprint) -> tuple[str, ...]:
    """Keys that alone suggest the same story: canonical URL, title, LSH bands."""
    keys = [f"u:{fp.url}"] if fp.url else []
    if fp.title_key:
        keys.append(fp.title_key)
    keys.extend(fp.band_keys)
    return tuple(keys)


def term_key(term: str) -> str:
    """The index key of a content term."""
    return f"w:{term}"


def key_terms(fp: Fingerprint, weights: Mapping[str, float], terms: int) -> tuple[str, ...]:
    """The ``terms`` heaviest terms and the ``terms // 2`` heaviest names or numbers.

    Names find rewrites in another language, whose other terms are all different.
    """
    heaviest = top_terms(weights, terms)
    names = top_terms({t: weights[t] for t in fp.names}, terms // 2)
    return tuple(dict.fromkeys(heaviest + names))


def index_keys(fp: Fingerprint, weights: Mapping[str, float], terms: int) -> tuple[str, ...]:
    """Keys to file (or look up) an item by: strong keys and the keys of its `key_terms`.

    An index files an item with ``ClusterSettings.index_terms`` and a new item looks up
    with ``lookup_terms``, each with the window's document frequencies of the moment.
    """
    return strong_keys(fp) + tuple(term_key(t) for t in key_terms(fp, weights, terms))


@lru_cache(maxsize=64)
def calendar_words(language: str) -> frozenset[str]:
    """Folded month and weekday names (CLDR, via babel) of a language and of English.

    Capitalised, but dates rather than names: every story of the day has them.
    """
    found: set[str] = set()
    for locale in dict.fromkeys((language, "en")):
        try:
            for context in ("format", "stand-alone"):
                for names in (
                    get_month_names("wide", context, locale),
                    get_day_names("wide", context, locale),
                ):
                    for name in names.values():
                        found.update(words(fold(name)))
        except (UnknownLocaleError, ValueError):
            continue
    return frozenset(found)


@lru_cache(maxsize=64)
def stopwords(language: str) -> frozenset[str]:
    """Folded function words of a language (the stop-words package); empty if unknown."""
    try:
        listed: Iterable[str] = stop_words.get_stop_words(language)
    except stop_words.StopWordError:
        return frozenset()
    return frozenset(w for entry in listed for w in words(fold(entry)) if not w.isdigit())
