"""Telegram messages for alerts and digests: HTML parse mode, cut to Telegram's limit.

A message is first built as a list of styled ``Piece``s: the text exactly as the reader
will see it, plus its style (bold, italic, link). Cutting works on those pieces, counted
in UTF-16 code units as Telegram counts them (4096 per message), and only afterwards is
each piece escaped and wrapped in its tags. So a cut never splits an entity (``&amp;``),
a tag or a surrogate pair, and the HTML and the plain-text fallback show the same text.

Text from feeds is data, never markup: control characters and bidirectional overrides
are removed (an RTL override in a title would reverse the lines after it), whitespace
is flattened, everything is escaped, and only http(s) URLs become links.

The text hygiene here (``clean_text``, ``clip``, ``snippet_parts``, ``group_by_watchlist``)
is shared with ``render_email``. Personal watchlists show their own name, without the
owner prefix they are compiled under. ``alert_buttons`` lays out the inline keyboard under
an alert (its callback data is encoded and signed by monitor.bot.buttons).
Pure: no network, no clock, no I/O.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.core.models import Alert, AlertMatch
from monitor.core.plan import display_watchlist

TELEGRAM_LIMIT = 4096  # visible characters per message, in UTF-16 code units
TITLE_LIMIT = 300
SNIPPET_LIMIT = 1000
NAMES_LIMIT = 300  # a line of watchlist or outlet names
DIGEST_SNIPPET_LIMIT = 200
OUTLETS_SHOWN = 12
ELLIPSIS = "…"

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# C0/C1 controls (tab and newline become spaces below), bidi embeddings, overrides and
# isolates, the BOM and interlinear annotation marks: formatting, never content.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff\ufff9-\ufffb]"
)
_WHITESPACE = re.compile(r"\s+")
# Characters that belong to the one before them: never end a cut just before one.
_JOINERS = frozenset("\u200d\ufe0e\ufe0f\u20e3")


@dataclass(frozen=True, slots=True)
class Piece:
    """A run of visible text with one style; ``link`` is an http(s) URL or None."""

    text: str
    bold: bool = False
    italic: bool = False
    link: str | None = None


@dataclass(frozen=True, slots=True)
class TelegramText:
    """One message: the HTML to send and the same visible text without markup."""

    html: str
    plain: str

    @property
    def length(self) -> int:
        """Visible length as Telegram counts it (UTF-16 code units)."""
        return utf16_len(self.plain)


NEWLINE = Piece("\n")


# -- text hygiene (shared with render_email) ---------------------------------------------


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: a character outside the BMP (most emoji) counts 2."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def clean_text(text: str) -> str:
    """Feed text made safe to lay out: no controls, no bidi overrides, one line.

    Lone surrogates become U+FFFD; every run of whitespace (newlines included) becomes
    one space. Leading and trailing spaces are kept (callers strip where a line ends).
    """
    text = _LONE_SURROGATE.sub("\ufffd", text)
    text = _INVISIBLE.sub("", text)
    return _WHITESPACE.sub(" ", text)


def _is_attached(char: str) -> bool:
    """True for a character that extends the one before it (combining mark, ZWJ, VS...)."""
    return (
        char in _JOINERS
        or unicodedata.combining(char) != 0
        or 0x1F3FB <= ord(char) <= 0x1F3FF  # skin tone modifiers
        or 0xE0020 <= ord(char) <= 0xE007F  # tag characters of flag sequences
    )


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-16 units, ending in an ellipsis when cut.

    Cuts between code points (never inside a surrogate pair), never just before a
    combining mark or joiner, and at a word boundary when one is near the end.
    """
    if utf16_len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    budget = limit - 1  # room for the ellipsis
    end = 0
    used = 0
    for char in text:
        width = 2 if ord(char) > 0xFFFF else 1
        if used + width > budget:
            break
        used += width
        end += 1
    while 0 < end < len(text) and (_is_attached(text[end]) or text[end - 1] == "\u200d"):
        end -= 1
    head = text[:end]
    space = head.rfind(" ")
    if space > 0 and len(head) - space <= max(10, len(head) // 6):
        head = head[:space]
    return head.rstrip() + ELLIPSIS


def safe_link(url: str | None) -> str | None:
    """The URL when it is a plain http(s) URL usable as a link, else None."""
    if not url:
        return None
    url = _INVISIBLE.sub("", _LONE_SURROGATE.sub("", url)).strip()
    if not url.lower().startswith(("http://", "https://")) or len(url) > 2048:
        return None
    if any(char.isspace() for char in url):
        return None
    return url


def zone(name: str) -> ZoneInfo:
    """The time zone called ``name``; UTC when the name is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(moment: datetime, timezone: str, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """``moment`` in the recipient's zone, e.g. '2026-11-26 11:47 WIB'."""
    return moment.astimezone(zone(timezone)).strftime(fmt)


def merged_highlights(length: int, highlights: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Highlight ranges clamped to ``[0, length]``, sorted, overlaps merged, empties dropped."""
    spans = sorted((max(0, start), min(length, end)) for start, end in highlights)
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def snippet_parts(snippet: str, highlights: Iterable[tuple[int, int]]) -> list[tuple[str, bool]]:
    """The snippet as (text, is_hit) runs, each cleaned; the ends stripped.

    Highlights are offsets into the raw snippet, so the split comes before cleaning.
    """
    parts: list[tuple[str, bool]] = []
    position = 0
    for start, end in merged_highlights(len(snippet), highlights):
        if start > position:
            parts.append((snippet[position:start], False))
        parts.append((snippet[start:end], True))
        position = end
    if position < len(snippet):
        parts.append((snippet[position:], False))
    cleaned = [(clean_text(text), hit) for text, hit in parts]
    if cleaned:
        cleaned[0] = (cleaned[0][0].lstrip(), cleaned[0][1])
        cleaned[-1] = (cleaned[-1][0].rstrip(), cleaned[-1][1])
    return [(text, hit) for text, hit in cleaned if text]


def snippet_groups(
    matches: Sequence[AlertMatch],
) -> list[tuple[tuple[str, ...], str, list[tuple[int, int]]]]:
    """Matches sharing one snippet merged: (watchlist names, snippet, highlights)."""
    groups: dict[str, tuple[list[str], list[tuple[int, int]]]] = {}
    for match in matches:
        if not match.snippet.strip():
            continue
        names, spans = groups.setdefault(match.snippet, ([], []))
        names.append(display_watchlist(match.watchlist))
        spans.extend(match.highlights)
    return [(tuple(names), snippet, spans) for snippet, (names, spans) in groups.items()]


def watchlist_names(alert: Alert) -> list[str]:
    """The alert's watchlist names, cleaned, in order, without repeats."""
    names = [clean_text(display_watchlist(m.watchlist)).strip() for m in alert.matches]
    return list(dict.fromkeys(name for name in names if name)) or ["(no watchlist)"]


def outlets_line(outlets: Sequence[str], shown: int = OUTLETS_SHOWN) -> str:
    """'A, B, C and 4 more' (names cleaned, repeats dropped)."""
    names = list(dict.fromkeys(clean_text(o).strip() for o in outlets if clean_text(o).strip()))
    line = ", ".join(names[:shown])
    if len(names) > shown:
        line += f" and {len(names) - shown} more"
    return clip(line, NAMES_LIMIT)


def headline(alert: Alert) -> str:
    return clip(clean_text(alert.title).strip() or "(untitled)", TITLE_LIMIT)


def group_by_watchlist(alerts: Sequence[Alert]) -> list[tuple[str, list[Alert]]]:
    """Each alert once, under its first watchlist; groups in order of first appearance."""
    groups: dict[str, list[Alert]] = {}
    for alert in alerts:
        groups.setdefault(watchlist_names(alert)[0], []).append(alert)
    return list(groups.items())


# -- pieces to text ------------------------------------------------------------------------


def pieces_length(pieces: Iterable[Piece]) -> int:
    return sum(utf16_len(piece.text) for piece in pieces)


def cut_pieces(pieces: Sequence[Piece], limit: int) -> list[Piece]:
    """The pieces whose visible text fits in ``limit`` units; the one at the cut is clipped."""
    kept: list[Piece] = []
    used = 0
    for piece in pieces:
        width = utf16_len(piece.text)
        if used + width <= limit:
            kept.append(piece)
            used += width
            continue
        room = limit - used
        if room >= 2:
            kept.append(replace(piece, text=clip(piece.text, room)))
        elif room == 1:
            kept.append(Piece(ELLIPSIS))
        break
    return kept


def to_html(pieces: Iterable[Piece]) -> str:
    """Telegram HTML: every piece escaped, then wrapped in its tags."""
    out: list[str] = []
    for piece in pieces:
        if not piece.text:
            continue
        text = html.escape(piece.text, quote=False)
        if piece.bold:
            text = f"<b>{text}</b>"
        if piece.italic:
            text = f"<i>{text}</i>"
        if piece.link:
            text = f'<a href="{html.escape(piece.link, quote=True)}">{text}</a>'
        out.append(text)
    return "".join(out)


def to_message(pieces: Sequence[Piece], limit: int = TELEGRAM_LIMIT) -> TelegramText:
    """Cut to ``limit`` visible units first, then escape: the message to send."""
    kept = cut_pieces(pieces, limit)
    return TelegramText(html=to_html(kept), plain="".join(piece.text for piece in kept))


# -- alerts --------------------------------------------------------------------------------


def _snippet_pieces(snippet: str, highlights: Iterable[tuple[int, int]], limit: int) -> list[Piece]:
    parts = [Piece(text, bold=hit) for text, hit in snippet_parts(snippet, highlights)]
    return cut_pieces(parts, limit)


def alert_pieces(alert: Alert, timezone: str) -> list[Piece]:
    """The alert laid out: watchlists, linked headline, source and time, snippets, outlets."""
    names = clip(" · ".join(watchlist_names(alert)), NAMES_LIMIT)
    source = clean_text(alert.source).strip() or "unknown source"
    pieces = [
        Piece("🔔 "),
        Piece(names, bold=True),
        NEWLINE,
        Piece(headline(alert), bold=True, link=safe_link(alert.url)),
        NEWLINE,
        Piece(
            f"{clip(source, NAMES_LIMIT)} · {local_time(alert.published, timezone)}", italic=True
        ),
    ]
    groups = snippet_groups(alert.matches)
    for group_names, snippet, spans in groups:
        pieces += [NEWLINE, NEWLINE]
        if len(groups) > 1:
            label = clip(", ".join(clean_text(n).strip() for n in group_names), NAMES_LIMIT)
            pieces.append(Piece(f"{label}: ", italic=True))
        pieces += _snippet_pieces(snippet, spans, SNIPPET_LIMIT)
    if alert.also_reported_by:
        pieces += [NEWLINE, NEWLINE, Piece("Also reported by: ", italic=True)]
        pieces.append(Piece(outlets_line(alert.also_reported_by)))
    return pieces


def render_alert(
    alert: Alert, *, timezone: str = "UTC", limit: int = TELEGRAM_LIMIT
) -> TelegramText:
    """One alert as a Telegram message of at most ``limit`` visible units."""
    return to_message(alert_pieces(alert, timezone), limit)


# -- buttons -------------------------------------------------------------------------------

MUTE_STORY, MUTE_OUTLET, NOT_RELEVANT, ALL_SOURCES = "s", "o", "n", "a"
ALERT_BUTTONS: tuple[tuple[tuple[str, str], ...], ...] = (
    (("🔕 Mute this story", MUTE_STORY), ("🔇 Mute this outlet", MUTE_OUTLET)),
    (("👎 Not relevant", NOT_RELEVANT), ("📰 All sources", ALL_SOURCES)),
)


def alert_buttons(alert: Alert) -> tuple[tuple[tuple[str, str], ...], ...]:
    """Rows of (label, action) under an alert; none under an admin notice (no story)."""
    if alert.delivery_id <= 0 or alert.story_id <= 0:
        return ()
    return ALERT_BUTTONS


# -- digests -------------------------------------------------------------------------------


def _digest_entry(alert: Alert, timezone: str, day: str) -> list[Piece]:
    when = local_time(alert.published, timezone, "%Y-%m-%d %H:%M")
    if when.startswith(day):
        when = when[len(day) + 1 :]
    source = clip(clean_text(alert.source).strip() or "unknown source", NAMES_LIMIT)
    entry = [
        Piece("• "),
        Piece(headline(alert), bold=True, link=safe_link(alert.url)),
        Piece(f" — {source}, {when}", italic=True),
    ]
    if alert.also_reported_by:
        count = len(set(alert.also_reported_by))
        entry.append(Piece(f" (+{count} outlet{'s' if count != 1 else ''})", italic=True))
    first = next((m for m in alert.matches if m.snippet.strip()), None)
    if first is not None:
        entry += [NEWLINE, Piece("   ")]
        entry += _snippet_pieces(first.snippet, first.highlights, DIGEST_SNIPPET_LIMIT)
    others = watchlist_names(alert)[1:]
    if others:
        entry += [
            NEWLINE,
            Piece("   also in: " + clip(", ".join(others), NAMES_LIMIT), italic=True),
        ]
    return [*entry, NEWLINE]


def digest_title(count: int, reason: str) -> str:
    stories = f"{count} stor{'ies' if count != 1 else 'y'}"
    return f"{clean_text(reason).strip() or 'digest'}: {stories}"


def render_digest(
    alerts: Sequence[Alert],
    *,
    reason: str,
    period_start: datetime,
    period_end: datetime,
    timezone: str = "UTC",
    limit: int = TELEGRAM_LIMIT,
) -> list[TelegramText]:
    """A digest grouped by watchlist, split into several messages only at ``limit``."""
    if not alerts:
        return []
    day = local_time(period_end, timezone, "%Y-%m-%d")
    start = local_time(period_start, timezone, "%Y-%m-%d %H:%M")
    end = local_time(period_end, timezone, "%Y-%m-%d %H:%M %Z")
    header = [
        Piece("🗞 "),
        Piece(digest_title(len(alerts), reason), bold=True),
        NEWLINE,
        Piece(f"{start} – {end}", italic=True),
        NEWLINE,
    ]
    messages: list[list[Piece]] = []
    current: list[Piece] = list(header)
    entries = 0  # in the current message
    for name, members in group_by_watchlist(alerts):
        opened = False  # this group's heading is in the current message
        continued = False
        for alert in members:
            entry = _digest_entry(alert, timezone, day)
            need = pieces_length(entry) + (0 if opened else pieces_length(_heading(name, True)))
            if entries and pieces_length(current) + need > limit:
                messages.append(current)
                current, entries = [], 0
                continued, opened = opened, False
            if not opened:
                current += _heading(name, bool(current), continued=continued)
                opened = True
            current += entry
            entries += 1
    messages.append(current)
    return [to_message(message, limit) for message in messages]


def _heading(name: str, after_text: bool, *, continued: bool = False) -> list[Piece]:
    title = clip(f"{name} (continued)" if continued else name, NAMES_LIMIT)
    return [*([NEWLINE] if after_text else []), Piece(title, bold=True), NEWLINE]
