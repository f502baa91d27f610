"""Article page -> main text: trafilatura for the extraction, then our boilerplate filter.

``extract_article(body, url=..., headers=...)`` takes the bytes (or text) of an article
page that the caller already fetched (through the project's Fetcher: caps, deadline,
per-host limits) and returns an ``Article``: the main text without boilerplate, the
title when the page has one, the ``method`` used and, when extraction failed, the
``problem`` (a short word the pipeline records; it keeps the feed text then):

    too large   more bytes or more tags than ``max_bytes`` / ``max_tags``
    not html    a non-HTML content type (PDF, image, JSON ...) or bytes that are no markup
    timeout     extraction took longer than ``timeout_s`` (its thread is abandoned)
    empty       trafilatura found no main text (a home page, a login wall, an empty page)
    no article  the text reads like a list of headlines, not prose (a home or section
                page, e.g. after a consent or paywall redirect): see ``reads_like_prose``
    too short   fewer than ``min_words`` words were left (the text is still returned)
    error       trafilatura raised (a bug on a strange page; the message is logged)

Pathological pages are bounded twice: by size and tag count before parsing (a page
of 100,000 links takes trafilatura about 8 s) and by a deadline on a worker thread.

Charset: the Content-Type header wins, then a ``<meta charset>`` in the first 2 KiB,
then UTF-8, then trafilatura's own detection. This module must not fetch anything and
must not match watchlists; it only turns a page into text.
"""

from __future__ import annotations

import codecs
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import trafilatura
from trafilatura.utils import decode_file

from monitor.core.boilerplate import strip_boilerplate
from monitor.logs import get_logger

log = get_logger("monitor.article")

MAX_PAGE_BYTES = 8_000_000  # an article page above this is not worth the CPU
MAX_TAGS = 150_000  # count of "<": real news pages have a few thousand
EXTRACT_TIMEOUT_S = 5.0  # real pages take 20-30 ms, 100 ms at most (bench/eval_extraction)
MIN_WORDS = 25  # fewer words than this is no article
MIN_PROSE_SHARE = 0.1  # share of characters in prose lines below which it is a listing
PROSE_LINE_CHARS = 200  # a line this long counts as prose even without a final stop

FALLBACK_WORDS = 50  # a pass leaving fewer words than this is retried with the next

# trafilatura options, chosen with `python -m bench.eval_extraction --grid`. Precision
# mode drops related-story lists that balanced mode keeps, but now and then it drops
# nearly the whole article (1 word of 368 on one benchmark page): then the balanced pass
# runs. With the filter, 4-shingle F1 on the extraction benchmark: balanced 0.968,
# precision alone 0.964, precision then balanced 0.975; on the Indonesian pages 0.867,
# 0.910 and 0.926. Comments, deduplication (a process-wide cache: it would drop text
# seen on earlier pages) and metadata other than the title are not wanted.
_COMMON: Mapping[str, Any] = {
    "include_comments": False,
    "include_tables": True,
    "deduplicate": False,
}
PRECISE: Mapping[str, Any] = {
    **_COMMON,
    "favor_precision": True,
    "with_metadata": True,  # for the title; costs about 4 ms a page
    "date_extraction_params": {"extensive_search": False},
}
BALANCED: Mapping[str, Any] = {**_COMMON, "favor_precision": False}
PASSES: tuple[Mapping[str, Any], ...] = (PRECISE, BALANCED)

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/xml", "application/xml"})
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_MARKUP = re.compile(
    r"<\s*(?:!doctype|html|head|body|meta|title|div|p|article|main|section|span|a)\b",
    re.IGNORECASE,
)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_WORD = re.compile(r"\w+")
# Sentence-final punctuation (Latin, Cyrillic, CJK, Devanagari, Arabic, Urdu), optionally
# followed by closing quotes or brackets.
_SENTENCE_END = re.compile(r"[.!?…。！？।؟۔][\"'”’»)\]]*\s*$")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Article:
    """The main text of an article page, or why there is none (``problem``)."""

    text: str
    title: str | None = None
    method: str = "none"  # e.g. "trafilatura-precision+boilerplate"; "none" = not attempted
    problem: str | None = None
    removed: tuple[str, ...] = ()  # boilerplate rules that fired, in order (for explanations)

    @property
    def ok(self) -> bool:
        return self.problem is None


class _Timeout(Exception):
    pass


def _for_log(url: str | None) -> str | None:
    """The URL without its query string, which may carry secrets."""
    return url.split("?", 1)[0].split("#", 1)[0] if url else url


def _failed(problem: str, *, method: str = "none") -> Article:
    return Article(text="", method=method, problem=problem)


def _media_type(headers: Mapping[str, str] | None) -> tuple[str | None, str | None]:
    """(media type, charset) from a Content-Type header, if any."""
    if not headers:
        return None, None
    value = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    media = value.split(";", 1)[0].strip().lower() or None
    found = _HEADER_CHARSET.search(value)
    return media, found.group(1) if found else None


