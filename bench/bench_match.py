"""Matching throughput for 10, 1,000 and 10,000 terms on folded 2 KB items; folding cost.

Usage: .venv/bin/python -m bench.bench_match [corpus_dir] [--seconds S] [--items N]

Items: 2 KB plain-text items cut from the entries of the feeds in ``corpus_dir``
(default /work/shared/corpora/fastfeedparser_realworld_feeds: mostly English), plus a
quarter as many from the Tempo (Indonesian) and Cyrillic feeds next to it, parsed with
feedparser, HTML stripped; without a corpus, synthetic English-like text. Watchlists:
ten terms each (the ``terms:`` form, "t1" OR "t2" ...), mostly generated surnames
(capitalised, so with transliteration variants), plus real names and two-name phrases
taken from the items, so that a realistic share of items match. Reported, on one core:

* compile: ``compile_watchlists`` for all watchlists (parse + index + automaton);
* fold: ``fold`` and ``prepare_document`` (fold + skeleton words) per 2 KB item, for
  each corpus (Latin text with a few typographic characters, Cyrillic text);
* match: ``Matcher.match_prepared`` on prepared items (what grows with the number of
  terms), with the share of items that matched a watchlist (spans and snippet built);
* end to end: ``Matcher.match`` (prepare + match) items/s.
Times are CPU time of this process (``time.process_time``: one core, whatever else the
machine runs); the fixture items are frozen out of the garbage collector's scans.
Targets (issue 3): 10,000 terms >= 40,000 items/s, <= 2x the 1,000-term cost,
compile <= 100 ms.
"""

from __future__ import annotations

import argparse
import gc
import random
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from monitor.core.matcher import Matcher, compile_watchlists
from monitor.core.models import Document, WatchlistSpec
from monitor.core.term_index import prepare_document
from monitor.core.text import fold

T = TypeVar("T")
CORPORA = Path("/work/shared/corpora")
DEFAULT_CORPUS = CORPORA / "fastfeedparser_realworld_feeds"
ITEM_CHARS = 2048
TERMS_PER_WATCHLIST = 10
_TAG = re.compile(r"<[^>]+>")
_SKIP = (".tsv", ".txt", ".md", ".py", ".json", ".csv")
_SYLLABLES = [c + v for c in "bdgklmnprstvz" for v in "aeiou"] + ["kh", "sh", "ch", "ov", "enko"]


def feed_texts(root: Path, max_files: int = 400) -> list[str]:
    """Title and plain-text body of every entry of the feed files under ``root``."""
    import feedparser

    texts: list[str] = []
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix not in _SKIP)
    for path in files[:max_files]:
        parsed = feedparser.parse(path.read_bytes())
        for entry in parsed.entries:
            body = entry.get("summary", "") or ""
            if entry.get("content"):
                body = " ".join(c.get("value", "") for c in entry.content)
            plain = " ".join(_TAG.sub(" ", f"{entry.get('title', '')}. {body}").split())
            if plain:
                texts.append(plain)
    return texts


def chunk(texts: list[str], limit: int) -> list[Document]:
    """The texts run together and cut into items of ITEM_CHARS characters."""
    stream = " ".join(dict.fromkeys(texts))  # snapshots repeat entries: once each
    items = []
    for start in range(0, len(stream) - ITEM_CHARS, ITEM_CHARS):
        piece = stream[start : start + ITEM_CHARS]
        items.append(Document(title=piece[:80], text=piece[80:]))
        if len(items) >= limit:
            break
    return items


def corpus_sets(directory: Path, limit: int) -> dict[str, list[Document]]:
    """2 KB items per corpus: ``directory`` and, next to it, the Tempo and Cyrillic feeds."""
    sets = {directory.name: chunk(feed_texts(directory), limit)}
    for sibling in ("tempo_rss_history", "ukrainian_cyrillic_feeds"):
        if (directory.parent / sibling).is_dir():
            sets[sibling] = chunk(feed_texts(directory.parent / sibling, 2000), limit // 4)
    return sets


def synthetic_items(count: int, rng: random.Random) -> list[Document]:
    words = ["the", "of", "and", "to", "in", "said", "government", "market", "report"]
    words += [_surname(rng).lower() for _ in range(3000)]
    items = []
    for _ in range(count):
        text = " ".join(rng.choice(words) for _ in range(400))[:ITEM_CHARS]
        items.append(Document(title=text[:80], text=text[80:]))
    return items


def _surname(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(3, 4))).capitalize()


