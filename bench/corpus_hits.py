"""Run watchlists over real feed corpora: hit counts and samples for a hand check.

Usage: .venv/bin/python -m bench.corpus_hits [corpora_dir] [--extra]
                    [--watchlist NAME=QUERY ...] [--samples 20] [--all]

Reads three corpora under ``corpora_dir`` (default /work/shared/corpora): Tempo.co
daily snapshots (tempo_rss_history, Indonesian), ~100 real-world feeds
(fastfeedparser_realworld_feeds) and four Russian/Ukrainian feeds
(ukrainian_cyrillic_feeds). Each feed file is parsed with feedparser (bytes in),
entries are reduced to title + plain-text summary, and items repeated across
snapshots are counted once (by title and link). Default watchlists: the issue's
Starlink, Kiriyenko, Musk AND Putin and Peskov; ``--extra`` adds names these corpora
do mention (Putin, Zelensky, Prabowo, Jokowi, Sri Mulyani, Danantara, Trump, Musk).

Prints, per corpus and watchlist, the items matched; then every item where a plain
case-insensitive grep for the name's spellings disagrees with the matcher (a miss, or
a near miss the matcher rightly refused: "puting beliung", "trumpet"); then
``--samples`` hits spread over the watchlists, with the words that matched and the
snippet, for a human to judge (``--all``: every hit).
"""

from __future__ import annotations

import argparse
import html
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import feedparser

from monitor.core.matcher import compile_watchlists
from monitor.core.models import Document, Match, WatchlistSpec

CORPORA = Path("/work/shared/corpora")
SETS = {
    "tempo": "tempo_rss_history",
    "realworld": "fastfeedparser_realworld_feeds",
    "cyrillic": "ukrainian_cyrillic_feeds",
}
# name: (query, grep pattern over the raw text for the cross-check, or None)
DEFAULT_WATCHLISTS = {
    "Starlink": ("Starlink", r"starlink|старлинк|старлінк"),
    "Kiriyenko": ("Kiriyenko", r"kiri\w*nko|кири\w*нко|кирі\w*нко"),
    "Musk AND Putin": ("Musk AND Putin", None),
    "Peskov": ("Peskov", r"peskov|песков|пєсков"),
}
EXTRA_WATCHLISTS = {
    "Putin": ("Putin", r"\bputin\w*|путин\w*|путін\w*"),
    "Zelensky": ("Zelensky", r"zelensk\w*|зеленск\w*|зеленськ\w*"),
    "Prabowo": ("Prabowo", r"prabowo\w*"),
    "Jokowi": ('Jokowi OR "Joko Widodo"', r"jokowi\w*|joko\W+widodo"),
    "Sri Mulyani": ('"Sri Mulyani"', r"sri\W+mulyani"),
    "Danantara": ("Danantara", r"danantara\w*"),
    "Trump": ("Trump", r"\btrump\w*"),
    "Musk": ("Musk", r"\bmusk\w*"),
}
_TAG = re.compile(r"<[^>]+>")
_SKIP = (".tsv", ".txt", ".md", ".py", ".json", ".csv")


@dataclass(frozen=True)
class Hit:
    corpus: str
    document: Document
    match: Match


def feed_items(root: Path) -> list[Document]:
    """Unique items (by title and link) of every feed file under ``root``."""
    seen: set[tuple[str, str]] = set()
    items: list[Document] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix not in _SKIP):
        parsed = feedparser.parse(path.read_bytes())
        language = parsed.feed.get("language") or None
        source = parsed.feed.get("title", "") or path.parent.name
        for entry in parsed.entries:
            title = _plain(entry.get("title", ""))
            key = (title, entry.get("link", ""))
            if key in seen:
                continue
            seen.add(key)
            body = entry.get("summary", "") or ""
            if entry.get("content"):
                body = " ".join(part.get("value", "") for part in entry.content)
            items.append(Document(title, _plain(body), source=source, language=language))
    return items