def _known_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_page(body: bytes | str, headers: Mapping[str, str] | None = None) -> str:
    """Page bytes -> text: header charset, else <meta charset>, else UTF-8, else detection."""
    if isinstance(body, str):
        return body
    _, charset = _media_type(headers)
    codec = _known_codec(charset)
    if codec is None:
        meta = _META_CHARSET.search(body[:2048])
        codec = _known_codec(meta.group(1).decode("ascii", "ignore") if meta else None)
    if codec is not None:
        return body.decode(codec, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return decode_file(body)


def _looks_like_html(text: str) -> bool:
    head = text[:65536]
    return bool(_MARKUP.search(head)) and head.count("\x00") == 0


def _with_deadline(work: Callable[[], T], timeout_s: float | None) -> T:
    """Run ``work`` on a daemon thread and wait at most ``timeout_s`` for it.

    A CPU-bound parse cannot be interrupted: on timeout the thread is left to finish
    on its own (the size and tag caps bound how long that takes) and _Timeout is raised.
    """
    if timeout_s is None:
        return work()
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=run, name="article-extract", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise _Timeout
    if failure:
        raise failure[0]
    return outcome[0]


def _pass_name(options: Mapping[str, Any]) -> str:
    if options.get("favor_precision"):
        return "trafilatura-precision"
    if options.get("favor_recall"):
        return "trafilatura-recall"
    return "trafilatura-balanced"


def _extract(
    html: str,
    url: str | None,
    passes: Sequence[Mapping[str, Any]],
    clean: bool,
    language: str | None,
) -> Article:
    """Run the passes in order until one leaves at least FALLBACK_WORDS words."""
    best: Article | None = None
    title: str | None = None
    for options in passes:
        document = trafilatura.bare_extraction(html, url=url, **options)
        if document is None:
            continue
        found = document if isinstance(document, dict) else document.as_dict()
        title = title or str(found.get("title") or "").strip() or None
        raw = _CONTROL.sub("", str(found.get("text") or "")).strip()
        if clean:
            cleaned = strip_boilerplate(
                raw, title=title, languages=[language] if language else None
            )
            text, removed = cleaned.text, tuple(r.rule for r in cleaned.removed)
            method = _pass_name(options) + "+boilerplate"
        else:
            text, removed, method = raw, (), _pass_name(options)
        result = Article(text=text, title=title, method=method, removed=removed)
        if best is None or _words(result.text) > _words(best.text):
            best = result
        if _words(best.text) >= FALLBACK_WORDS:
            break
    if best is None:
        return Article(text="", title=title, method=_pass_name(passes[-1]), problem="empty")
    return best if best.title else replace(best, title=title)


def _words(text: str) -> int:
    return len(_WORD.findall(text))


def reads_like_prose(text: str) -> bool:
    """False for a list of headlines: under MIN_PROSE_SHARE of the characters are in lines
    that end like a sentence or are at least PROSE_LINE_CHARS long. Table rows ("| ... |")
    are not judged, nor are texts of fewer than five other lines."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("|")]
    if len(lines) < 5:
        return True
    total = sum(len(line) for line in lines)
    prose = sum(
        len(line) for line in lines if len(line) >= PROSE_LINE_CHARS or _SENTENCE_END.search(line)
    )
    return prose >= MIN_PROSE_SHARE * total


def extract_article(
    body: bytes | str,
    *,
    url: str | None = None,
    headers: Mapping[str, str] | None = None,
    language: str | None = None,
    clean: bool = True,
    max_bytes: int = MAX_PAGE_BYTES,
    max_tags: int = MAX_TAGS,
    timeout_s: float | None = EXTRACT_TIMEOUT_S,
    min_words: int = MIN_WORDS,
    passes: Sequence[Mapping[str, Any]] = PASSES,
) -> Article:
    """Extract the main text of an article page; never raises for a bad page.

    ``headers``: the response headers (any case); only Content-Type is read.
    ``language``: the feed's language, to pick boilerplate rules (None = all languages).
    ``clean=False`` skips the boilerplate filter and ``passes`` replaces the trafilatura
    option sets (both for evaluation).
    """
    if len(body) > max_bytes:
        return _failed("too large")
    media, _ = _media_type(headers)
    if media is not None and media not in HTML_TYPES:
        return _failed("not html")
    html = decode_page(body, headers)
    if not _looks_like_html(html):
        return _failed("not html")
    if html.count("<") > max_tags:
        return _failed("too large")
    try:
        article = _with_deadline(lambda: _extract(html, url, passes, clean, language), timeout_s)
    except _Timeout:
        log.warning("article extraction timed out", url=_for_log(url), timeout_s=timeout_s)
        return _failed("timeout", method="trafilatura")
    except Exception:
        log.exception("article extraction failed", url=_for_log(url))
        return _failed("error", method="trafilatura")
    if article.problem is None and not article.text:
        return replace(article, problem="empty")
    if article.problem is None and _words(article.text) < min_words:
        return replace(article, problem="too short")
    if article.problem is None and not reads_like_prose(article.text):
        return replace(article, problem="no article")
    return article


def load_article(path: str | Path, url: str | None = None) -> Article:
    """``extract_article`` on a saved page (bytes read from ``path``)."""
    return extract_article(Path(path).read_bytes(), url=url)


def extract_file(path: str | Path, url: str | None = None) -> str:
    """The main text of a saved HTML page, for ``monitor extract FILE.html [--url URL]``.

    Returns "" when nothing could be extracted; ``load_article`` says why.
    """
    return load_article(path, url).text
