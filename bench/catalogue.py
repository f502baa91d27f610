"""The catalogue of the suite: every benchmark with its arguments per tier, and remedies.

``BENCHES`` lists the benchmarks in the order they run, each with its title, what it
measures, its arguments in the full and quick tiers (``{corpora}`` stands for the corpora
folder) and the corpus it needs. ``REMEDIES`` says, for a figure that misses its target,
where the time goes and what would close it.
"""

from __future__ import annotations

from dataclasses import dataclass


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


C = "{corpora}"
EXTRACTION = (f"{C}/article_extraction_benchmark", "--indonesian",
              f"{C}/indonesian_news_html_anpandu", "--semeval",
              f"{C}/semeval2022_task8_pairs")  # fmt: skip
PIPELINE = (f"{C}/fastfeedparser_realworld_feeds", "--tempo", f"{C}/tempo_rss_history",
            "--articles", f"{C}/article_extraction_benchmark")  # fmt: skip
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
          EXTRACTION, EXTRACTION, "article_extraction_benchmark"),
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
    Bench("bench_cluster", "Clustering cost vs window size, in-memory reference (issue 4)",
          "Per-item clustering (candidates, decision, add) with 1,000 to 1,000,000 synthetic "
          "stories in the in-memory index: the pure reference the SQL index is tested "
          "against, not what the daemon runs (the daemon's cost is the next section's).",
          (f"{C}/semeval2022_task8_pairs",),
          (f"{C}/semeval2022_task8_pairs", "--sizes", "1000,30000", "--queries", "500")),
    Bench("bench_cluster_db", "Clustering cost vs window size, in the database (issue 4)",
          "assign_stories per item (one call per 10-item write transaction, as a poll) on "
          "SQLite and PostgreSQL with 1,000 to 1,000,000 stories bulk-loaded in the window.",
          (), ("--sizes", "1000,10000", "--backends", "sqlite", "--queries", "200")),
    Bench("pipeline_floor", "The pipeline against its floor (issue 9)",
          "Complete polls (fetch, parse, normalise, store, cluster, match 1,000 terms, plan "
          "deliveries; article text off) of the real-world feeds and the Tempo history served "
          "locally, against feedparser's default parse and lxml's tree build of the same "
          "bytes, alternating, with a parse-vs-parse control; article text per article.",
          PIPELINE, (*PIPELINE, "--quick"), "fastfeedparser_realworld_feeds"),
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
    "cluster_db.sqlite.ratio": "The work per item is bounded: flat from 100k to 1M (1.04x). "
    "What grows from 1k to 100k is the price of each of ~500 random index accesses per item "
    "(frequencies of 300-400 terms, 31 key ranges, 4-5 fingerprint rows, ~36 postings and "
    "~90 counts written), about 3 µs more each once the index (4 MB at 1k, 370 MB at 100k) "
    "no longer fits the CPU's caches; not the volume read (4 to 32 postings per key: the "
    "same). A 256 MiB page cache, mmap, a process-wide frequency cache: within noise. "
    "Closing it needs the index in fast memory at 1M: 430 MB of postings at least, over "
    "the 300 MB memory target of issue 9 (docs/clustering.md#cost).",
    "cluster_db.postgresql.ratio": "As on SQLite (flat from 100k: 1.09x); besides, a new "
    "item's ~40 postings land on ~44 index pages, each a full-page image in the WAL after "
    "a checkpoint (354 KB of WAL per item at 100k; wal_compression would shrink it).",
    "match.items_per_s_10k": "1.3 % short: within run-to-run noise here (issue 3 measured "
    "40,294 and 45,045 items/s); the Aho-Corasick scan and candidate evaluation dominate.",
}  # fmt: skip
