"""Run the feed corpora through parse_feed + normalisation + repair_identities.

Usage: .venv/bin/python -m bench.eval_parse [CORPORA_ROOT] [--timing-repeat N]

Takes every file of feedparser_tests/ and every feed file of the real-world sets
(fastfeedparser_realworld_feeds, rss_parser_fixtures, node_feedparser_fixtures,
ukrainian_cyrillic_feeds, tempo_rss_history) under CORPORA_ROOT (default
/work/shared/corpora) and prints, per set and in total: files, feeds parsed, rejected
(ParseError: not a feed), crashes (any other exception), items, items kept after
`repair_identities`, documents with a problem (bozo), output-safety violations (NUL or
control characters, strings PostgreSQL cannot store, dates not timezone-aware UTC),
wall time, and the time of `feedparser.parse` with its defaults against our settings on
the same bytes. For feedparser's own tests, `Header:` lines of the test comment are sent
as response headers. Reads the corpora; never copies them anywhere.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import re
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser

from monitor.core.html_text import html_to_text
from monitor.core.identity import canonical_url, repair_identities
from monitor.core.models import Entry, Feed, ParsedFeed
from monitor.errors import ParseError
from monitor.sources.parse import PARSER_HEADERS, parse_feed

DEFAULT_ROOT = Path("/work/shared/corpora")
SETS = (
    "feedparser_tests",
    "fastfeedparser_realworld_feeds",
    "rss_parser_fixtures",
    "node_feedparser_fixtures",
    "ukrainian_cyrillic_feeds",
    "tempo_rss_history",
)
NOT_FEEDS = {"SOURCE.txt", "README.md", "LICENSE", "INDEX.tsv"}
FETCHED_AT = datetime(2026, 3, 1, tzinfo=UTC)
_UNSAFE_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_HEADER_RE = re.compile(rb"^Header:\s*([\w-]+):\s*(.*?)\s*$", re.MULTILINE)


@dataclass
class Tally:
    files: int = 0
    parsed: int = 0
    rejected: int = 0
    crashes: int = 0
    items: int = 0
    kept: int = 0
    problems: int = 0
    unsafe_strings: int = 0
    bad_dates: int = 0
    seconds: float = 0.0
    crash_samples: list[str] = field(default_factory=list)
    reject_reasons: Counter[str] = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        for f in fields(self):
            value = getattr(other, f.name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                setattr(self, f.name, getattr(self, f.name) + value)
        self.crash_samples.extend(other.crash_samples)
        self.reject_reasons.update(other.reject_reasons)


def feed_files(root: Path, name: str) -> list[Path]:
    """Every file of feedparser's tests; the feed files of the other sets."""
    base = root / name
    files = sorted(p for p in base.rglob("*") if p.is_file())
    if name == "feedparser_tests":
        return files
    kept = []
    for path in files:
        if path.name in NOT_FEEDS or "output" in path.parts:
            continue
        if path.name.endswith(".expected.json"):
            continue
        if path.suffix == ".json" and path.with_suffix(".xml").exists():
            continue  # a peer parser's expected output, not a feed
        kept.append(path)
    return kept


def test_headers(body: bytes) -> dict[str, str]:
    """`Header: Name: value` lines in a feedparser test comment -> response headers."""
    head = body[:4096]
    return {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in _HEADER_RE.findall(head)
    }


def unsafe(value: str | None) -> bool:
    """NUL, control characters, surrogates: what PostgreSQL text (UTF-8) refuses or we ban."""
    if not value:
        return False
    if _UNSAFE_RE.search(value):
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_entry(entry: Entry, tally: Tally) -> None:
    strings = (entry.guid, entry.url, entry.link, entry.title, entry.text, entry.author)
    tally.unsafe_strings += sum(unsafe(s) for s in (*strings, entry.language))
    if entry.published.tzinfo is None or entry.published.utcoffset() != timedelta(0):
        tally.bad_dates += 1


def check_feed(parsed: ParsedFeed, tally: Tally) -> None:
    tally.unsafe_strings += sum(
        unsafe(s) for s in (parsed.title, parsed.link, parsed.language, parsed.problem)
    )


def run_file(path: Path, set_name: str) -> Tally:
    tally = Tally(files=1)
    body = path.read_bytes()
    headers = test_headers(body) if set_name == "feedparser_tests" else {}
    feed = Feed(url="http://127.0.0.1:8097/" + path.name, name=path.stem)
    start = time.perf_counter()
    try:
        parsed = parse_feed(body, headers, feed=feed, fetched_at=FETCHED_AT)
        kept = repair_identities(parsed.entries)
    except ParseError as exc:
        tally.rejected += 1
        tally.reject_reasons[str(exc).split("(")[0].strip()] += 1
        return tally
    except Exception:
        tally.crashes += 1
        tally.crash_samples.append(f"{path}: {traceback.format_exc(limit=3)}")
        return tally
    finally:
        tally.seconds += time.perf_counter() - start
    tally.parsed += 1
    tally.items += len(parsed.entries)
    tally.kept += len(kept)
    tally.problems += parsed.problem is not None
    check_feed(parsed, tally)
    for entry in parsed.entries:
        check_entry(entry, tally)
    return tally


def _line(value: object) -> str:
    return " ".join(html_to_text(value if isinstance(value, str) else "").split())


