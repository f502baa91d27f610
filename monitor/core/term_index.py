"""The term index: every term of every watchlist in one Aho-Corasick automaton.

An item is prepared once (``prepare_document``): its title and text are folded into
words (monitor.core.text) and each word is rewritten to its transliteration skeleton
(monitor.core.variants); the skeleton words, joined by spaces, are the haystack.
The automaton holds, for every term, one key: a space plus the skeleton prefix every
accepted form of its rarest word starts with (" kirienk" for Kiriyenko), or, for
fuzzy terms, the pieces of the pigeonhole filter. One pass over the haystack yields
the candidate words; each is then checked against its rule (exact form with an
allowed ending, skeleton variant, prefix, or edit distance with rapidfuzz) and, for a
phrase, its neighbours. Nothing compares every term with every word.

Pure: no I/O. Building the index costs one ``add_word`` per distinct key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import ahocorasick
from rapidfuzz.distance import Levenshtein

from monitor.core.models import Document
from monitor.core.text import fold_chars, fold_words, has_cyrillic
from monitor.core.variants import (
    SKELETONS,
    anchor,
    endings,
    pieces,
    prefix_anchor,
    skeleton_forms,
    word_forms,
)

Mode = Literal["exact", "variant", "prefix", "fuzzy"]
SEPARATOR = "|"  # the word between title and text: no term can match or span it
INDONESIAN_LANGUAGES = ("id", "ms")

# How a candidate word was accepted.
_SHAPED = ("exact", "variant")  # modes whose accepted words all have a known skeleton
REJECTED = 0
EXACT = 1
CAPITALISED = 2  # an inflected form or a skeleton variant: the original must be capitalised


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    """An item folded once, matched against any number of watchlists."""

    document: Document
    title_chars: str  # fold_chars(title): aligned with the title when is_aligned(title)
    text_chars: str  # fold_chars(text)
    words: tuple[str, ...]  # title words, SEPARATOR, text words (folded)
    title_count: int  # index of SEPARATOR
    haystack: str  # " " + skeleton words joined by spaces + " "
    kind: int  # bit 1: Cyrillic script, bit 2: Indonesian (or unknown) language
    source: str  # " " + folded feed and source names + " "

    @property
    def cyrillic(self) -> bool:
        return bool(self.kind & 1)

    @property
    def indonesian(self) -> bool:
        return bool(self.kind & 2)


def prepare_document(document: Document) -> PreparedDocument:
    """Fold ``document`` for matching (the per-item cost, paid once)."""
    title_chars = fold_chars(document.title)
    text_chars = fold_chars(document.text)
    title_words = title_chars.split()
    words = (*title_words, SEPARATOR, *text_chars.split())
    haystack = " " + " ".join(map(SKELETONS.__getitem__, words)) + " "
    language = (document.language or "").lower()
    indonesian = not language or language.startswith(INDONESIAN_LANGUAGES)
    cyrillic = has_cyrillic(document.title) or has_cyrillic(document.text)
    source = " ".join(fold_words(f"{document.feed} {document.source}"))
    return PreparedDocument(
        document,
        title_chars,
        text_chars,
        words,
        len(title_words),
        haystack,
        (1 if cyrillic else 0) | (2 if indonesian else 0),
        f" {source} ",
    )


def edits_for_length(length: int) -> int:
    """Edits a fuzzy word may differ by: none under 4 letters, 1 up to 6, 2 from 7."""
    if length < 4:
        return 0
    return 1 if length < 7 else 2


@dataclass(slots=True)
class WordRule:
    """How one word of a term accepts a document word."""

    folded: str
    mode: Mode
    name: bool  # written like a name: skeleton variants allowed (mode "variant")
    capital: bool  # written with a capital: forms with an ending must be capitalised too
    edits: int = 0
    _forms: list[frozenset[str] | None] | None = None  # by item kind, filled on first use
    _skeletons: list[frozenset[str] | None] | None = None

    def key(self) -> tuple[object, ...]:
        return (self.folded, self.mode, self.name, self.capital, self.edits)

    def forms(self, kind: int) -> frozenset[str]:
        """Folded words that count as this word in an item of this kind."""
        cache = self._forms
        if cache is None:
            cache = self._forms = [None] * 4
        found = cache[kind]
        if found is None:
            found = cache[kind] = word_forms(
                self.folded, cyrillic=bool(kind & 1), indonesian=bool(kind & 2), proper=self.capital
            )
        return found

    def skeletons(self, kind: int) -> frozenset[str]:
        """Skeletons of ``forms(kind)``: a word whose skeleton is not here never matches."""
        cache = self._skeletons
        if cache is None:
            cache = self._skeletons = [None] * 4
        found = cache[kind]
        if found is None:
            found = cache[kind] = skeleton_forms(
                self.folded, cyrillic=bool(kind & 1), indonesian=bool(kind & 2), proper=self.capital
            )
        return found

    def probe_keys(self) -> list[tuple[str, bool]]:
        """Automaton keys for this word, each with whether it starts at a word start."""
        if self.mode == "prefix":
            return [(" " + prefix_anchor(self.folded), True)]
        if self.mode == "fuzzy":
            return [(piece, False) for piece in pieces(self.folded, self.edits)]
        return [(" " + anchor(self.folded), True)]

    def accepts(self, word: str, shape: str, kind: int) -> int:
        """EXACT, CAPITALISED or REJECTED for folded ``word`` whose skeleton is ``shape``.

        A capitalised term ("Lavrov", "Маск") accepts an inflected form or a variant only
        when the document writes it with a capital too: "лавровым листом" is a bay leaf,
        "маску" a mask, "hari" a day.
        """
        mode = self.mode
        if word == self.folded:
            return EXACT
        if mode == "prefix":
            return EXACT if word.startswith(self.folded) else REJECTED
        if word in self.forms(kind):
            return CAPITALISED if self.capital else EXACT
        if mode == "variant":
            return CAPITALISED if shape in self.skeletons(kind) else REJECTED
        if mode == "fuzzy":
            return EXACT if self._near(word, kind) else REJECTED
        return REJECTED

    def _near(self, word: str, kind: int) -> bool:
        if self.name and SKELETONS[word] in self.skeletons(kind):
            return True
        limit = self.edits
        bases = [word]
        cyrillic, indonesian = bool(kind & 1), bool(kind & 2)
        for ending in endings(cyrillic=cyrillic, indonesian=indonesian, proper=self.capital):
            if ending and word.endswith(ending) and len(word) - len(ending) >= 3:
                bases.append(word[: -len(ending)])
        target = self.folded
        return any(
            abs(len(base) - len(target)) <= limit
            and Levenshtein.distance(base, target, score_cutoff=limit) <= limit
            for base in bases
        )


@dataclass(slots=True)
class IndexedTerm:
    """A term (word or phrase) compiled for the index; shared by equal terms."""

    id: int
    words: tuple[WordRule, ...]
    anchor_at: int  # which word carries the automaton key

    @staticmethod
    def choose_anchor(words: Sequence[WordRule]) -> int:
        """The word carrying the index key: not a prefix, the longest key (the rarest)."""
        if len(words) == 1:
            return 0

        def weight(item: tuple[int, WordRule]) -> tuple[int, int]:
            rule = item[1]
            return (rule.mode != "prefix", len(anchor(rule.folded)))

        return max(enumerate(words), key=weight)[0]


# An automaton value entry: the term, whether its key starts at a word start (" " +
# anchor) rather than anywhere in a word (a fuzzy piece), and the key's length.
_Probe = tuple[IndexedTerm, bool, int]


Hits = dict[int, list[tuple[int, int]]]  # term id -> (first, last) word indexes


class TermIndex:
    """All terms of all watchlists in one automaton over skeleton haystacks."""

    def __init__(self) -> None:
        self._terms: dict[object, IndexedTerm] = {}
        self._keys: dict[str, list[_Probe]] = {}
        self._automaton: ahocorasick.Automaton | None = None

    def add(self, words: Sequence[WordRule]) -> IndexedTerm:
        """The indexed term for these word rules (an existing one when equal)."""
        identity = words[0].key() if len(words) == 1 else tuple(rule.key() for rule in words)
        found = self._terms.get(identity)
        if found is not None:
            return found
        term = IndexedTerm(len(self._terms), tuple(words), IndexedTerm.choose_anchor(words))
        self._terms[identity] = term
        for key, anchored in term.words[term.anchor_at].probe_keys():
            self._keys.setdefault(key, []).append((term, anchored, len(key)))
        return term

    def build(self) -> None:
        """Compile the automaton; call once after the last ``add``."""
        automaton = ahocorasick.Automaton(ahocorasick.STORE_ANY, ahocorasick.KEY_STRING)
        for key, probes in self._keys.items():
            automaton.add_word(key, tuple(probes))
        if len(automaton):
            automaton.make_automaton()
            self._automaton = automaton

    def __len__(self) -> int:
        return len(self._terms)

    def scan(self, doc: PreparedDocument, capitalised: Callable[[int], bool]) -> Hits:
        """Term id -> where it occurs; ``capitalised(index)`` vets skeleton-only matches."""
        hits: Hits = {}
        if self._automaton is None:
            return hits
        haystack = doc.haystack
        seen: set[tuple[int, int]] = set()
        for end, probes in self._automaton.iter(haystack):
            for term, anchored, length in probes:
                if anchored:
                    start = end - length + 2
                else:  # a fuzzy piece, anywhere in a word; several may hit the same word
                    start = haystack.rfind(" ", 0, end) + 1
                    if (term.id, start) in seen:
                        continue
                    seen.add((term.id, start))
                rule = term.words[term.anchor_at]
                shape = haystack[start : haystack.find(" ", end)]
                if rule.mode in _SHAPED and shape not in rule.skeletons(doc.kind):
                    continue  # cheap rejection before the word is looked up
                index = haystack.count(" ", 0, start) - 1
                found = _verify(term, index, doc, capitalised)
                if found is not None:
                    hits.setdefault(term.id, []).append(found)
        return hits


def _verify(
    term: IndexedTerm, index: int, doc: PreparedDocument, capitalised: Callable[[int], bool]
) -> tuple[int, int] | None:
    """The word span of ``term`` when its anchor word sits at ``index``, else None."""
    first = index - term.anchor_at
    last = first + len(term.words) - 1
    words = doc.words
    if first < 0 or last >= len(words):
        return None
    if first <= doc.title_count <= last:  # never across the title/text boundary
        return None
    for offset, rule in enumerate(term.words):
        word = words[first + offset]
        verdict = rule.accepts(word, SKELETONS[word], doc.kind)
        if verdict == REJECTED:
            return None
        if verdict == CAPITALISED and not capitalised(first + offset):
            return None
    return (first, last)


def index_terms(rules: Iterable[Sequence[WordRule]]) -> tuple[TermIndex, list[IndexedTerm]]:
    """Convenience for tests and benchmarks: index these terms and build."""
    index = TermIndex()
    terms = [index.add(words) for words in rules]
    index.build()
    return index, terms