def _plain(markup: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", markup)).split())


def _watchlists(pairs: list[str], extra: bool) -> dict[str, tuple[str, str | None]]:
    chosen = dict(DEFAULT_WATCHLISTS) if not pairs or extra else {}
    if extra:
        chosen.update(EXTRA_WATCHLISTS)
    for pair in pairs:
        name, _, query = pair.partition("=")
        chosen[name.strip()] = ((query or name).strip(), None)
    return chosen


def _matched_words(hit: Hit) -> list[str]:
    words = []
    for span in hit.match.spans:
        source = hit.document.title if span.field == "title" else hit.document.text
        words.append(source[span.start : span.end])
    return list(dict.fromkeys(words))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="?", type=Path, default=CORPORA)
    parser.add_argument("--watchlist", action="append", default=[], metavar="NAME=QUERY")
    parser.add_argument("--extra", action="store_true", help="add the extra watchlists")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--all", action="store_true", help="print every hit")
    args = parser.parse_args()
    chosen = _watchlists(args.watchlist, args.extra)
    specs = [WatchlistSpec(name, query) for name, (query, _) in chosen.items()]
    matcher = compile_watchlists(specs)
    hits: list[Hit] = []
    disagreements: list[str] = []
    print(f"{'corpus':<10} {'items':>6}  " + "  ".join(f"{s.name:>14}" for s in specs))
    for corpus, folder in SETS.items():
        root = args.corpora / folder
        if not root.is_dir():
            print(f"{corpus:<10} (missing: {root})")
            continue
        items = feed_items(root)
        counts: dict[str, int] = defaultdict(int)
        for doc in items:
            matched = set()
            for match in matcher.match(doc):
                counts[match.watchlist] += 1
                matched.add(match.watchlist)
                hits.append(Hit(corpus, doc, match))
            disagreements += _disagreements(corpus, doc, matched, chosen)
        row = "  ".join(f"{counts[s.name]:>14}" for s in specs)
        print(f"{corpus:<10} {len(items):>6}  {row}")
    print(f"\n{len(disagreements)} items where a plain grep disagrees with the matcher:")
    for line in disagreements:
        print(f"  {line}")
    shown = hits if args.all else _spread(hits, [s.name for s in specs], args.samples)
    print(f"\n{len(shown)} of {len(hits)} hits:")
    for number, hit in enumerate(shown, 1):
        words = ", ".join(_matched_words(hit))
        print(f"{number:>3}. [{hit.match.watchlist} | {hit.corpus}] matched: {words}")
        print(f"     title: {hit.document.title[:120]}")
        print(f"     snippet: {hit.match.snippet}")


def _disagreements(
    corpus: str, doc: Document, matched: set[str], chosen: dict[str, tuple[str, str | None]]
) -> list[str]:
    lines = []
    text = f"{doc.title} {doc.text}"
    for name, (_, pattern) in chosen.items():
        if pattern is None:
            continue
        grep = re.findall(rf"\w*(?:{pattern})\w*", text, re.IGNORECASE)
        if bool(grep) != (name in matched):
            who = "grep only" if grep else "matcher only"
            words = ", ".join(sorted(set(grep))[:5])
            lines.append(f"[{name} | {corpus}] {who}: {words} | {doc.title[:70]}")
    return lines


def _spread(hits: list[Hit], names: list[str], count: int) -> list[Hit]:
    """Up to ``count`` hits, taken in turn from each watchlist, varied in matched words."""
    queues: dict[str, list[Hit]] = {name: [] for name in names}
    seen_words: dict[str, set[str]] = defaultdict(set)
    later: dict[str, list[Hit]] = defaultdict(list)
    for hit in hits:
        key = " ".join(sorted(w.casefold() for w in _matched_words(hit)))
        target = later if key in seen_words[hit.match.watchlist] else queues
        seen_words[hit.match.watchlist].add(key)
        target.setdefault(hit.match.watchlist, []).append(hit)
    for name in names:
        queues[name].extend(later[name])
    chosen: list[Hit] = []
    while len(chosen) < count and any(queues.values()):
        for name in names:
            if queues[name] and len(chosen) < count:
                chosen.append(queues[name].pop(0))
    return chosen


if __name__ == "__main__":
    main()
