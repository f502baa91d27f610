"""Build the domain objects from validated files, checking references between files.

Feeds (defaults applied, duplicates by URL and name), watchlists (unique names,
``terms`` turned into a query, feed and tag references, the query-syntax seam) and
recipients (unique names and addresses, channels configured, watchlist references).
Pure: no I/O; every problem is added to the collector with its file:line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from rapidfuzz import process

from monitor.config.models import (
    EmailRecipient,
    FeedsFile,
    FetchSettings,
    MonitorSettings,
    TelegramRecipient,
    WatchlistsFile,
    WebhookRecipient,
)
from monitor.config.types import feed_url_key
from monitor.config.yaml_source import Path_, YamlDocument, format_path
from monitor.core.models import DeliveryMode, Feed, Recipient, WatchlistSpec
from monitor.errors import ConfigProblem

QueryValidator = Callable[[str], "str | None"]
"""Checks a query's syntax: returns an error message, or None when the query is valid."""


@dataclass(frozen=True, slots=True)
class WatchlistExamples:
    """Texts a watchlist must match and must not match (run by ``monitor check``)."""

    match: tuple[str, ...] = ()
    no_match: tuple[str, ...] = ()


def terms_query(terms: tuple[str, ...]) -> str:
    """``("a b", 'say "hi"')`` -> ``"a b" OR "say \\"hi\\""``: any of the exact phrases."""
    quoted = ('"' + term.replace("\\", "\\\\").replace('"', '\\"') + '"' for term in terms)
    return " OR ".join(quoted)


class Collector:
    """Problems found so far, plus helpers to add one at a document's key."""

    def __init__(self) -> None:
        self.problems: list[ConfigProblem] = []

    def at(self, doc: YamlDocument, path: Path_, message: str) -> None:
        self.problems.append(ConfigProblem(doc.file, doc.line_of(path), format_path(path), message))


def build_feeds(
    doc: YamlDocument, file: FeedsFile, fetch: FetchSettings | None, found: Collector
) -> tuple[Feed, ...]:
    feeds: list[Feed] = []
    by_key: dict[str, int] = {}
    by_name: dict[str, int] = {}
    defaults = file.defaults
    for index, entry in enumerate(file.feeds):
        here: Path_ = ("feeds", index)
        key = feed_url_key(entry.url)
        if key in by_key:
            first = by_key[key]
            found.at(
                doc,
                (*here, "url"),
                f"the same feed as feeds[{first}] (line {doc.line_of(('feeds', first))})",
            )
            continue
        by_key[key] = index
        name = entry.name or (urlsplit(entry.url).hostname or entry.url)
        if name in by_name:
            first = by_name[name]
            hint = "" if entry.name else " (the host name, used when no name: is given)"
            found.at(
                doc,
                (*here, "name") if entry.name else here,
                f"feed name {name!r}{hint} is already used by feeds[{first}] "
                f"(line {doc.line_of(('feeds', first))}): give each feed its own name",
            )
        by_name[name] = index
        interval = entry.interval or defaults.interval or (fetch.default_interval if fetch else 600)
        if fetch and not fetch.min_interval <= interval <= fetch.max_interval:
            where = (*here, "interval") if entry.interval else ("defaults", "interval")
            found.at(
                doc,
                where,
                f"interval {interval}s is outside fetch.min_interval..fetch.max_interval "
                f"({fetch.min_interval}s..{fetch.max_interval}s) of monitor.yaml",
            )
        backfill = entry.backfill if entry.backfill is not None else defaults.backfill
        feeds.append(
            Feed(
                url=entry.url,
                name=name,
                tags=tuple(dict.fromkeys((*defaults.tags, *entry.tags))),
                interval_s=interval,
                backfill=None if backfill == "all" else backfill,
                full_text=entry.full_text or defaults.full_text,
                language=entry.language,
            )
        )
    return tuple(feeds)


def _check_query(
    validator: QueryValidator | None, query: str, doc: YamlDocument, path: Path_, found: Collector
) -> None:
    if validator is None:
        return
    try:
        message = validator(query)
    except Exception as exc:  # the engine's bug must not hide the other problems
        message = f"the query could not be checked: {exc}"
    if message:
        found.at(doc, path, message)