def make_terms(count: int, items: list[Document], rng: random.Random) -> list[str]:
    """Mostly generated surnames; 1 in 50 a real name from the items (a capitalised word
    never written in lower case there), 1 in 100 a two-name phrase."""
    sample = " ".join(doc.text for doc in items[:500])
    lower = set(re.findall(r"\b[a-z]{5,}\b", sample))
    names = sorted({w for w in re.findall(r"\b[A-Z][a-z]{4,}\b", sample) if w.lower() not in lower})
    terms: set[str] = set()
    while len(terms) < count:
        roll = rng.random()
        if roll < 0.02 and names:
            terms.add(rng.choice(names))
        elif roll < 0.03 and names:
            terms.add(f"{rng.choice(names)} {rng.choice(names)}")
        else:
            terms.add(_surname(rng))
    return sorted(terms)


def watchlists(terms: list[str]) -> list[WatchlistSpec]:
    specs = []
    for number, start in enumerate(range(0, len(terms), TERMS_PER_WATCHLIST)):
        chunk = terms[start : start + TERMS_PER_WATCHLIST]
        specs.append(WatchlistSpec(f"w{number}", " OR ".join(f'"{t}"' for t in chunk)))
    return specs


def per_item(function: Callable[[T], object], items: Sequence[T], seconds: float) -> float:
    """CPU seconds per item: ``function`` over every item (results dropped at once, as a
    daemon handles one item at a time), repeated for at least ``seconds``."""
    rounds = 0
    started = time.process_time()
    while True:
        for item in items:
            function(item)
        rounds += 1
        elapsed = time.process_time() - started
        if elapsed >= seconds:
            return elapsed / (rounds * len(items))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--items", type=int, default=2000)
    args = parser.parse_args()
    rng = random.Random(3)
    if args.corpus.is_dir():
        sets = corpus_sets(args.corpus, args.items)
    else:
        sets = {"synthetic": synthetic_items(args.items, rng)}
        print(f"(no corpus at {args.corpus}: synthetic English-like text)")
    items = [doc for docs in sets.values() for doc in docs]
    print(f"items: {len(items)} x {ITEM_CHARS} characters:")
    for name, docs in sets.items():
        fold_s = per_item(lambda d: fold(d.text), docs, args.seconds / 2)
        prep_s = per_item(prepare_document, docs, args.seconds / 2)
        print(
            f"  {name:<32} {len(docs):>5} items | fold {fold_s * 1e6:6.1f} us "
            f"({1 / fold_s:,.0f}/s) | prepare {prep_s * 1e6:6.1f} us ({1 / prep_s:,.0f}/s)"
        )
    prepared = [prepare_document(d) for d in items]
    # The fixtures (2,000 items, folded) stay alive for the whole run; a daemon holds one
    # item at a time. Keep the collector from rescanning them on every full collection.
    gc.collect()
    gc.freeze()
    fold_s = per_item(lambda d: fold(d.text), items, args.seconds)
    prep_s = per_item(prepare_document, items, args.seconds)
    print(f"all items: fold {fold_s * 1e6:.1f} us, prepare {prep_s * 1e6:.1f} us per item")

    costs: dict[int, float] = {}
    for count in (10, 1_000, 10_000):
        specs = watchlists(make_terms(count, items, rng))
        started = time.process_time()
        matcher = compile_watchlists(specs)
        compile_ms = (time.process_time() - started) * 1000
        costs[count] = cost = _measure(matcher, prepared, args.seconds)
        matched = sum(bool(matcher.match_prepared(p)) for p in prepared) / len(prepared)
        end_to_end = per_item(matcher.match, items, 1.0)
        print(
            f"terms {count:>6,} ({len(specs):>5,} watchlists, {matcher.term_count:,} indexed): "
            f"compile {compile_ms:6.1f} ms | match {1 / cost:>9,.0f} items/s "
            f"({cost * 1e6:5.1f} us) | matched {matched:5.1%} | "
            f"fold+match {1 / end_to_end:,.0f} items/s"
        )
    print(f"cost ratio 10,000 / 1,000 terms: {costs[10_000] / costs[1_000]:.2f}x")


def _measure(matcher: Matcher, prepared: list, seconds: float) -> float:
    return per_item(matcher.match_prepared, prepared, seconds)


if __name__ == "__main__":
    main()
