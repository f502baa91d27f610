"""Item identity: canonical URLs, content hashes, GUID pathologies and "is this new?".

An item is the same item when it has the same canonical URL; else the same GUID (unless
the GUID now points at a different URL: feeds reuse position numbers as GUIDs); else,
for an item without a URL, the same hash of its folded title and text.

- `canonical_url`: the identity form of a link. Scheme and host lower-case, default
  port, user info and fragment dropped, tracking parameters (`TRACKING_PARAMETERS`,
  `TRACKING_PREFIXES`) removed, the remaining query sorted, percent-escapes made
  uniform. **http and https are one identity: the canonical form always says https.**
  It is a key, not an address to fetch: fetch and display `Entry.link`.
- `content_hash`: a stable hash of folded title + text (version-tagged; never change the
  folding without a new version tag, stored hashes depend on it).
- `repair_identities`: fixes what one document shows to be wrong (a GUID shared by
  different items, one URL such as the home page on every item, duplicated entries).
- `identity_keys` and `select_new`: the store looks up the candidate keys of a batch and
  hands back what it knows as `KnownItems`; `select_new` keeps the entries not known.

Pure: no network, no database, no clock.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from monitor.core.models import Entry

# Query parameters that only say where a click came from. Compared case-insensitively.
TRACKING_PARAMETERS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "twclid",
        "ttclid", "li_fat_id", "mc_cid", "mc_eid", "igshid", "igsh", "yclid", "ysclid",
        "_ga", "_gl", "_hsenc", "_hsmi", "__hssc", "__hstc", "__hsfp", "hsctatracking",
        "mkt_tok", "vero_id", "vero_conv", "ref", "ref_src", "ref_url", "referrer",
        "cmpid", "cmp", "ncid", "ocid", "icid", "s_cid", "s_kwcid", "spm", "scm", "smid",
        "sr_share", "at_medium", "at_campaign", "wt.mc_id", "wt_mc", "xtor", "_openstat",
        "oly_anon_id", "oly_enc_id", "soc_src", "soc_trk", "trk", "mbid", "guccounter",
        "__twitter_impression", "rss_source",
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "fb_action_", "fb_source", "guce_")
DEFAULT_PORTS = {"http": 80, "https": 443}
CANONICAL_SCHEME = "https"  # http and https name the same item
MAX_URL_CHARS = 2000  # longer canonical URLs are no identity (index entries stay small)
HASH_VERSION = "v1"

_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_ESCAPE_RE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMETERS or lowered.startswith(TRACKING_PREFIXES)


def _tidy_escapes(part: str) -> str:
    """Upper-case percent-escapes and decode those of unreserved characters (RFC 3986)."""

    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _ESCAPE_RE.sub(fix, part)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, for paths that contain "." or ".." segments."""
    if "/." not in path:
        return path
    output: list[str] = []
    segments = path.split("/")
    for segment in segments[1:]:
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
    if segments[-1] in (".", ".."):
        output.append("")
    return "/" + "/".join(output)


