"""Feed bytes -> `ParsedFeed`: feedparser 6 for RSS/Atom/RDF, the stdlib for JSON Feed.

`parse_feed` hands feedparser the body as a byte stream (never a URL, path, str or bare
bytes: feedparser would fetch a URL and tries to open() anything else as a file name)
with the lower-cased response headers it uses for decoding (content-type,
content-language). Sanitising and relative-URI resolution inside HTML are off: we turn
HTML into plain text ourselves (`monitor.core.html_text`), and feedparser runs 1.1 to
4.3 times faster without them (`python -m bench.eval_parse`).

Before feedparser sees the bytes: control bytes XML forbids are removed (a NUL would
send feedparser to its lossy loose parser) and internal entity declarations are
dropped (`defuse_entities`: feedparser's loose parser expands "safe" entities without
limit). feedparser itself removes external and nested entity declarations (XXE,
billion laughs) and never loads external entities; the tests hold it to that.

Outcomes:
- a feed, even a malformed one: what feedparser recovered, normalised, with
  `ParsedFeed.problem` set to feedparser's complaint;
- an empty body, an HTML page, JSON that is no JSON Feed, or anything else with no
  entries and no feed format: `ParseError` with a message saying which.

Does not fetch, store or decide what is new (see `monitor.core.identity`).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from monitor.core.html_text import clean_line, html_to_text
from monitor.core.language import language_tag
from monitor.core.models import Feed, ParsedFeed
from monitor.core.normalise import as_utc, normalise_entries, resolve_link
from monitor.errors import ParseError

# The response headers feedparser reads while parsing bytes. Content-Location is left
# out on purpose: feedparser would resolve GUIDs against it; links are resolved later.
PARSER_HEADERS = ("content-type", "content-language")
# feedparser complaints that say nothing about the document itself.
_BENIGN = (feedparser.NonXMLContentType,)
MAX_TTL_MINUTES = 7 * 24 * 60
MAX_PROBLEM_CHARS = 300
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
_ENTITY_DECLARATION_RE = re.compile(rb"""<!ENTITY(?:"[^"]*"|'[^']*'|[^>"'])*>""")
_FIRST_ELEMENT_RE = re.compile(rb"<\w")
_WIDE_ENCODINGS = ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
_HTML_RE = re.compile(rb"<(!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.IGNORECASE)

# feedparser asks xml.sax for "drv_libxml2" (the libxml2 bindings) before expat on every
# parse; where the bindings are missing, as here, each failed import searches sys.path
# again (~50 us a parse). Expat is what parses then: ask for it alone.
feedparser.api.PREFERRED_XML_PARSERS = []


def parse_feed(
    body: bytes,
    headers: Mapping[str, str],
    *,
    feed: Feed,
    fetched_at: datetime,
    base_url: str | None = None,
) -> ParsedFeed:
    """Parse and normalise one fetched feed document.

    `headers` are the HTTP response headers (any case); `base_url` is where the body
    came from after redirects (default: `feed.url`), used to resolve relative links
    together with a Content-Location header. Raises `ParseError` for non-feeds.
    """
    if not body or body.isspace():
        raise ParseError("empty body: no feed document")
    lower = {key.lower(): value for key, value in headers.items()}
    base = _base_url(base_url or feed.url, lower.get("content-location"))
    header_language = language_tag(lower.get("content-language", "").split(",")[0])
    if _looks_like_json(body):
        return _parse_json_feed(body, feed=feed, fetched_at=fetched_at, base=base)
    body = defuse_entities(strip_control_bytes(body, lower.get("content-type", "")))
    result = _feedparser(body, lower)
    raw_entries: list[Mapping[str, Any]] = list(result.get("entries") or [])
    version = result.get("version") or ""
    problem = _problem(result)
    if not version and not raw_entries:
        raise ParseError(_not_a_feed(body, problem))
    if not version:
        problem = problem or "unknown feed format"
    channel: Mapping[str, Any] = result.get("feed") or {}
    language = (
        language_tag(channel.get("language"))
        or header_language
        or language_tag((channel.get("title_detail") or {}).get("language"))
    )
    entries = normalise_entries(
        raw_entries, feed=feed, feed_language=language, base_url=base, fetched_at=fetched_at
    )
    return ParsedFeed(
        title=" ".join(html_to_text(_string(channel.get("title"))).split()),
        link=resolve_link(_string(channel.get("link")), base),
        language=language,
        entries=tuple(entries),
        problem=problem,
        ttl_s=_ttl_seconds(channel.get("ttl")),
    )


def strip_control_bytes(body: bytes, content_type: str = "") -> bytes:
    """Remove C0 control bytes that XML forbids (NUL, BEL, BS, VT, FF, ESC ...).

    They make the strict XML parser give up and fall back to the lossy loose one. Left
    alone: tab, LF and CR; ESC in ISO-2022 documents (their escape sequences); and any
    body that may be UTF-16 or UTF-32 (a BOM or a NUL in its first four bytes), where
    NUL bytes are text.
    """
    head = body[:4]
    if b"\x00" in head or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return body
    if b"2022" in body[:200] or "2022" in content_type:
        return body.translate(None, _CONTROL_BYTES.replace(b"\x1b", b""))
    return body.translate(None, _CONTROL_BYTES)


def defuse_entities(body: bytes) -> bytes:
    """Remove internal entity declarations; refuse them in UTF-16/32 documents.

    feedparser keeps `<!ENTITY name "plain value">` declarations and, once expat stops
    at its amplification limit, its loose parser expands them without any limit: a
    100 KB document with one 100 KB entity used 1,000 times becomes 100 MB of text
    (quadratic blow-up). It also garbles them ("&nbsp;" declared as "&#160;" comes out
    as "&&#160;;"). Without declarations, HTML entity names still decode and any other
    reference stays literal. UTF-16/32 documents, which feedparser converts itself,
    are refused when they declare entities.
    """
    for encoding in _WIDE_ENCODINGS:
        if "<!ENTITY".encode(encoding) in body:
            raise ParseError("refused: entity declarations in a UTF-16/UTF-32 document")
    first_element = _FIRST_ELEMENT_RE.search(body)  # where feedparser's prolog ends too
    end = first_element.start() if first_element else len(body)
    if b"<!ENTITY" not in body[:end]:
        return body
    return _ENTITY_DECLARATION_RE.sub(b"", body[:end]) + body[end:]


def _feedparser(body: bytes, headers: Mapping[str, str]) -> Any:
    """feedparser on a byte stream with our settings; its exceptions become ParseError."""
    wanted = {key: headers[key] for key in PARSER_HEADERS if key in headers}
    try:
        return feedparser.parse(
            io.BytesIO(body),
            response_headers=wanted,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser has crashed on odd bytes before: never let it out
        raise ParseError(f"feed parser failed: {type(exc).__name__}: {exc}") from exc


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def _base_url(url: str | None, content_location: str | None) -> str | None:
    if url and content_location:
        try:
            return urljoin(url, content_location.strip())
        except ValueError:
            return url
    return url or None


def _problem(result: Mapping[str, Any]) -> str | None:
    """feedparser's bozo complaint, unless it is only about the HTTP headers."""
    if not result.get("bozo"):
        return None
    exc = result.get("bozo_exception")
    if isinstance(exc, _BENIGN):
        return None
    if isinstance(exc, feedparser.CharacterEncodingOverride) and "us-ascii" in str(exc):
        return None  # text/xml without charset: RFC 3023 says us-ascii, nobody means it
    if not exc:
        return "malformed document"
    return clean_line(f"{type(exc).__name__}: {exc}")[:MAX_PROBLEM_CHARS]  # may quote the body


def _not_a_feed(body: bytes, problem: str | None) -> str:
    head = body[:2048].lstrip()
    if _HTML_RE.search(head):
        return "not a feed: an HTML page (look for a feed link in it)"
    if head[:1] in (b"{", b"["):
        return "not a feed: JSON that is not a JSON Feed"
    detail = f" ({problem})" if problem else ""
    return f"not a feed: no RSS, Atom or RDF document and no entries found{detail}"


def _ttl_seconds(value: object) -> int | None:
    """RSS <ttl> (minutes) -> seconds; None when absent or nonsensical."""
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    if 0 < minutes <= MAX_TTL_MINUTES:
        return minutes * 60
    return None


# --- JSON Feed (https://jsonfeed.org, versions 1 and 1.1) ---------------------------------


def _looks_like_json(body: bytes) -> bool:
    """A JSON object (whatever the Content-Type says: servers mislabel feeds both ways)."""
    return body[:64].lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _parse_json_feed(
    body: bytes, *, feed: Feed, fetched_at: datetime, base: str | None
) -> ParsedFeed:
    try:
        document = json.loads(body.decode("utf-8-sig", "replace"), strict=False)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"not a feed: invalid JSON ({exc})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        raise ParseError("not a feed: JSON that is not a JSON Feed (no items list)")
    if "jsonfeed.org" not in _string(document.get("version")):
        raise ParseError("not a feed: JSON that is not a JSON Feed (no jsonfeed.org version)")
    language = language_tag(document.get("language"))
    raws = [_json_item(item) for item in document["items"] if isinstance(item, dict)]
    entries = normalise_entries(
        raws, feed=feed, feed_language=language, base_url=base, fetched_at=as_utc(fetched_at)
    )
    return ParsedFeed(
        title=" ".join(html_to_text(_string(document.get("title"))).split()),
        link=resolve_link(_string(document.get("home_page_url")), base),
        language=language,
        entries=tuple(entries),
    )


def _json_author(item: Mapping[str, Any]) -> str:
    authors = item.get("authors")
    if isinstance(authors, list) and authors and isinstance(authors[0], dict):
        return _string(authors[0].get("name"))
    author = item.get("author")
    return _string(author.get("name")) if isinstance(author, dict) else ""


def _json_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON Feed item -> the shape of a feedparser entry, for `normalise_entries`."""
    content: list[dict[str, str]] = []
    if _string(item.get("content_html")):
        content.append({"type": "text/html", "value": item["content_html"]})
    if _string(item.get("content_text")):
        content.append({"type": "text/plain", "value": item["content_text"]})
    guid = item.get("id")
    return {
        "id": str(guid) if isinstance(guid, str | int) and not isinstance(guid, bool) else "",
        "link": _string(item.get("url")) or _string(item.get("external_url")),
        "title": _string(item.get("title")),
        "content": content,
        "summary": _string(item.get("summary")),
        "summary_detail": {"type": "text/plain"},
        "published": _string(item.get("date_published")),
        "updated": _string(item.get("date_modified")),
        "author": _json_author(item),
        "language": item.get("language"),
    }
