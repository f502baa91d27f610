"""Where a match is in the original item: character spans and a keyword-in-context snippet.

The matcher works on folded words; this module maps word indexes back to the original
title and text, lazily and only for items that matched or need a capitalisation check:
through the folded characters where they line up one for one with the original (most
Latin text), else through the token spans of monitor.core.text. It also cuts a short
snippet around the first hit. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.core.models import Span
from monitor.core.term_index import PreparedDocument
from monitor.core.text import Token, fold_chars, token_bounds, word_bounds

SNIPPET_WIDTH = 160  # characters around the first hit, at most
_ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a watchlist did or did not match one item (``monitor match`` prints it)."""

    watchlist: str
    matched: bool
    terms: tuple[str, ...] = ()
    snippet: str = ""
    spans: tuple[Span, ...] = ()
    reason: str = ""
    highlights: tuple[tuple[int, int], ...] = ()  # offsets of the hits in ``snippet``

    def as_json(self) -> dict[str, object]:
        """The ``monitor match --json`` line for this watchlist."""
        return {
            "watchlist": self.watchlist,
            "matched": self.matched,
            "terms": list(self.terms),
            "snippet": self.snippet,
        }


class Locator:
    """Original-text positions of one prepared item's words, computed on first use.

    Where every character of a field folds to exactly one (most Latin text), offsets in
    the folded characters are offsets in the original, and a word is found by counting
    its earlier occurrences; otherwise the field is tokenised once.
    """

    def __init__(self, doc: PreparedDocument) -> None:
        self.doc = doc
        self._bounds: dict[str, list[int]] = {}
        # (field, word) -> (index, occurrences before it, offset) of the last word located
        self._cursor: dict[tuple[str, str], tuple[int, int, int]] = {}

    def locate(self, index: int) -> tuple[str, int, int] | None:
        """Field, start and end of folded word ``index`` (None for the separator)."""
        doc = self.doc
        title_count = doc.title_count
        if index == title_count:
            return None
        in_title = index < title_count
        field = "title" if in_title else "text"
        first = 0 if in_title else title_count + 1
        text = doc.document.title if in_title else doc.document.text
        chars = doc.title_chars if in_title else doc.text_chars
        if len(chars) == len(text):
            found = self._find(field, index, first, chars)
            if found is not None and (
                text.isascii() or fold_chars(text[found[0] : found[1]]) == doc.words[index]
            ):
                return (field, found[0], found[1])
        bounds = self._field_bounds(field)
        position = index - first
        return (field, bounds[2 * position], bounds[2 * position + 1])

    def _find(self, field: str, index: int, first: int, chars: str) -> tuple[int, int] | None:
        """Offsets of word ``index`` in the folded characters of its field."""
        words = self.doc.words
        word = words[index]
        previous = self._cursor.get((field, word))
        if previous is not None and previous[0] <= index:
            done, rank, offset = previous
            skip = words[done:index].count(word) - 1  # occurrences strictly between
            rank += skip + 1
        else:
            skip = rank = words[first:index].count(word)
            offset = -1
        found = _find_word(chars, word, skip, offset + 1)
        if found is None:
            return None
        self._cursor[(field, word)] = (index, rank, found)
        return (found, found + len(word))

    def _field_bounds(self, field: str) -> list[int]:
        """Flat [start, end, ...] of the field's folded words in its original text."""
        found = self._bounds.get(field)
        if found is None:
            doc = self.doc
            text = doc.document.title if field == "title" else doc.document.text
            count = doc.title_count if field == "title" else len(doc.words) - doc.title_count - 1
            found = word_bounds(text)
            if len(found) != 2 * count:  # a run folded to no word or to several
                found = token_bounds(text)
            self._bounds[field] = found
        return found

    def capitalised(self, index: int) -> bool:
        """The original word at ``index`` starts with a capital letter (or has no case)."""
        found = self.locate(index)
        if found is None:
            return False
        field, start, end = found
        source = self.doc.document.title if field == "title" else self.doc.document.text
        return Token("", start, end).is_capitalised(source)

    def span(self, first: int, last: int) -> Span | None:
        """The character span of folded words ``first..last`` in the original field."""
        start = self.locate(first)
        end = start if last == first else self.locate(last)
        if start is None or end is None or start[0] != end[0]:
            return None
        return Span(start[0], start[1], end[2])

    def spans(self, positions: list[tuple[int, int]]) -> list[Span]:
        """``span`` for each position, in order of position, without duplicates."""
        found: list[Span] = []
        for first, last in sorted(positions):
            span = self.span(first, last)
            if span is not None and span not in found:
                found.append(span)
        return found

    def snippet(self, spans: tuple[Span, ...]) -> tuple[str, tuple[tuple[int, int], ...]]:
        """Keyword in context: the text around the first hit in the text (else the title),
        with the offsets in the snippet of every hit it shows; without hits (a ``source:``
        or ``lang:`` query), the title or the start of the text."""
        document = self.doc.document
        if not spans:
            return keyword_in_context(document.title or document.text, 0, 0), ()
        in_text = [span for span in spans if span.field == "text"]
        span = min(in_text or spans, key=lambda s: s.start)
        source = document.text if span.field == "text" else document.title
        same_field = [(s.start, s.end) for s in spans if s.field == span.field]
        return highlighted_context(source, span.start, span.end, same_field)