def _host(hostname: str) -> str:
    host = hostname.rstrip(".")
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def canonical_url(url: str | None) -> str | None:
    """The identity form of an absolute http(s) URL, or None if it is not one."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url:
        return None
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        hostname = parts.hostname  # lower-cased by urllib
        port = parts.port
    except ValueError:  # bad IPv6 literal, port out of range ...
        return None
    if scheme not in DEFAULT_PORTS or not hostname:
        return None
    host = _host(hostname)
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None and port != DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = _remove_dot_segments(_tidy_escapes(quote(parts.path, safe=_PATH_SAFE))) or "/"
    query = ""
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        kept = sorted((name, value) for name, value in pairs if not _is_tracking(name))
        query = urlencode(kept, quote_via=quote, safe="-._~:/@!$'()*,;")
    canonical = urlunsplit((CANONICAL_SCHEME, host, path, query, ""))
    if len(canonical) > MAX_URL_CHARS:
        return None
    return canonical


def fold_for_hash(text: str) -> str:
    """The folding behind `content_hash` (v1): NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def content_hash(title: str, text: str) -> str:
    """A stable hash of folded title + text: the identity of last resort (32 hex chars)."""
    material = "\x1f".join((HASH_VERSION, fold_for_hash(title), fold_for_hash(text)))
    return hashlib.blake2b(material.encode("utf-8", "replace"), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class IdentityKeys:
    """The keys of a batch that the store must look up to build `KnownItems`.

    `hashes` holds only the hashes of entries without a URL: the only ones
    `select_new` consults.
    """

    urls: frozenset[str]
    guids: frozenset[str]
    hashes: frozenset[str]


@dataclass(frozen=True, slots=True)
class KnownItems:
    """What the store already holds for one feed among a batch's candidate keys."""

    urls: frozenset[str] = frozenset()
    guids: Mapping[str, str | None] = field(default_factory=dict)  # guid -> stored url
    hashes: frozenset[str] = frozenset()


def identity_keys(entries: Iterable[Entry]) -> IdentityKeys:
    """Candidate keys of a batch: every URL and GUID, and the hashes of URL-less entries."""
    urls: set[str] = set()
    guids: set[str] = set()
    hashes: set[str] = set()
    for entry in entries:
        if entry.url:
            urls.add(entry.url)
        else:
            hashes.add(entry.content_hash)
        if entry.guid:
            guids.add(entry.guid)
    return IdentityKeys(frozenset(urls), frozenset(guids), frozenset(hashes))


def is_known(entry: Entry, known: KnownItems) -> bool:
    """Whether `entry` is an item `known` already holds (the rules in the module doc)."""
    return _known(entry, known.urls, known.guids, known.hashes)


def _known(entry: Entry, urls: Set[str], guids: Mapping[str, str | None], hashes: Set[str]) -> bool:
    if entry.url and entry.url in urls:
        return True
    if entry.guid and entry.guid in guids:
        stored_url = guids[entry.guid]
        if stored_url is None or entry.url is None or stored_url == entry.url:
            return True
    return entry.url is None and entry.content_hash in hashes


class _Seen:
    """The identities of the entries kept so far in one batch."""

    def __init__(self) -> None:
        self.urls: set[str] = set()
        self.guids: dict[str, str | None] = {}
        self.hashes: set[str] = set()

    def contains(self, entry: Entry) -> bool:
        return _known(entry, self.urls, self.guids, self.hashes)

    def add(self, entry: Entry) -> None:
        if entry.url:
            self.urls.add(entry.url)
        else:
            self.hashes.add(entry.content_hash)
        if entry.guid:
            self.guids.setdefault(entry.guid, entry.url)


def select_new(entries: Iterable[Entry], known: KnownItems) -> list[Entry]:
    """The entries that are neither known to the store nor repeated earlier in the batch."""
    seen = _Seen()
    new: list[Entry] = []
    for entry in entries:
        if is_known(entry, known) or seen.contains(entry):
            continue
        seen.add(entry)
        new.append(entry)
    return new


def _conflicting(others: Sequence[str | None], hashes: Sequence[str]) -> bool:
    """Several items under one key: they differ in the other key, or (lacking it) content."""
    distinct = {value for value in others if value}
    return len(distinct) > 1 or (not distinct and len(set(hashes)) > 1)


def repair_identities(entries: Sequence[Entry]) -> list[Entry]:
    """Fix identities one document shows to be wrong; drop repeated entries.

    - A GUID carried by entries with different URLs (or, without URLs, different
      content) identifies nothing: it is removed from those entries.
    - A URL carried by entries with different GUIDs (or, without GUIDs, different
      content), e.g. the home page on every item, is removed as identity (`url`);
      `link` stays for display.
    - Entries that are then the same item (same URL, same GUID, or same content
      without a URL) are kept once, the first in document order.
    """
    by_guid: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        if entry.guid:
            by_guid[entry.guid].append(entry)
    bad_guids = {
        guid
        for guid, group in by_guid.items()
        if len(group) > 1 and _conflicting([e.url for e in group], [e.content_hash for e in group])
    }
    repaired = [replace(e, guid=None) if e.guid in bad_guids else e for e in entries]

    by_url: dict[str, list[Entry]] = defaultdict(list)
    for entry in repaired:
        if entry.url:
            by_url[entry.url].append(entry)
    bad_urls = {
        url
        for url, group in by_url.items()
        if len(group) > 1 and _conflicting([e.guid for e in group], [e.content_hash for e in group])
    }
    if bad_urls:
        repaired = [replace(e, url=None) if e.url in bad_urls else e for e in repaired]

    seen = _Seen()
    kept: list[Entry] = []
    for entry in repaired:
        if seen.contains(entry):
            continue
        seen.add(entry)
        kept.append(entry)
    return kept
