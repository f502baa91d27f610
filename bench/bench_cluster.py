"""Per-item clustering cost with 1,000 / 100,000 / 1,000,000 stories in the window.

Usage: python -m bench.bench_cluster [PATH] [--sizes 1000,100000,1000000] [--queries 2000]
(PATH: the SemEval pairs folder, used only to time fingerprinting on real article text;
default /work/shared/corpora/semeval2022_task8_pairs, skipped when absent.)

The window is filled with synthetic fingerprints (Zipf-distributed vocabulary of 400,000
terms, 90 terms per item, random signatures), then each query item runs the whole
clustering step on the in-memory index: candidates -> decide -> add. Half the queries
are rewrites of a stored story (half their terms shared), half are new stories.
Figures: microseconds per item (median and mean), candidates compared per item,
stories found again, resident memory per story, and the ratio to the smallest window.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path

from monitor.core.cluster import DEFAULT_SETTINGS, decide, split_title
from monitor.core.fingerprint import Fingerprint, fingerprint
from monitor.core.story_index import StoryIndex

DEFAULT_PATH = Path("/work/shared/corpora/semeval2022_task8_pairs")
VOCABULARY = 400_000
TERMS_PER_ITEM = 90
START = datetime(2026, 2, 17, tzinfo=UTC)


class Synth:
    """Synthetic fingerprints with a Zipf vocabulary (deterministic for one seed)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.words = [f"w{i}" for i in range(VOCABULARY)]
        self.cum = list(accumulate(1.0 / (i + 20) for i in range(VOCABULARY)))
        self.serial = 0

    def terms(self, n: int) -> list[str]:
        picked: dict[str, None] = {}
        while len(picked) < n:
            for w in self.rng.choices(self.words, cum_weights=self.cum, k=n):
                picked[w] = None
        return list(picked)[:n]

    def item(self, base: Fingerprint | None = None) -> Fingerprint:
        self.serial += 1
        if base is None:
            terms = self.terms(TERMS_PER_ITEM)
        else:  # a rewrite: half the story's terms, half new ones
            kept = list(base.terms[: TERMS_PER_ITEM // 2])
            terms = list(dict.fromkeys(kept + self.terms(TERMS_PER_ITEM)))[:TERMS_PER_ITEM]
        counts = sorted((self.rng.choice((1, 1, 1, 2, 2, 3, 5)) for _ in terms), reverse=True)
        return Fingerprint(
            url=f"https://outlet{self.serial % 500}.example/news/{self.serial}",
            language="en",
            title=" ".join(self.terms(7)),
            terms=tuple(terms),
            counts=bytes(counts),
            names=tuple(sorted(terms[:12])),
            signature=self.rng.randbytes(64 * 8),
        )


def rss_bytes() -> int:
    with Path("/proc/self/statm").open() as f:
        return int(f.read().split()[1]) * 4096


def fill(size: int, seed: int) -> tuple[StoryIndex, list[Fingerprint], Synth, float, float]:
    """An index holding ``size`` single-item stories; (index, sample, synth, s, bytes/story)."""
    synth = Synth(seed)
    gc.collect()
    before = rss_bytes()
    index = StoryIndex()
    sample: list[Fingerprint] = []
    started = time.perf_counter()
    span = DEFAULT_SETTINGS.window.total_seconds() * 0.9
    for i in range(size):
        fp = synth.item()
        index.add(i, fp, START + timedelta(seconds=span * i / size))
        if i % max(1, size // 1000) == 0:
            sample.append(fp)
    elapsed = time.perf_counter() - started
    gc.collect()
    gc.freeze()  # the window is long-lived: keep the cyclic GC from rescanning it
    return index, sample, synth, elapsed, (rss_bytes() - before) / size


def run_queries(
    index: StoryIndex, sample: list[Fingerprint], synth: Synth, queries: int, size: int
) -> dict[str, float]:
    now = START + DEFAULT_SETTINGS.window * 0.9
    rng = random.Random(7)
    items: list[tuple[Fingerprint, Fingerprint | None]] = []
    for q in range(queries):
        if q % 2 == 0:
            base = rng.choice(sample)
            items.append((synth.item(base), base))
        else:
            items.append((synth.item(), None))
    times = []
    compared = found = 0
    next_story = size
    for fp, _base in items:
        started = time.perf_counter()
        candidates = index.candidates(fp, now)
        decision = decide(fp, candidates, index, DEFAULT_SETTINGS)
        story = decision.story_id
        if story is None:
            story = next_story
            next_story += 1
        index.add(story, fp, now)
        times.append(time.perf_counter() - started)
        compared += len(candidates)
        found += decision.story_id is not None
    return {
        "median_us": statistics.median(times) * 1e6,
        "mean_us": statistics.fmean(times) * 1e6,
        "candidates": compared / len(items),
        "joined": found / len(items),
    }


def fingerprint_cost(path: Path) -> str:
    pairs = path / "pairs.jsonl"
    if not pairs.exists():
        return "fingerprint: corpus not found, skipped"
    texts = []
    for line in pairs.open(encoding="utf-8"):
        row = json.loads(line)
        texts.append((row["text1"], row["lang1"]))
    texts = texts[:400]
    started = time.perf_counter()
    for text, lang in texts:
        title, body = split_title(text)
        fingerprint(title, body, language=lang)
    per_item = (time.perf_counter() - started) / len(texts) * 1e6
    chars = statistics.median(len(t) for t, _ in texts)
    return f"fingerprint (real articles, median {chars:.0f} chars): {per_item:.0f} us/item"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args(argv)
    print(fingerprint_cost(args.path))
    print(
        f"{'stories':>9s} {'fill s':>7s} {'B/story':>8s} {'median us':>10s} {'mean us':>8s} "
        f"{'cands':>6s} {'joined':>7s} {'ratio':>6s}"
    )
    first: float | None = None
    for size in (int(s) for s in args.sizes.split(",")):
        index, sample, synth, fill_s, per_story = fill(size, seed=size)
        result = run_queries(index, sample, synth, args.queries, size)
        first = first or result["median_us"]
        print(
            f"{size:9d} {fill_s:7.1f} {per_story:8.0f} {result['median_us']:10.1f} "
            f"{result['mean_us']:8.1f} {result['candidates']:6.1f} {result['joined']:7.2f} "
            f"{result['median_us'] / first:6.2f}"
        )
        del index, sample, synth
        gc.unfreeze()
        gc.collect()


if __name__ == "__main__":
    main()
