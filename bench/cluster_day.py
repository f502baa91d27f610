"""Cluster one day of real news feeds and print the largest stories for a hand check.

Usage: python -m bench.cluster_day [PATH] [--day 2026-02-17] [--top 20] [--all-kinds]
(PATH: the fastfeedparser real-world feeds folder with INDEX.tsv and benchmark_data/,
default /work/shared/corpora/fastfeedparser_realworld_feeds)

Feeds whose INDEX.tsv kind is "news" (all feeds with --all-kinds) are parsed with the
project's parser; the items published on the given UTC day go through the clustering
step in publication order (fingerprint -> candidates -> decide -> add) with the
default settings. Prints counts, signals, time per item and the largest clusters with
each item's feed and title.
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.core.cluster import DEFAULT_SETTINGS, decide
from monitor.core.fingerprint import fingerprint
from monitor.core.models import Entry, Feed
from monitor.core.story_index import StoryIndex
from monitor.errors import ParseError
from monitor.sources.parse import parse_feed

DEFAULT_PATH = Path("/work/shared/corpora/fastfeedparser_realworld_feeds")


def day_entries(root: Path, day: datetime, all_kinds: bool) -> tuple[list[tuple[str, Entry]], int]:
    """(feed name, entry) for the entries published that day, oldest first; feeds read."""
    rows = list(csv.DictReader((root / "INDEX.tsv").open(encoding="utf-8"), delimiter="\t"))
    found: list[tuple[str, Entry]] = []
    feeds = 0
    for row in rows:
        path = root / "benchmark_data" / row["file"]
        if not path.exists() or not (all_kinds or row["kind"] == "news"):
            continue
        name = row["title"] or row["file"]
        feed = Feed(url=row["link"] or f"https://{row['file']}.invalid/", name=name)
        try:
            parsed = parse_feed(
                path.read_bytes(), {}, feed=feed, fetched_at=day + timedelta(days=1)
            )
        except ParseError:
            continue
        feeds += 1
        for entry in parsed.entries:
            if day <= entry.published < day + timedelta(days=1):
                found.append((name, entry))
    found.sort(key=lambda pair: pair[1].published)
    return found, feeds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--day", default="2026-02-17")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--all-kinds", action="store_true")
    args = parser.parse_args(argv)
    day = datetime.fromisoformat(args.day).replace(tzinfo=UTC)
    entries, feeds = day_entries(args.path, day, args.all_kinds)

    index = StoryIndex()
    members: dict[int, list[tuple[str, Entry, str, float]]] = defaultdict(list)
    signals: Counter[str] = Counter()
    started = time.perf_counter()
    for name, entry in entries:
        fp = fingerprint(entry.title, entry.text, url=entry.url, language=entry.language)
        decision = decide(fp, index.candidates(fp, entry.published), index)
        story = decision.story_id if decision.story_id is not None else len(members) + 1
        index.add(story, fp, entry.published)
        members[story].append((name, entry, decision.signal, decision.score))
        signals[decision.signal] += 1
        index.expire(entry.published - DEFAULT_SETTINGS.window)
    elapsed = time.perf_counter() - started

    sizes = Counter(len(items) for items in members.values())
    multi = [items for items in members.values() if len(items) > 1]
    print(f"day {args.day}: {feeds} feeds, {len(entries)} items, {len(members)} stories")
    print(f"clusters with 2+ items: {len(multi)} holding {sum(len(m) for m in multi)} items")
    print(f"cluster sizes: {dict(sorted(sizes.items()))}")
    print(f"join signals: {dict(signals)}")
    print(
        f"clustering time: {elapsed / max(1, len(entries)) * 1e6:.0f} us/item (incl. fingerprint)"
    )
    largest = sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[0]))[: args.top]
    for rank, (story, items) in enumerate(largest, start=1):
        outlets = len({name for name, *_ in items})
        print(f"\n#{rank} story {story}: {len(items)} items from {outlets} feeds")
        for name, entry, signal, score in items:
            how = "first" if signal == "none" else f"{signal} {score:.2f}"
            print(f"  [{how:>12s}] {name[:28]:28s} | {entry.title[:90]}")


if __name__ == "__main__":
    main()
