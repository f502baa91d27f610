"""Precision and recall of watchlist matching on the project's quality set.

Usage: .venv/bin/python -m bench.eval_matching [path/to/matching_quality.yaml] [--failures]

The quality set (tests/fixtures/matching_quality.yaml by default) lists watchlists and
labelled items in English, Indonesian and Russian/Ukrainian. Prints the confusion
counts, precision and recall overall, by language and by kind of difficulty, and
(with --failures, or always when there are few) every case that went wrong.
Targets from issue 3: recall >= 0.95, precision >= 0.97.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from monitor.core.matcher import compile_watchlists
from monitor.core.models import Document, WatchlistSpec

DEFAULT_SET = Path(__file__).resolve().parent.parent / "tests/fixtures/matching_quality.yaml"


@dataclass(frozen=True)
class Case:
    watchlist: str
    language: str
    title: str
    text: str
    expected: bool
    kind: str


@dataclass(frozen=True)
class Outcome:
    case: Case
    matched: bool

    @property
    def correct(self) -> bool:
        return self.matched == self.case.expected


def load_set(path: Path) -> tuple[list[WatchlistSpec], list[Case]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    specs = [
        WatchlistSpec(name=w["name"], query=w["query"], exclude=w.get("exclude"))
        for w in data["watchlists"]
    ]
    cases = [
        Case(
            c["watchlist"],
            c["lang"],
            c.get("title", ""),
            c["text"],
            bool(c["match"]),
            c.get("kind", ""),
        )
        for c in data["cases"]
    ]
    return specs, cases


def evaluate(path: Path = DEFAULT_SET) -> list[Outcome]:
    specs, cases = load_set(path)
    matcher = compile_watchlists(specs)
    outcomes = []
    for case in cases:
        doc = Document(title=case.title, text=case.text, language=case.language)
        matched = case.watchlist in {m.watchlist for m in matcher.match(doc)}
        outcomes.append(Outcome(case, matched))
    return outcomes


def scores(outcomes: list[Outcome]) -> dict[str, float]:
    counts = Counter(("t" if o.correct else "f") + ("p" if o.matched else "n") for o in outcomes)
    tp, fp, fn, tn = counts["tp"], counts["fp"], counts["fn"], counts["tn"]
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
    }


def _line(label: str, outcomes: list[Outcome]) -> str:
    s = scores(outcomes)
    return (
        f"{label:<18} n={len(outcomes):>3}  tp={s['tp']:>3} fp={s['fp']:>2} fn={s['fn']:>2} "
        f"tn={s['tn']:>3}  precision={s['precision']:.3f}  recall={s['recall']:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_SET)
    parser.add_argument("--failures", action="store_true", help="list every wrong case")
    args = parser.parse_args()
    outcomes = evaluate(args.path)
    positives = sum(o.case.expected for o in outcomes)
    print(f"quality set: {args.path} ({positives} positive, {len(outcomes) - positives} negative)")
    print(_line("all", outcomes))
    for language in sorted({o.case.language for o in outcomes}):
        print(_line(f"lang={language}", [o for o in outcomes if o.case.language == language]))
    for kind in sorted({o.case.kind for o in outcomes}):
        print(_line(f"kind={kind}", [o for o in outcomes if o.case.kind == kind]))
    wrong = [o for o in outcomes if not o.correct]
    if wrong and (args.failures or len(wrong) <= 10):
        print("wrong:")
        for o in wrong:
            what = "missed" if o.case.expected else "false hit"
            print(f"  {what:<9} [{o.case.watchlist}] {o.case.title} {o.case.text}")


if __name__ == "__main__":
    main()
