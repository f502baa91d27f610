"""Same-story precision/recall/F1 on the SemEval-2022 Task 8 pairs, with a threshold sweep.

Usage: python -m bench.eval_same_story [PATH]   (PATH: the folder holding pairs.jsonl,
default /work/shared/corpora/semeval2022_task8_pairs)

Labels: Overall <= 1.5 is the same story, >= 3 a different one; pairs in between are
left out. Rows with a machine-translated side or mojibake are reported apart ("mt"),
never mixed into the calibration groups. Document frequencies come from every text of
the file (standing in for the window); "no df" is what `monitor compare` sees.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from monitor.core.cluster import DEFAULT_SETTINGS, ClusterSettings, compare, split_title
from monitor.core.fingerprint import (
    NO_DOC_FREQ,
    DocFreq,
    Fingerprint,
    TermCounts,
    fingerprint,
    index_keys,
    term_weights,
)

DEFAULT_PATH = Path("/work/shared/corpora/semeval2022_task8_pairs")


@dataclass(frozen=True)
class Pair:
    a: Fingerprint
    b: Fingerprint
    same: bool
    lang: str  # "en-en", "de-en" ...
    clean: bool  # neither side machine-translated nor mojibake


Group = Callable[[Pair], bool]
GROUPS: dict[str, Group] = {
    "en-en": lambda p: p.clean and p.lang == "en-en",
    "clean same-language": lambda p: p.clean and p.lang[:2] == p.lang[3:],
    "clean cross-language": lambda p: p.clean and p.lang[:2] != p.lang[3:],
    "clean all": lambda p: p.clean,
    "mt (machine-translated side)": lambda p: not p.clean,
    "all": lambda p: True,
}


def load(path: Path) -> tuple[list[Pair], TermCounts, float]:
    """Labelled pairs with fingerprints, the corpus document frequencies, ms per fingerprint."""
    rows = [json.loads(line) for line in (path / "pairs.jsonl").open(encoding="utf-8")]
    prints: dict[str, Fingerprint] = {}
    started = time.perf_counter()
    for row in rows:
        for side in ("1", "2"):
            key = row["id" + side] + row["lang" + side]
            if key not in prints:
                title, body = split_title(row["text" + side])
                prints[key] = fingerprint(title, body, language=row["lang" + side])
    per_item_ms = (time.perf_counter() - started) * 1000 / max(1, len(prints))
    df: Counter[str] = Counter()
    for fp in prints.values():
        df.update(fp.terms)
    pairs = []
    for row in rows:
        overall = row["Overall"]
        if 1.5 < overall < 3:
            continue
        pairs.append(
            Pair(
                prints[row["id1"] + row["lang1"]],
                prints[row["id2"] + row["lang2"]],
                overall <= 1.5,
                f"{row['lang1']}-{row['lang2']}",
                not (row["machine_translated_1"] or row["machine_translated_2"] or row["mojibake"]),
            )
        )
    return pairs, TermCounts(len(prints), df), per_item_ms


def scores(
    pairs: Iterable[Pair], doc_freq: DocFreq, settings: ClusterSettings
) -> tuple[int, int, int, int]:
    """(true positives, false positives, false negatives, pairs)."""
    tp = fp = fn = n = 0
    for p in pairs:
        said = compare(p.a, p.b, doc_freq, settings).same_story
        tp += said and p.same
        fp += said and not p.same
        fn += (not said) and p.same
        n += 1
    return tp, fp, fn, n


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def report(pairs: list[Pair], doc_freq: DocFreq, settings: ClusterSettings, label: str) -> None:
    print(f"\n## {label}")
    print(f"{'group':30s} {'pairs':>5s} {'same':>4s} {'P':>6s} {'R':>6s} {'F1':>6s}  signals")
    for name, member in GROUPS.items():
        chosen = [p for p in pairs if member(p)]
        tp, fp, fn, n = scores(chosen, doc_freq, settings)
        precision, recall, f1 = prf(tp, fp, fn)
        signals = Counter(compare(p.a, p.b, doc_freq, settings).signal for p in chosen)
        signals.pop("none", None)
        shown = " ".join(f"{k}={v}" for k, v in sorted(signals.items()))
        positives = sum(p.same for p in chosen)
        print(f"{name:30s} {n:5d} {positives:4d} {precision:6.3f} {recall:6.3f} {f1:6.3f}  {shown}")


def sweep(pairs: list[Pair], doc_freq: DocFreq, field: str, values: list[float]) -> None:
    """F1 per group as one threshold (a float field of ClusterSettings) varies."""
    groups = ["en-en", "clean same-language", "clean all"]
    print(f"\n## sweep {field} (F1; other thresholds at their defaults)")
    print(f"{field:>18s} " + " ".join(f"{g:>20s}" for g in groups))
    for value in values:
        settings = replace(DEFAULT_SETTINGS, **{field: value})  # type: ignore[arg-type]
        cells = []
        for g in groups:
            tp, fp, fn, _ = scores([p for p in pairs if GROUPS[g](p)], doc_freq, settings)
            precision, recall, f1 = prf(tp, fp, fn)
            cells.append(f"{f1:.3f} (P{precision:.2f} R{recall:.2f})")
        print(f"{value:18.2f} " + " ".join(f"{c:>20s}" for c in cells))


def shares_key(
    a: Fingerprint, b: Fingerprint, doc_freq: DocFreq, settings: ClusterSettings
) -> bool:
    """Would an index holding ``b`` return it for ``a`` (they share a key)?"""
    stored = set(index_keys(b, term_weights(b, doc_freq), settings.index_terms))
    asked = set(index_keys(a, term_weights(a, doc_freq), settings.lookup_terms))
    return bool(stored & asked)


def retrieval(pairs: list[Pair], doc_freq: DocFreq, settings: ClusterSettings) -> None:
    """Candidate recall, and the figures when a pair must also be found through the index."""
    same = [p for p in pairs if p.same and p.clean]
    found = sum(shares_key(p.a, p.b, doc_freq, settings) for p in same)
    print(f"\ncandidate recall (clean same-story pairs sharing an index key): {found}/{len(same)}")
    print("through the index (a pair counts as joined only if it shares a key):")
    for name in ("en-en", "clean same-language", "clean all"):
        tp = fp = fn = 0
        for p in pairs:
            if not GROUPS[name](p):
                continue
            said = compare(p.a, p.b, doc_freq, settings).same_story and shares_key(
                p.a, p.b, doc_freq, settings
            )
            tp += said and p.same
            fp += said and not p.same
            fn += (not said) and p.same
        precision, recall, f1 = prf(tp, fp, fn)
        print(f"  {name:28s} P={precision:.3f} R={recall:.3f} F1={f1:.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    pairs, doc_freq, per_item_ms = load(args.path)
    print(f"pairs labelled: {len(pairs)}; fingerprint: {per_item_ms:.2f} ms/item")
    print(f"settings: {DEFAULT_SETTINGS}")
    report(pairs, doc_freq, DEFAULT_SETTINGS, "default settings, df from the corpus")
    report(pairs, NO_DOC_FREQ, DEFAULT_SETTINGS, "default settings, no df (monitor compare)")
    sweep(pairs, doc_freq, "content_min", [0.10, 0.12, 0.13, 0.14, 0.15, 0.16, 0.18, 0.20, 0.25])
    sweep(pairs, doc_freq, "specifics_min", [0.0, 0.1, 0.15, 0.2, 0.25, 0.3])
    sweep(pairs, doc_freq, "content_sure", [0.2, 0.25, 0.3, 0.35, 0.4, 1.01])
    sweep(pairs, doc_freq, "copy_min", [0.2, 0.3, 0.4, 0.5, 0.7, 1.01])
    sweep(pairs, doc_freq, "name_boost", [1.0, 1.5, 2.0, 3.0])
    cross = [p for p in pairs if p.lang[:2] != p.lang[3:]]
    print("\n## sweep names_min on cross-language pairs (clean and mt)")
    for value in [0.2, 0.3, 0.4, 0.5, 0.6, 1.01]:
        settings = replace(DEFAULT_SETTINGS, names_min=value)
        tp, fp, fn, n = scores(cross, doc_freq, settings)
        precision, recall, f1 = prf(tp, fp, fn)
        print(f"{value:5.2f}  pairs={n} P={precision:.3f} R={recall:.3f} F1={f1:.3f}")
    retrieval(pairs, doc_freq, DEFAULT_SETTINGS)


if __name__ == "__main__":
    main()
