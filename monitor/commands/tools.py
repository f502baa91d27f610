"""Tools that try the engine on files or stored items: match, replay, extract, compare.

``monitor replay`` also reports the "Not relevant" feedback users gave from the bot for
the watchlist: how many of the stories it matched were marked, and how many of those
the replayed query (e.g. a tightened ``--query``) would still alert.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import timedelta
from pathlib import Path

from monitor.clock import utcnow
from monitor.commands.common import load, open_database
from monitor.config.types import parse_duration
from monitor.core.cluster import same_story
from monitor.core.html_text import html_to_text
from monitor.core.matcher import Matcher, compile_watchlists
from monitor.core.models import Document, WatchlistSpec
from monitor.core.query import QuerySyntaxError
from monitor.sources.article import extract_article, load_article
from monitor.store.bot import feedback_stories
from monitor.store.items import matched_stories, stored_items


def read_document(path: str) -> Document:
    """A text or HTML file (``-`` = standard input) as a Document; HTML goes through the
    article extractor (falling back to plain tag stripping)."""
    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    head = data[:2048].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head:
        article = extract_article(data)
        if article.text:
            return Document(title=article.title or "", text=article.text)
        return Document(title="", text=html_to_text(data.decode("utf-8", "replace")))
    text = data.decode("utf-8", "replace")
    return Document(title="", text=text)


def _select(specs: Sequence[WatchlistSpec], name: str | None) -> list[WatchlistSpec]:
    if name is None:
        return list(specs)
    chosen = [s for s in specs if s.name == name]
    if not chosen:
        known = ", ".join(s.name for s in specs)
        raise SystemExit(f"error: no watchlist named {name!r} (known: {known})")
    return chosen


def cmd_match(args: argparse.Namespace) -> int:
    """Test the watchlists against a text or HTML file; exit 0 if any matched, else 1."""
    config = load(args)
    specs = _select(config.watchlists, args.watchlist)
    matcher = compile_watchlists(specs)
    doc = read_document(args.file)
    any_matched = False
    for spec in specs:
        result = matcher.explain(doc, spec.name, scoped=False)
        any_matched |= result.matched
        if args.json:
            print(json.dumps(result.as_json(), ensure_ascii=False))
        elif result.matched:
            print(f"{spec.name}: MATCH {', '.join(result.terms)}\n  “{result.snippet}”")
        else:
            print(f"{spec.name}: no match ({result.reason})")
    return 0 if any_matched else 1


def cmd_replay(args: argparse.Namespace) -> int:
    """Run one watchlist (as saved on disk, or --query) over stored items and report
    how many stories would have alerted, against what was matched at the time."""
    config = load(args)
    (spec,) = _select(config.watchlists, args.watchlist)
    if args.query:
        spec = replace(spec, query=args.query)
    try:
        matcher: Matcher = compile_watchlists([spec])
    except QuerySyntaxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    since = utcnow() - timedelta(seconds=parse_duration(args.since))
    tags = {f.name: f.tags for f in config.feeds}
    db = open_database(config)
    stories: dict[int, tuple[str, str, str]] = {}
    items = 0
    try:
        with db.reading() as conn:
            before = matched_stories(conn, spec.name, since)
            irrelevant = feedback_stories(conn, spec.name, since)
            for item in stored_items(conn, since):
                items += 1
                doc = Document(
                    title=item.title,
                    text=item.text,
                    source=item.feed,
                    language=item.language,
                    feed=item.feed,
                    tags=tags.get(item.feed, ()),
                )
                found = matcher.match(doc)
                if found and item.story_id is not None and item.story_id not in stories:
                    stories[item.story_id] = (item.title, item.feed, found[0].snippet)
    finally:
        db.dispose()
    now_matched = set(stories)
    print(
        f"watchlist {spec.name!r} over {items} item(s) since {since:%Y-%m-%d %H:%M} UTC: "
        f"{len(now_matched)} stories would alert "
        f"(matched at the time: {len(before)}; new: {len(now_matched - before)}, "
        f"no longer: {len(before - now_matched)})"
    )
    for story_id, (title, feed, snippet) in list(stories.items())[-args.samples :]:
        mark = "+" if story_id not in before else " "
        print(f"{mark} [{feed}] {title}\n    “{snippet}”")
    print(feedback_line(irrelevant, before, now_matched))
    for story_id in [s for s in irrelevant if s in now_matched][-args.samples :]:
        print(f"x {irrelevant[story_id]}")
    return 0


def feedback_line(irrelevant: dict[int, str], before: set[int], now_matched: set[int]) -> str:
    """The precision signal: stories marked "Not relevant" against those matched."""
    marked = len(irrelevant)
    if not marked:
        return 'feedback: no story marked "Not relevant" in this period'
    still = sum(1 for story_id in irrelevant if story_id in now_matched)
    signal = ""
    if before:
        kept = len(before - set(irrelevant)) / len(before)
        signal = f" (precision signal: {kept:.0%} of the {len(before)} matched stories unmarked)"
    return (
        f'feedback: {marked} stor{"ies" if marked != 1 else "y"} marked "Not relevant"'
        f"{signal}; the replayed query still matches {still} of them"
    )


def cmd_extract(args: argparse.Namespace) -> int:
    """Print the main text of a saved article page (boilerplate removed)."""
    article = load_article(args.file, args.url)
    if article.title:
        print(article.title, end="\n\n")
    if article.text:
        print(article.text)
    if not article.ok:
        print(f"note: {article.problem} (method: {article.method})", file=sys.stderr)
        return 1
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """The same-story decision for two text or HTML files (exit 0 = same story)."""
    a, b = read_document(args.a), read_document(args.b)
    decision = same_story(a.text, b.text, a_title=a.title or None, b_title=b.title or None)
    if args.json:
        print(json.dumps(asdict(decision)))
    else:
        verdict = "same story" if decision.same_story else "different stories"
        print(f"{verdict} (signal: {decision.signal}, score: {decision.score:.3f})")
    return 0 if decision.same_story else 1