def build_watchlists(
    doc: YamlDocument,
    file: WatchlistsFile,
    feeds: tuple[Feed, ...] | None,
    validator: QueryValidator | None,
    found: Collector,
) -> tuple[tuple[WatchlistSpec, ...], dict[str, WatchlistExamples]]:
    specs: list[WatchlistSpec] = []
    examples: dict[str, WatchlistExamples] = {}
    seen: dict[str, int] = {}
    feed_refs = {ref for f in feeds or () for ref in (f.name, feed_url_key(f.url))}
    feed_tags = {tag for f in feeds or () for tag in f.tags}
    feed_names = {f.name for f in feeds or ()}
    for index, entry in enumerate(file.watchlists):
        here: Path_ = ("watchlists", index)
        if entry.name in seen:
            first = seen[entry.name]
            found.at(
                doc,
                (*here, "name"),
                f"duplicate watchlist name (first at line {doc.line_of(('watchlists', first))})",
            )
            continue
        seen[entry.name] = index
        for position, ref in enumerate(entry.feeds):
            if feeds is not None and ref not in feed_refs and feed_url_key(ref) not in feed_refs:
                message = _unknown(f"no feed named {ref!r} in feeds.yaml", ref, feed_names)
                found.at(doc, (*here, "feeds", position), message)
        for position, tag in enumerate(entry.tags):
            if feeds is not None and tag not in feed_tags:
                message = _unknown(f"no feed in feeds.yaml has the tag {tag!r}", tag, feed_tags)
                found.at(doc, (*here, "tags", position), message)
        if entry.query is not None:
            query = entry.query
            _check_query(validator, query, doc, (*here, "query"), found)
        else:
            query = terms_query(entry.terms or ())
            _check_query(validator, query, doc, (*here, "terms"), found)
        exclude = (
            entry.exclude if isinstance(entry.exclude, str | None) else terms_query(entry.exclude)
        )
        if exclude is not None:
            _check_query(validator, exclude, doc, (*here, "exclude"), found)
        specs.append(
            WatchlistSpec(
                name=entry.name,
                query=query,
                exclude=exclude,
                languages=entry.languages,
                feeds=entry.feeds,
                tags=entry.tags,
                priority=entry.priority,
                fuzzy=entry.fuzzy,
            )
        )
        examples[entry.name] = WatchlistExamples(entry.examples.match, entry.examples.no_match)
    return tuple(specs), examples


def _recipient_address(entry: object, webhook_default: str | None) -> tuple[str, str] | None:
    """(key, address) of a recipient; None for a webhook without any URL."""
    if isinstance(entry, TelegramRecipient):
        return f"telegram:{entry.chat_id}", str(entry.chat_id)
    if isinstance(entry, EmailRecipient):
        return f"email:{entry.email}", entry.email
    if isinstance(entry, WebhookRecipient):
        url = entry.url or webhook_default
        return (f"webhook:{entry.name}", url) if url else None
    name = getattr(entry, "name", "")
    return f"console:{name}", name


def build_recipients(
    doc: YamlDocument,
    settings: MonitorSettings,
    watchlist_names: set[str] | None,
    found: Collector,
) -> tuple[Recipient, ...]:
    recipients: list[Recipient] = []
    names: dict[str, int] = {}
    keys: dict[str, int] = {}
    channels = settings.channels
    configured = {
        "console": channels.console.enabled,
        "telegram": channels.telegram is not None,
        "email": channels.email is not None,
        "webhook": channels.webhook is not None,
    }
    for index, entry in enumerate(settings.recipients):
        here: Path_ = ("recipients", index)
        if entry.name in names:
            found.at(
                doc,
                (*here, "name"),
                f"duplicate recipient name (first at line {_line(doc, names[entry.name])})",
            )
        names.setdefault(entry.name, index)
        if not configured[entry.channel]:
            what = "is disabled" if entry.channel == "console" else "is not configured"
            found.at(doc, (*here, "channel"), f"channel {entry.channel} {what} under channels:")
        for position, name in enumerate(entry.watchlists or ()):
            if watchlist_names is not None and name not in watchlist_names:
                message = f"no watchlist named {name!r} in watchlists.yaml"
                found.at(
                    doc,
                    (*here, "watchlists", position),
                    _unknown(message, name, watchlist_names),
                )
        webhook_default = channels.webhook.url if channels.webhook else None
        address = _recipient_address(entry, webhook_default)
        if address is None:
            found.at(doc, here, "a webhook recipient needs url: (or channels.webhook.url)")
            continue
        key, target = address
        if key in keys:
            found.at(
                doc,
                here,
                f"the same address as recipients[{keys[key]}] (line {_line(doc, keys[key])})",
            )
            continue
        keys[key] = index
        mode_word, _, daily_at = entry.mode.partition(" ")
        mode: DeliveryMode = "daily" if mode_word == "daily" else "immediate"
        mode = "hourly" if mode_word == "hourly" else mode
        recipients.append(
            Recipient(
                key=key,
                channel=entry.channel,
                address=target,
                watchlists=entry.watchlists,
                timezone=entry.timezone or settings.timezone,
                mode=mode,
                daily_at=daily_at or None,
                quiet_hours=entry.quiet_hours,
            )
        )
    admins = settings.admins
    if admins.telegram and channels.telegram is None:
        found.at(doc, ("admins", "telegram"), "channel telegram is not configured under channels:")
    if admins.email and channels.email is None:
        found.at(doc, ("admins", "email"), "channel email is not configured under channels:")
    return tuple(recipients)


def _line(doc: YamlDocument, index: int) -> int | None:
    return doc.line_of(("recipients", index))


def _unknown(message: str, name: str, known: set[str]) -> str:
    best = process.extractOne(name, sorted(known), score_cutoff=70)
    return f"{message} (did you mean {best[0]!r}?)" if best else message
