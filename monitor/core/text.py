"""Folding and tokenisation: the one comparison form shared by watchlists and items.

``fold`` turns any text into lower-case ASCII words separated by single spaces:
Unicode compatibility forms (NFKC: ligatures, full-width letters, superscripts) become
plain letters, case is folded, diacritics go, and other scripts are transliterated
with anyascii (Кириенко -> kirienko, Старлинк -> starlink). Everything that is not a
letter or a digit (punctuation, apostrophes, hyphens, "#", "_") separates words, so
"Starlink-nya" -> "starlink nya", "Musk's" -> "musk s", "#Starlink" -> "starlink",
"ke-Starlink" -> "ke starlink". Combining marks, the soft hyphen and zero-width
joiners are dropped without splitting the word; each CJK ideograph, kana or Hangul
syllable is a word of its own.

``tokenize`` yields the same words with their character spans in the original text
(for highlighting); ``" ".join(t.folded for t in tokenize(s)) == fold(s)`` always holds.
Attached clitics ("Starlinknya") and inflection ("Пескова") are not cut here: the
matcher accepts them as endings of a watchlist term (see monitor.core.variants).

Pure and fast: ASCII goes through ``str.translate`` in C; runs of other characters
are folded once each by a codec error handler ("monitor.fold", registered at import)
and memoised. No I/O, no clock. The table and the memo are process-wide.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Iterator
from itertools import accumulate
from typing import NamedTuple

from anyascii import anyascii

# Characters that vanish inside a word instead of splitting it.
_JOINER_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x0300, 0x036F),  # combining diacritical marks
    (0x0483, 0x0489),  # combining Cyrillic marks
    (0x0591, 0x05C7),  # Hebrew points
    (0x0610, 0x061A),  # Arabic marks
    (0x064B, 0x065F),  # Arabic harakat
    (0x0670, 0x0670),
    (0x1AB0, 0x1AFF),  # combining diacritical marks extended
    (0x1DC0, 0x1DFF),  # combining diacritical marks supplement
    (0x200C, 0x200D),  # zero-width non-joiner, joiner
    (0x2060, 0x2060),  # word joiner
    (0x20D0, 0x20FF),  # combining marks for symbols
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFE20, 0xFE2F),  # combining half marks
    (0xFEFF, 0xFEFF),  # zero-width no-break space (BOM)
)
# Scripts written without spaces: one word per character.
_SPACED_RANGES: tuple[tuple[int, int], ...] = (
    (0x1100, 0x11FF),  # Hangul jamo
    (0x3040, 0x30FF),  # hiragana, katakana
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3134F),  # CJK extensions B..G
)
# Where anyascii's general table is not what cross-language matching needs.
_OVERRIDES: dict[str, str] = {
    "є": "e",  # Ukrainian є is Russian е: Пєсков = Песков, Кирієнко = Кириенко
    "Є": "e",
}
_CYRILLIC = re.compile("[\u0400-\u052f]")


def _in_ranges(code: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= code <= high for low, high in ranges)


def _fold_char(code: int) -> str:
    """The folded form of one character: letters/digits, "" (joiner) or " " (separator)."""
    char = chr(code)
    if char.isascii():
        return char.lower() if char.isalnum() else " "
    if char in _OVERRIDES:
        return _OVERRIDES[char]
    if _in_ranges(code, _JOINER_RANGES):
        return ""
    if not char.isalnum():
        return " "
    latin = anyascii(unicodedata.normalize("NFKC", char)).lower()
    folded = "".join(c for c in latin if c.isascii() and c.isalnum())
    if _in_ranges(code, _SPACED_RANGES):
        return f" {folded} "
    return folded


# ``str.translate`` table, filled on first sight of each character (a plain dict is
# markedly faster in ``translate`` than a dict subclass with ``__missing__``).
_TABLE: dict[int, str] = {code: _fold_char(code) for code in range(128)}


def _translate(text: str) -> str:
    """``text`` through the table, after adding the characters it has never seen."""
    folded = text.translate(_TABLE)
    if not folded.isascii():  # unknown characters came through unchanged
        for char in set(folded):
            if char > "\x7f":
                _TABLE[ord(char)] = _fold_char(ord(char))
        folded = text.translate(_TABLE)
    return folded


_JOINER_CLASS = "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in _JOINER_RANGES)
# A run of characters that fold to letters/digits (or vanish inside a word); "_" is
# replaced by a space before this runs, so \w needs no exception for it.
_RUN_SPLIT = re.compile(f"([\\w{_JOINER_CLASS}]+)")
_ENCODE_ERRORS = "monitor.fold"
_RUN_MEMO: dict[str, str] = {}
_RUN_MEMO_LIMIT = 100_000


def _fold_unencodable(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: the folded form of a run of non-ASCII characters."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    run = error.object[error.start : error.end]
    folded = _RUN_MEMO.get(run)
    if folded is None:
        if len(_RUN_MEMO) >= _RUN_MEMO_LIMIT:
            _RUN_MEMO.clear()
        folded = _RUN_MEMO[run] = _translate(run)
    return folded, error.end


codecs.register_error(_ENCODE_ERRORS, _fold_unencodable)


def _fold_chars(text: str) -> str:
    """Every character folded, words not yet split (ASCII stays on the C fast path)."""
    if text.isascii():
        return text.translate(_TABLE)
    if len(text.encode("utf-8")) - len(text) > len(text) // 4:  # mostly another script
        return _translate(text)
    # Latin text with a few other characters: the runs of non-ASCII characters go
    # through the table once each (memoised), the rest stays on the ASCII fast path.
    return text.encode("ascii", _ENCODE_ERRORS).decode("ascii").translate(_TABLE)


def fold(text: str) -> str:
    """Lower-case ASCII words separated by single spaces (see the module docstring)."""
    return " ".join(_fold_chars(text).split())


def fold_words(text: str) -> list[str]:
    """The words of ``fold(text)``, as a list."""
    return _fold_chars(text).split()


def has_cyrillic(text: str) -> bool:
    """True when ``text`` contains a Cyrillic letter (Russian, Ukrainian ... inflection)."""
    return not text.isascii() and _CYRILLIC.search(text) is not None


class Token(NamedTuple):
    """One folded word and where it came from in the original text (``text[start:end]``)."""

    folded: str
    start: int
    end: int

    def is_capitalised(self, text: str) -> bool:
        """The original word starts with a capital (or with a letter that has no case)."""
        first = text[self.start : self.end].lstrip("\u00ad\u200c\u200d\u2060\ufeff")
        return bool(first) and not first[0].islower()


def tokenize(text: str) -> list[Token]:
    """The words of ``fold(text)`` with their character spans in ``text``."""
    return [Token(folded, start, end) for folded, start, end in _words(text)]


def token_bounds(text: str) -> list[int]:
    """Flat ``[start0, end0, start1, end1, ...]`` of the spans of ``tokenize(text)``."""
    return [edge for _, start, end in _words(text) for edge in (start, end)]


def _words(text: str) -> Iterator[tuple[str, int, int]]:
    pieces = _RUN_SPLIT.split(text.replace("_", " "))  # separator, run, separator, ...
    offsets = list(accumulate(map(len, pieces)))
    for index in range(1, len(pieces), 2):
        run = pieces[index]
        start = offsets[index - 1]
        if run.isascii():
            yield run.lower(), start, offsets[index]
            continue
        folded = _fold_chars(run)
        if folded and " " not in folded:
            yield folded, start, offsets[index]
        elif folded.strip():
            yield from _split_run(text, start, offsets[index])


def fold_chars(text: str) -> str:
    """``text`` folded character by character, words not yet split or joined.

    ``fold_chars(text).split() == fold_words(text)``; when ``is_aligned(text)``, it has
    the length of ``text`` and an offset in it is an offset in ``text``.
    """
    return _fold_chars(text)


def is_aligned(text: str) -> bool:
    """Every character of ``text`` folds to exactly one character (not Щ, ß, ...)."""
    if text.isascii():
        return True
    return all(len(_translate(char)) == 1 for char in set(text) if char > "\x7f")


def word_bounds(text: str) -> list[int]:
    """Flat ``[start0, end0, start1, end1, ...]`` of the letter runs of ``text``.

    Cheaper than ``token_bounds`` (C only). The runs are the words of ``fold(text)``
    unless a run folds to nothing or to several words (spaced scripts): callers compare
    the count and fall back to ``token_bounds``.
    """
    pieces = _RUN_SPLIT.split(text.replace("_", " "))
    return list(accumulate(map(len, pieces)))[:-1]


def _split_run(text: str, start: int, end: int) -> Iterator[tuple[str, int, int]]:
    """A run that folds to several words: cut it where the folded form has spaces."""
    pieces: list[str] = []
    first = -1
    last = -1
    for index in range(start, end):
        folded = _translate(text[index])
        if not folded and pieces:  # a joiner stays inside the word
            last = index + 1
        for number, part in enumerate(folded.split(" ")):
            if number and pieces:  # a space in the folded form closes the word so far
                yield "".join(pieces), first, last
                pieces = []
            if part:
                if not pieces:
                    first = index
                pieces.append(part)
                last = index + 1
    if pieces:
        yield "".join(pieces), first, last
