"""Evaluate article extraction: trafilatura alone and with our boilerplate filter.

Corpora (never copied into the project; paths are arguments):

- ``BENCHMARK`` (default /work/shared/corpora/article_extraction_benchmark): pages in
  ``html/*.html.gz`` and gold bodies in ``ground-truth.json``. Printed per setting:
  token precision / recall / F1 (bag of ``\\w+`` tokens) and the benchmark's own
  measure (4-token shingles), each averaged over pages as the benchmark's reference
  scorer does (precision over pages with output, recall over pages with gold text,
  F1 from the two means), plus per-page extraction time.
- ``--indonesian`` (default /work/shared/corpora/indonesian_news_html_anpandu): article
  pages listed in ``ground_truth.json`` (a scraper's output, not human gold). Printed:
  how many outputs still contain a "Baca juga" line (target 0), token P/R/F1, and how
  many of the corpus's home pages extract_article refuses (problem "empty"/"no article").

For both corpora the filter is also run on the gold bodies themselves: every word it
removes there is a candidate loss of article text (printed as "gold words removed").
``--semeval`` (default /work/shared/corpora/semeval2022_task8_pairs): the same check on
about 1,300 scraped news texts in ten languages (pairs.jsonl, text1/text2).

Options:
  --grid           also measure trafilatura option variants (the table in the report)
  --show-removed   print every line the filter removed, with its rule, per corpus

Run: .venv/bin/python -m bench.eval_extraction [BENCHMARK] [--indonesian DIR]
     [--semeval DIR] [--grid] [--show-removed]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.sources.article import PASSES, PRECISE, Article, extract_article

CORPORA = Path("/work/shared/corpora")
TOKEN = re.compile(r"\w+")
BACA_JUGA = re.compile(r"^\W*baca\s*juga", re.IGNORECASE | re.MULTILINE)

# One trafilatura pass with its default balance (title metadata on, comments off): the
# reference the grid varies one option at a time.
BASELINE: Mapping[str, Any] = {**PRECISE, "favor_precision": False}
GRID: dict[str, dict[str, Any]] = {
    "include_comments=True": {"include_comments": True},
    "favor_precision=True": {"favor_precision": True},
    "favor_recall=True": {"favor_recall": True},
    "include_tables=False": {"include_tables": False},
    "deduplicate=True": {"deduplicate": True},
    "fast=True": {"fast": True},
    "favor_precision+no tables": {"favor_precision": True, "include_tables": False},
}


@dataclass(frozen=True)
class Page:
    key: str
    html: bytes
    url: str | None
    gold: str


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float


def _ngrams(text: str, n: int) -> Counter[tuple[str, ...]]:
    tokens = TOKEN.findall(text or "")
    if n == 1:
        return Counter((token,) for token in tokens)
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens)


def _tp_fp_fn(gold: str, predicted: str, n: int) -> tuple[float, float, float]:
    true, pred = _ngrams(gold, n), _ngrams(predicted, n)
    tp = sum((true & pred).values())
    fp = sum((pred - true).values())
    fn = sum((true - pred).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def score(pairs: Iterable[tuple[str, str]], n: int) -> Scores:
    """Mean per-page precision and recall (benchmark convention), F1 of the means."""
    rows = [_tp_fp_fn(gold, predicted, n) for gold, predicted in pairs]

    def precision(tp: float, fp: float, fn: float) -> float:
        return 1.0 if fp == fn == 0 else (0.0 if tp == fp == 0 else tp / (tp + fp))

    def recall(tp: float, fp: float, fn: float) -> float:
        return 1.0 if fp == fn == 0 else (0.0 if tp == fn == 0 else tp / (tp + fn))

    p = statistics.mean(precision(*r) for r in rows if r[0] + r[1] > 0)
    r = statistics.mean(recall(*r) for r in rows if r[0] + r[2] > 0)
    return Scores(p, r, 2 * p * r / (p + r) if p + r else 0.0)


def load_benchmark(root: Path) -> list[Page]:
    gold = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for path in sorted((root / "html").glob("*.html.gz")):
        key = path.name.split(".")[0]
        if key in gold:
            entry = gold[key]
            pages.append(
                Page(
                    key, gzip.decompress(path.read_bytes()), entry.get("url"), entry["articleBody"]
                )
            )
    return pages


def load_indonesian(root: Path) -> list[Page]:
    entries = json.loads((root / "ground_truth.json").read_text(encoding="utf-8"))
    return [
        Page(e["html"], (root / e["html"]).read_bytes(), e.get("url"), e["content"])
        for e in entries
        if "content" in e
    ]


def run(
    pages: list[Page], extract: Callable[[Page], Article]
) -> tuple[dict[str, Article], list[float]]:
    outputs, times = {}, []
    for page in pages:
        start = time.perf_counter()
        outputs[page.key] = extract(page)
        times.append((time.perf_counter() - start) * 1000)
    return outputs, times


def _setting(clean: bool, options: Mapping[str, Any] | None = None) -> Callable[[Page], Article]:
    """extract_article as shipped (options None), or one pass of BASELINE + options."""
    passes = PASSES if options is None else ({**BASELINE, **options},)

    def extract(page: Page) -> Article:
        return extract_article(page.html, url=page.url, clean=clean, passes=passes, min_words=1)

    return extract


def _line(name: str, pages: list[Page], outputs: Mapping[str, Article], times: list[float]) -> str:
    pairs = [(p.gold, outputs[p.key].text) for p in pages]
    tok, shingle = score(pairs, 1), score(pairs, 4)
    ordered = sorted(times)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return (
        f"{name:<44} tokens P={tok.precision:.3f} R={tok.recall:.3f} F1={tok.f1:.3f} | "
        f"4-shingles P={shingle.precision:.3f} R={shingle.recall:.3f} F1={shingle.f1:.3f} | "
        f"ms/page mean={statistics.mean(times):.1f} p95={p95:.1f} "
        f"max={ordered[-1]:.1f}"
    )


def _show_removed(pages: list[Page], raw: Mapping[str, Article]) -> None:
    """Every removed line, flagged '!' when its words are in the gold text (a loss)."""
    from monitor.core.boilerplate import strip_boilerplate

    per_rule: Counter[str] = Counter()
    lost: Counter[str] = Counter()
    for page in pages:
        article = raw[page.key]
        gold = " ".join(TOKEN.findall(page.gold.lower()))
        for removal in strip_boilerplate(article.text, title=article.title).removed:
            words = " ".join(TOKEN.findall(removal.text.lower()))
            in_gold = bool(words) and words in gold
            per_rule[removal.rule] += 1
            lost[removal.rule] += in_gold
            print(f"  {'!' if in_gold else ' '} {removal.rule:<40} {removal.text[:110]}")
    print("  per rule (removed / of which in gold):")
    for rule, count in per_rule.most_common():
        print(f"    {rule:<44} {count:>4} / {lost[rule]}")


SETTINGS: tuple[tuple[str, bool, Mapping[str, Any] | None], ...] = (
    ("trafilatura balanced, one pass", False, {}),
    ("trafilatura balanced, one pass + filter", True, {}),
    ("precision, balanced if < 50 words", False, None),
    ("precision, balanced if < 50 words + filter", True, None),  # extract_article
)


def _grid(pages: list[Page]) -> None:
    print("option grid (each alone / with filter):")
    for name, options in GRID.items():
        alone, alone_times = run(pages, _setting(False, options))
        filtered, filtered_times = run(pages, _setting(True, options))
        print(_line(f"  {name}", pages, alone, alone_times))
        print(_line(f"  {name} + filter", pages, filtered, filtered_times))


def _gold_check(texts: Iterable[str]) -> None:
    """Run the filter on gold texts: what it removes there may be article text."""
    from monitor.core.boilerplate import strip_boilerplate

    total = removed = lines = 0
    rules: Counter[str] = Counter()
    for text in texts:
        total += len(TOKEN.findall(text))
        for removal in strip_boilerplate(text).removed:
            removed += len(TOKEN.findall(removal.text))
            lines += 1
            rules[removal.rule] += 1
    print(
        f"{'':<44} gold words removed by the filter: {removed} of {total} "
        f"({lines} lines; {', '.join(f'{r} x{n}' for r, n in rules.most_common(6))})"
    )


def evaluate_benchmark(root: Path, grid: bool, show_removed: bool) -> None:
    pages = load_benchmark(root)
    print(f"article_extraction_benchmark: {len(pages)} pages ({root})")
    for name, clean, options in SETTINGS:
        outputs, spent = run(pages, _setting(clean, options))
        print(_line(name, pages, outputs, spent))
    _gold_check(page.gold for page in pages)
    if grid:
        _grid(pages)
    if show_removed:
        _show_removed(pages, run(pages, _setting(False))[0])


def evaluate_indonesian(root: Path, grid: bool, show_removed: bool) -> None:
    pages = load_indonesian(root)
    print(f"indonesian_news_html_anpandu: {len(pages)} article pages ({root})")
    for name, clean, options in SETTINGS:
        outputs, spent = run(pages, _setting(clean, options))
        still = sum(1 for a in outputs.values() if BACA_JUGA.search(a.text))
        failed = sum(1 for a in outputs.values() if not a.text)
        print(_line(name, pages, outputs, spent))
        print(f"{'':<44} outputs with a 'Baca juga' line: {still}; empty outputs: {failed}")
    _gold_check(page.gold for page in pages)
    homes = sorted(root.rglob("*mainpage*.html"))
    problems = Counter(str(extract_article(path.read_bytes()).problem) for path in homes)
    print(f"home pages: {len(homes)}; extract_article problems: {dict(problems)}")
    if grid:
        _grid(pages)
    if show_removed:
        _show_removed(pages, run(pages, _setting(False))[0])


def evaluate_semeval(root: Path) -> None:
    texts: dict[str, None] = {}
    with (root / "pairs.jsonl").open(encoding="utf-8") as rows:
        for row in rows:
            pair = json.loads(row)
            texts.update(dict.fromkeys(t for t in (pair["text1"], pair["text2"]) if t))
    print(f"semeval2022_task8_pairs: {len(texts)} news texts ({root})")
    _gold_check(texts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "benchmark", nargs="?", type=Path, default=CORPORA / "article_extraction_benchmark"
    )
    parser.add_argument("--indonesian", type=Path, default=CORPORA / "indonesian_news_html_anpandu")
    parser.add_argument("--semeval", type=Path, default=CORPORA / "semeval2022_task8_pairs")
    parser.add_argument("--grid", action="store_true", help="measure trafilatura option variants")
    parser.add_argument("--show-removed", action="store_true", help="print what the filter removed")
    args = parser.parse_args(argv)
    found = False
    if (args.benchmark / "ground-truth.json").exists():
        evaluate_benchmark(args.benchmark, args.grid, args.show_removed)
        found = True
    else:
        print(f"no benchmark corpus at {args.benchmark}", file=sys.stderr)
    if (args.indonesian / "ground_truth.json").exists():
        evaluate_indonesian(args.indonesian, args.grid, args.show_removed)
        found = True
    else:
        print(f"no Indonesian corpus at {args.indonesian}", file=sys.stderr)
    if (args.semeval / "pairs.jsonl").exists():
        evaluate_semeval(args.semeval)
    return 0 if found else 2


if __name__ == "__main__":
    sys.exit(main())