def golden(root: Path) -> None:
    """Titles and links against the peer parser's expected output, item counts against
    INDEX.tsv (fastfeedparser_realworld_feeds): how often we read what it read."""
    base = root / "fastfeedparser_realworld_feeds"
    if not base.is_dir():
        return
    expected_titles: Counter[str] = Counter()
    found_titles: Counter[str] = Counter()
    expected_links: Counter[str] = Counter()
    found_links: Counter[str] = Counter()
    pairs = 0
    for expected_path in sorted((base / "tests" / "integration").glob("*.json")):
        if expected_path.name.endswith(".expected.json"):
            continue
        feed_path = expected_path.with_suffix(".xml")
        if not feed_path.exists():
            feed_path = expected_path
            expected_path = expected_path.with_suffix(".expected.json")
            if not expected_path.exists():
                continue
        expected = json.loads(expected_path.read_text(encoding="utf-8"))
        parsed = parse_feed(
            feed_path.read_bytes(), {}, feed=Feed(url="https://x.example/", name="x"),
            fetched_at=FETCHED_AT,
        )  # fmt: skip
        pairs += 1
        want = [e for e in expected.get("entries", []) if isinstance(e, dict)]
        expected_titles.update(t for t in (_line(e.get("title")) for e in want) if t)
        found_titles.update(e.title for e in parsed.entries if e.title)
        expected_links.update(
            u for u in (canonical_url(e.get("link") or e.get("url")) for e in want) if u
        )
        found_links.update(e.url for e in parsed.entries if e.url)
    titles_ok = sum((expected_titles & found_titles).values())
    links_ok = sum((expected_links & found_links).values())
    print(f"\ngolden, {pairs} feeds with a peer parser's expected output:")
    print(f"  titles {titles_ok}/{sum(expected_titles.values())}"
          f"  links {links_ok}/{sum(expected_links.values())}")  # fmt: skip
    index = base / "INDEX.tsv"
    if index.exists():
        rows = list(csv.DictReader(index.open(encoding="utf-8"), delimiter="\t"))
        same_count = same_title = present = 0
        for row in rows:
            path = base / "benchmark_data" / row["file"]
            if not path.exists():
                continue
            present += 1
            parsed = parse_feed(
                path.read_bytes(), {}, feed=Feed(url="https://x.example/", name="x"),
                fetched_at=FETCHED_AT,
            )  # fmt: skip
            same_count += len(parsed.entries) == int(row["n_items"] or 0)
            same_title += parsed.title == _line(html.unescape(row["title"]))
        print(f"  INDEX.tsv: item count equal {same_count}/{present},"
              f" feed title equal {same_title}/{present}")  # fmt: skip


def feedparser_seconds(bodies: list[tuple[bytes, dict[str, str]]], ours: bool) -> float:
    start = time.perf_counter()
    for body, headers in bodies:
        wanted = {k: v for k, v in headers.items() if k in PARSER_HEADERS}
        if ours:
            feedparser.parse(
                io.BytesIO(body),
                response_headers=wanted,
                sanitize_html=False,
                resolve_relative_uris=False,
            )
        else:
            feedparser.parse(io.BytesIO(body), response_headers=wanted)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", nargs="?", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--timing-repeat", type=int, default=3, help="best of N timings")
    args = parser.parse_args(argv)
    total = Tally()
    print(f"corpora: {args.root}")
    header = f"{'set':32} {'files':>6} {'feeds':>6} {'reject':>6} {'crash':>5} {'items':>7}"
    print(header + f" {'kept':>7} {'bozo':>5} {'unsafe':>6} {'baddate':>7} {'secs':>6}")
    all_bodies: dict[str, list[tuple[bytes, dict[str, str]]]] = {}
    for name in SETS:
        if not (args.root / name).is_dir():
            print(f"{name:32} missing")
            continue
        tally = Tally()
        bodies = []
        for path in feed_files(args.root, name):
            tally.add(run_file(path, name))
            body = path.read_bytes()
            bodies.append((body, test_headers(body) if name == "feedparser_tests" else {}))
        all_bodies[name] = bodies
        total.add(tally)
        print(
            f"{name:32} {tally.files:6} {tally.parsed:6} {tally.rejected:6} {tally.crashes:5}"
            f" {tally.items:7} {tally.kept:7} {tally.problems:5} {tally.unsafe_strings:6}"
            f" {tally.bad_dates:7} {tally.seconds:6.2f}"
        )
    print(
        f"{'TOTAL':32} {total.files:6} {total.parsed:6} {total.rejected:6} {total.crashes:5}"
        f" {total.items:7} {total.kept:7} {total.problems:5} {total.unsafe_strings:6}"
        f" {total.bad_dates:7} {total.seconds:6.2f}"
    )
    print("rejected, by reason:")
    for reason, count in total.reject_reasons.most_common():
        print(f"  {count:5}  {reason}")
    for sample in total.crash_samples[:20]:
        print("CRASH", sample)

    print(f"\nfeedparser.parse on the same bytes (best of {args.timing_repeat}):")
    print(f"{'set':32} {'default s':>10} {'ours s':>10} {'ratio':>6}")
    total_default = total_ours = 0.0
    for name, bodies in all_bodies.items():
        runs = [  # interleaved, so a burst of load on the machine hits both alike
            (feedparser_seconds(bodies, False), feedparser_seconds(bodies, True))
            for _ in range(args.timing_repeat)
        ]
        default = min(run[0] for run in runs)
        ours = min(run[1] for run in runs)
        total_default += default
        total_ours += ours
        print(f"{name:32} {default:10.3f} {ours:10.3f} {default / max(ours, 1e-9):6.2f}")
    ratio = total_default / max(total_ours, 1e-9)
    print(f"{'TOTAL':32} {total_default:10.3f} {total_ours:10.3f} {ratio:6.2f}")
    golden(args.root)
    return 1 if total.crashes or total.unsafe_strings or total.bad_dates else 0


if __name__ == "__main__":
    sys.exit(main())