def _find_word(chars: str, word: str, skip: int, start: int = 0) -> int | None:
    """Offset of the whole-word occurrence of ``word`` in ``chars`` that comes after
    ``skip`` others (counting from ``start``)."""
    position = start - 1
    size = len(chars)
    while True:
        position = chars.find(word, position + 1)
        if position == -1:
            return None
        end = position + len(word)
        if (position == 0 or chars[position - 1] == " ") and (end == size or chars[end] == " "):
            if skip == 0:
                return position
            skip -= 1


def keyword_in_context(text: str, start: int, end: int, width: int = SNIPPET_WIDTH) -> str:
    """About ``width`` characters of ``text`` around ``text[start:end]``, cut at spaces."""
    return highlighted_context(text, start, end, [], width)[0]


def highlighted_context(
    text: str,
    start: int,
    end: int,
    hits: list[tuple[int, int]],
    width: int = SNIPPET_WIDTH,
) -> tuple[str, tuple[tuple[int, int], ...]]:
    """``keyword_in_context`` plus the snippet offsets of the ``hits`` (text offsets) it shows."""
    room = max(width - (end - start), 20)
    before = min(room // 2, start)  # context the start of the text leaves unused goes after
    after = min(room - before, len(text) - end)
    before = min(room - after, start)  # and the other way round
    left = start - before
    right = end + after
    if left > 0:
        cut = text.find(" ", left, start)
        left = cut + 1 if cut != -1 else left
    if right < len(text):
        cut = text.rfind(" ", end, right)
        right = cut if cut != -1 else right
    prefix = _ELLIPSIS if left > 0 else ""
    suffix = _ELLIPSIS if right < len(text) else ""
    parts: list[str] = []
    marks: list[tuple[int, int]] = []
    size = 0
    position = left
    for hit_start, hit_end in sorted(h for h in hits if left <= h[0] and h[1] <= right):
        if hit_start < position:
            continue  # overlaps the previous hit
        for piece, is_hit in ((text[position:hit_start], False), (text[hit_start:hit_end], True)):
            piece = _collapse(piece, first=size == 0)
            if is_hit:
                marks.append((size, size + len(piece)))
            parts.append(piece)
            size += len(piece)
        position = hit_end
    parts.append(_collapse(text[position:right], first=size == 0))
    body = "".join(parts).rstrip()
    shift = len(prefix)
    return f"{prefix}{body}{suffix}", tuple((a + shift, b + shift) for a, b in marks)


def _collapse(piece: str, *, first: bool) -> str:
    """Whitespace runs become one space (none at the very start of the snippet)."""
    collapsed = " ".join(piece.split())
    if not collapsed:
        return "" if first or not piece else " "
    lead = " " if piece[:1].isspace() and not first else ""
    trail = " " if piece[-1:].isspace() else ""
    return f"{lead}{collapsed}{trail}"
