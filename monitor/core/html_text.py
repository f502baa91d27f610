"""HTML fragment -> plain text, for titles, summaries and content taken from feeds.

Block elements (p, div, li, h1-h6, br, tr, ...) become line breaks, script/style and
similar non-text subtrees are dropped, entities are decoded, whitespace inside a line is
collapsed to single spaces and empty lines are removed. NUL, other control characters,
lone surrogates and XML non-characters are removed (PostgreSQL rejects NUL).

`clean_text` does the same character and whitespace cleaning for a string that is
already plain text. Neither function ever raises, whatever the input (binary junk,
unbalanced markup, huge strings): on a parser failure the fallback strips tags with a
regular expression.

Pure: no network, no files, no clock. The output is plain text and must never be
rendered as markup; escaping for a channel is the renderer's job.
"""

from __future__ import annotations

import html
import re
import threading

from lxml import etree

# Characters no output field may carry: C0 controls except tab/newline/CR, DEL, C1
# controls, lone surrogates, the BOM / zero-width no-break space and two non-characters.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufeff\ufffe\uffff]")
_TAG_RE = re.compile(r"<[^>]*>?")
# A script or style element up to its end tag, or to the end of the text when unclosed.
_SCRIPT_BLOCK_RE = re.compile(r"<(script|style)\b.*?(?:</\1\s*>|$)", re.IGNORECASE | re.DOTALL)
_BREAK = "\x00"  # never survives input cleaning, so it can mark block boundaries

# Text above this size is cut before parsing: a feed item is never this long, and the
# cap bounds time and memory on hostile input.
MAX_INPUT_CHARS = 4_000_000

BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "br", "caption", "center",
        "dd", "details", "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption",
        "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup",
        "hr", "html", "li", "main", "menu", "nav", "ol", "p", "pre", "section", "summary",
        "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
DROPPED_TAGS = frozenset(
    {
        "script", "style", "noscript", "template", "head", "title", "iframe", "object",
        "embed", "svg", "math", "canvas", "audio", "video", "map", "select", "textarea",
    }
)  # fmt: skip

_local = threading.local()


def _parser() -> etree.HTMLParser:
    """One lxml HTML parser per thread (lxml parsers must not be used concurrently)."""
    parser: etree.HTMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.HTMLParser(
            encoding="utf-8",
            remove_comments=True,
            remove_pis=True,
            no_network=True,
            recover=True,
            huge_tree=True,
            default_doctype=False,
        )
        _local.parser = parser
    return parser


def strip_control(text: str) -> str:
    """Remove NUL, control characters, lone surrogates and non-characters."""
    return _CONTROL_RE.sub("", text)


def _collapse(text: str) -> str:
    """Collapse whitespace in each block; `_BREAK` separates blocks; drop empty lines.

    Each block is cleaned of control characters after the split, since entity decoding
    inside the HTML parser may have produced some.
    """
    lines = (" ".join(_CONTROL_RE.sub("", chunk).split()) for chunk in text.split(_BREAK))
    return "\n".join(line for line in lines if line)


def clean_text(text: str) -> str:
    """Plain text -> the same text without control characters, whitespace collapsed.

    Line breaks are kept as single newlines (empty lines dropped); every other run of
    whitespace becomes one space.
    """
    text = strip_control(text)
    return _collapse(text.replace("\r", "\n").replace("\n", _BREAK))


def clean_line(text: str) -> str:
    """Plain text -> one line: control characters removed, all whitespace collapsed."""
    return " ".join(strip_control(text).split())


def html_to_text(markup: str) -> str:
    """An HTML fragment (or a whole page) -> plain text with one line per block."""
    if not markup:
        return ""
    markup = strip_control(markup[:MAX_INPUT_CHARS])
    if "<" not in markup:
        if "&" in markup:
            markup = strip_control(html.unescape(markup))
        return " ".join(markup.split())
    # Belt and braces: a script or style block goes whatever the parser makes of the
    # markup around it (libxml2 reads "</<script>" as junk and keeps the code as text).
    markup = _SCRIPT_BLOCK_RE.sub(" ", markup)
    parser = _parser()
    try:
        root = etree.fromstring(markup.encode("utf-8", "replace"), parser)
    except Exception:  # lxml raises several types on junk; the fallback handles all
        root = None
    if root is None or _gave_up(parser):
        return _fallback(markup)
    try:
        text = _walk(root)
    except Exception:  # defensive: the walk must never take the pipeline down
        return _fallback(markup)
    return _collapse(text)


def _gave_up(parser: etree.HTMLParser) -> bool:
    """Whether libxml2 stopped early (e.g. nesting deeper than its limit): text was lost."""
    return any(error.level_name == "FATAL" for error in parser.error_log)


def _walk(root: etree._Element) -> str:
    """Concatenate text nodes in document order, with `_BREAK` around block elements."""
    parts: list[str] = []
    append = parts.append
    walker = etree.iterwalk(root, events=("start", "end"))
    for event, element in walker:
        tag = element.tag
        if not isinstance(tag, str):  # comment, processing instruction, entity
            if event == "end" and element.tail:
                append(element.tail)
            continue
        if event == "start":
            if tag in DROPPED_TAGS:
                walker.skip_subtree()
                continue
            if tag in BLOCK_TAGS:
                append(_BREAK)
            if element.text:
                append(element.text)
        else:
            if tag in BLOCK_TAGS:
                append(_BREAK)
            if element.tail:
                append(element.tail)
    return "".join(parts)


def _fallback(markup: str) -> str:
    """Regex tag stripping for input lxml could not parse: crude, but never raises."""
    text = html.unescape(_TAG_RE.sub(" ", _SCRIPT_BLOCK_RE.sub(" ", markup)))
    return " ".join(strip_control(text).split())
