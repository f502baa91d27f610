"""One raw feed entry (a feedparser entry dict) -> one `Entry`: plain text, UTC, identity.

- title: always treated as HTML (feedparser does not sanitise titles): entities
  decoded, tags stripped, one line. It is plain text and is never rendered as markup.
- text: the longest content block (including <yandex:full-text>), else the summary,
  HTML -> plain text (plain-text blocks only cleaned); text that still starts with a
  tag after that was escaped twice and is converted once more.
- every string: NUL, control characters and lone surrogates removed (PostgreSQL rejects
  NUL), whitespace collapsed.
- published: published, else updated, else created, else `fetched_at`; timezone-aware
  UTC. Dates more than `FUTURE_SLACK` after `fetched_at`, and dates before
  `EARLIEST_DATE` (placeholders such as 1970-01-01), count as missing.
- link: resolved against the document's base URL ("example.com/x" without a scheme
  becomes https://example.com/x), http(s) only, kept for display and fetching; a GUID
  that is no URL is never taken as the link. url: the canonical form of the link
  (`monitor.core.identity.canonical_url`), the identity key.
- language: the entry's own, else the feed document's, else the configured
  `Feed.language`, else None: detection (`monitor.core.language.with_language`) is
  per-item work, so the pipeline runs it only on items that turn out to be new.
- guid: stripped, empty -> None; a GUID longer than `MAX_GUID_CHARS` becomes a hash of it.
- author: a name; RSS "email (Name)" gives Name.
- `normalise_entries` leaves out entries with no title, text, link or GUID.

Pure: no network, no database, no clock (the caller passes `fetched_at`).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from monitor.core.html_text import clean_line, clean_text, html_to_text
from monitor.core.identity import canonical_url, content_hash
from monitor.core.language import language_tag
from monitor.core.models import Entry, Feed

FUTURE_SLACK = timedelta(days=1)  # clock skew and wrong time zones stay below this
EARLIEST_DATE = datetime(1990, 1, 1, tzinfo=UTC)  # before feeds existed: a placeholder
MAX_GUID_CHARS = 1000  # longer GUIDs are replaced by a hash (index entries stay small)
_DATE_KEYS = ("published", "updated", "created")
FULL_TEXT_KEY = "yandex_full-text"  # <yandex:full-text>, common in Russian-language feeds
# Text that still starts with a tag or comment after one HTML pass was escaped twice.
_ESCAPED_HTML_RE = re.compile(
    r"\s*(<!--|<(p|a|div|span|b|i|em|strong|ul|ol|h[1-6]|blockquote|table|figure|img|br)\b[^<>]*>)",
    re.IGNORECASE,
)
_EMAIL_NAME_RE = re.compile(r"\s*[^\s@()]+@[^\s()]+\s*\(([^()]+)\)\s*$")
# "example.com/..." without a scheme; a file name such as "index.html/" does not count.
_BARE_HOST_RE = re.compile(
    r"(?:[a-z0-9-]+\.)+(?!(?:s?html?|php|aspx?|jsp|cgi|xml|rss|json|txt|pdf)/)[a-z]{2,}(?::\d+)?/",
    re.IGNORECASE,
)


def _get(raw: Mapping[str, Any], key: str) -> Any:
    """A field of the entry itself: feedparser's dict maps missing keys to others, with
    deprecation warnings ("updated" -> "published"); the plain dict lookup does not."""
    return dict.get(raw, key) if isinstance(raw, dict) else raw.get(key)


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_utc(moment: datetime) -> datetime:
    """A datetime in UTC; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _from_struct(value: object) -> datetime | None:
    """feedparser's `*_parsed` (a UTC struct_time) -> datetime; None if invalid."""
    if not isinstance(value, time.struct_time | tuple) or len(value) < 6:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in value[:6])
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _from_string(value: str) -> datetime | None:
    """A date string feedparser could not read: RFC 822 or ISO 8601; None otherwise."""
    value = value.strip()
    if not value:
        return None
    try:
        return as_utc(parsedate_to_datetime(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        pass
    try:
        return as_utc(datetime.fromisoformat(value))
    except (ValueError, OverflowError):
        return None


def entry_date(raw: Mapping[str, Any], fetched_at: datetime) -> datetime:
    """The entry's publication time in UTC, following the rules in the module doc."""
    latest = fetched_at + FUTURE_SLACK
    for key in _DATE_KEYS:
        moment = _from_struct(_get(raw, key + "_parsed"))
        if moment is None:
            moment = _from_string(_string(_get(raw, key)))
        if moment is not None and EARLIEST_DATE <= moment <= latest:
            return moment
    return fetched_at


def _text(raw: Mapping[str, Any]) -> str:
    """Plain text of the longest content block, else of the summary."""
    blocks: list[tuple[str, str]] = []
    content = _get(raw, "content")
    if isinstance(content, list):
        for block in content:
            detail = _mapping(block)
            value = _string(detail.get("value"))
            if value:
                blocks.append((value, _string(detail.get("type"))))
    full_text = _string(_get(raw, FULL_TEXT_KEY))
    if full_text:
        blocks.append((full_text, "text/html"))
    if not blocks:
        summary = _string(_get(raw, "summary"))
        if summary:
            kind = _string(_mapping(_get(raw, "summary_detail")).get("type"))
            blocks.append((summary, kind))
    if not blocks:
        return ""
    value, kind = max(blocks, key=lambda block: len(block[0]))
    text = clean_text(value) if kind == "text/plain" else html_to_text(value)
    if _ESCAPED_HTML_RE.match(text):  # HTML escaped twice: its tags survived one pass
        text = html_to_text(text)
    return text


def resolve_link(link: str, base_url: str | None) -> str | None:
    """A link as published -> an absolute http(s) URL, or None (javascript:, mailto: ...).

    A link that starts with a bare host name ("example.com/post/1") gets "https://"
    rather than being taken as a path below the base URL.
    """
    link = clean_line(link).replace(" ", "%20")
    if not link:
        return None
    if _BARE_HOST_RE.match(link):
        link = "https://" + link
    if base_url:
        try:
            link = urljoin(base_url, link)
        except ValueError:
            return None
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return link


def _published_link(raw: Mapping[str, Any]) -> str:
    """The entry's link; a non-URL GUID that feedparser copied into `link` is no link."""
    link = _string(_get(raw, "link"))
    if _get(raw, "guidislink") and link == _string(_get(raw, "id")) and "://" not in link:
        return ""
    return link


def _guid(raw: Mapping[str, Any]) -> str | None:
    guid = clean_line(_string(_get(raw, "id")))
    if not guid:
        return None
    if len(guid) > MAX_GUID_CHARS:
        return "sha256:" + hashlib.sha256(guid.encode("utf-8")).hexdigest()
    return guid


def _own_language(raw: Mapping[str, Any]) -> str | None:
    """The entry's declared language (dc:language, or xml:lang on its title/content)."""
    candidates: list[object] = [_get(raw, "language")]
    for key in ("title_detail", "summary_detail"):
        candidates.append(_mapping(_get(raw, key)).get("language"))
    content = _get(raw, "content")
    if isinstance(content, list) and content:
        candidates.append(_mapping(content[0]).get("language"))
    for candidate in candidates:
        tag = language_tag(candidate)
        if tag:
            return tag
    return None


def _author(raw: Mapping[str, Any]) -> str | None:
    """The author's name: RSS "email (Name)" -> Name (feedparser cuts long TLDs wrongly)."""
    published = _string(_get(raw, "author"))
    match = _EMAIL_NAME_RE.match(published)
    if match:
        name = match.group(1)
    else:
        name = _string(_mapping(_get(raw, "author_detail")).get("name")) or published
    author = " ".join(html_to_text(name).split())
    return author or None


def normalise_entry(
    raw: Mapping[str, Any],
    *,
    feed: Feed,
    feed_language: str | None,
    base_url: str | None,
    fetched_at: datetime,
    position: int,
) -> Entry:
    """One feedparser entry dict -> an `Entry` (see the module doc for every rule)."""
    fetched_at = as_utc(fetched_at)
    title = " ".join(html_to_text(_string(_get(raw, "title"))).split())
    text = _text(raw)
    link = resolve_link(_published_link(raw), base_url)
    language = _own_language(raw) or language_tag(feed_language) or language_tag(feed.language)
    return Entry(
        guid=_guid(raw),
        url=canonical_url(link),
        link=link,
        title=title,
        text=text,
        published=entry_date(raw, fetched_at),
        content_hash=content_hash(title, text),
        language=language,
        author=_author(raw),
        position=position,
    )


def normalise_entries(
    raws: Iterable[Mapping[str, Any]],
    *,
    feed: Feed,
    feed_language: str | None,
    base_url: str | None,
    fetched_at: datetime,
) -> list[Entry]:
    """Every entry of a document, in document order (`position` 0 = first).

    Entries with nothing in them (no title, text, link or GUID: what a parser recovers
    from a cut-off document) are left out; positions still count them.
    """
    entries = (
        normalise_entry(
            raw,
            feed=feed,
            feed_language=feed_language,
            base_url=base_url,
            fetched_at=fetched_at,
            position=position,
        )
        for position, raw in enumerate(raws)
    )
    return [e for e in entries if e.title or e.text or e.link or e.guid]
