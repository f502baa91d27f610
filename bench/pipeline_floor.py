"""The whole poll pipeline against its floor: feedparser's default parse and lxml's tree build.

Usage: python -m bench.pipeline_floor [REALWORLD] [--tempo DIR] [--articles DIR]
       [--rounds N] [--quick] [--profile]
(defaults: the fastfeedparser_realworld_feeds, tempo_rss_history and
article_extraction_benchmark folders under /work/shared/corpora)

A child process serves the corpus files on 127.0.0.1. The measured process runs the
product's runtime (``Runtime.open`` on a SQLite file, 1,000 watchlist terms in 100
watchlists, one console recipient, article text off) and times complete polls with
``poll_feed``: fetch, parse, normalise, store, cluster, match, plan deliveries.

* All-new: each real-world feed is polled under a URL the database has never seen
  (backfill all, so every item is new, clustered, matched and may alert), then polled
  again (the server answers 304 to the conditional GET), then again with the same body
  and no validators (the body-hash short-circuit). Interleaved with each feed's polls,
  on the same bytes: ``feedparser.parse`` with its defaults (twice: the second run is
  the parse-vs-parse control that shows the noise) and ``lxml.etree.fromstring`` (the
  physical floor: building the tree and nothing else). The order of the four sides is
  reversed on every other feed. Ratios are of sums over the corpus; "per new item"
  divides each side by the items it produced (new items for polls, entries for parses).
  Targets (issue 9): all-new <= 1.0x the default parse; re-poll with nothing new
  <= 0.05x.
* Tempo replay: the five Tempo.co feeds' daily snapshots are served in order, one per
  poll (the first poll is the baseline); each poll is timed against feedparser on the
  same snapshot, alternating. Most items of a snapshot are already known.
* Article text (off in the polls above): the extraction benchmark's pages served
  locally; per article, ``with_article_text`` (safe fetch + trafilatura + boilerplate
  filter), wall milliseconds.

``--profile`` (automatic when a target is missed): one more all-new pass sampled by
py-spy across all threads (cProfile of the main thread when py-spy is missing).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import json
import multiprocessing.connection
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import feedparser
from lxml import etree

from bench.bench_match import make_terms, watchlists
from bench.common import (
    ChildServers,
    Figure,
    Reporter,
    Target,
    corpus,
    emit_profile,
    in_turn,
    profile_pass,
    stopwatch,
)
from bench.poll_cycle import etag_of
from monitor.clock import SystemClock
from monitor.core.models import Document, Entry, Feed
from monitor.errors import ParseError
from monitor.logs import setup_logging
from monitor.service.fulltext import with_article_text
from monitor.service.pipeline import poll_feed
from monitor.service.runtime import Runtime
from monitor.sources.parse import parse_feed
from tests.support.configs import write_config

SECTION = "pipeline"
HOW = "python -m bench.pipeline_floor"
FEED_TYPES = {"json": "application/feed+json", "atom": "application/atom+xml"}
XML_PARSER = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=True)


# --- the served corpus (child process) ---------------------------------------------------


def serve(conn: multiprocessing.connection.Connection, params: Mapping[str, Any]) -> None:
    """Child process: serve feeds, Tempo snapshots and article pages until told to stop."""
    from tests.support.feed_server import FeedServer, Response, sequence

    with FeedServer() as server:
        for name, path, ctype, rounds in params["feeds"]:
            body = Path(path).read_bytes()
            etag = etag_of(body)
            first = Response(body, content_type=ctype, etag=etag, last_modified=_LAST_MODIFIED)
            again = Response(body, content_type=ctype)  # no validators: 200, same body
            for r in rounds:
                server.route(f"/r{r}/{name}", sequence(first, first, again))
        for name, paths in params["tempo"].items():
            snapshots = [Path(p).read_bytes() for p in paths]
            replies = [
                Response(b, content_type="application/rss+xml", etag=etag_of(b)) for b in snapshots
            ]
            server.route(f"/tempo/{name}", sequence(*replies))
        for number, path in enumerate(params["articles"]):
            page = gzip.decompress(Path(path).read_bytes())
            server.route(f"/article/{number}", Response(page, content_type="text/html"))
        conn.send({"base": server.url("")})
        conn.recv()
        conn.send({"requests": server.hits})


_LAST_MODIFIED = "Tue, 17 Feb 2026 08:00:00 GMT"


# --- what is measured ---------------------------------------------------------------------


@dataclass
class CorpusFeed:
    name: str
    path: Path
    content_type: str
    body: bytes = b""
    entries: int = 0  # what feedparser's default parse finds


@dataclass
class Sides:
    """Seconds per side, summed over the corpus, and the items each side produced."""

    seconds: dict[str, float] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    per_feed: list[tuple[str, float, float]] = field(default_factory=list)  # name, new, fp

    def add(self, side: str, seconds: float, items: int = 0) -> None:
        self.seconds[side] = self.seconds.get(side, 0.0) + seconds
        self.items[side] = self.items.get(side, 0) + items


def realworld_feeds(root: Path, quick: bool) -> list[CorpusFeed]:
    index = root / "INDEX.tsv"
    kinds: dict[str, str] = {}
    if index.exists():
        for line in index.read_text(encoding="utf-8").splitlines()[1:]:
            cells = line.split("\t")
            kinds[cells[0]] = cells[2] if len(cells) > 2 else ""
    files = sorted(p for p in (root / "benchmark_data").iterdir() if p.is_file())
    if quick:
        files = files[::4]
    return [
        CorpusFeed(p.name, p, FEED_TYPES.get(kinds.get(p.name, ""), "application/rss+xml"))
        for p in files
    ]


def tempo_snapshots(root: Path, per_feed: int | None) -> dict[str, list[Path]]:
    found = {}
    for folder in sorted(p for p in (root / "snapshots").iterdir() if p.is_dir()):
        snapshots = sorted(folder.glob("*.xml"))
        found[folder.name] = snapshots[:per_feed] if per_feed else snapshots
    return found


def default_parse(body: bytes, content_type: str) -> int:
    result = feedparser.parse(io.BytesIO(body), response_headers={"content-type": content_type})
    return len(result.entries)


def tree_build(body: bytes) -> None:
    etree.fromstring(body, XML_PARSER)


def watchlist_config(feeds: list[CorpusFeed], terms: int) -> list[dict[str, Any]]:
    """``terms`` watchlist terms in watchlists of ten, as in bench.bench_match: mostly
    generated surnames, some names taken from the corpus so that some items match."""
    documents: list[Document] = []
    probe = Feed(url="http://127.0.0.1/probe", name="probe")
    for feed in feeds:
        try:
            parsed = parse_feed(feed.body, {}, feed=probe, fetched_at=SystemClock().now())
        except ParseError:
            continue
        documents += [Document(title=e.title, text=e.text) for e in parsed.entries]
    chosen = make_terms(terms, documents, random.Random(3))
    return [{"name": s.name, "query": s.query} for s in watchlists(chosen)]


async def measure(args: argparse.Namespace) -> None:
    feeds = realworld_feeds(args.path, args.quick)
    for f in feeds:
        f.body = f.path.read_bytes()
    tempo = tempo_snapshots(args.tempo, 10 if args.quick else None) if args.tempo.is_dir() else {}
    pages = sorted((args.articles / "html").glob("*.html.gz"))[: 6 if args.quick else 40]
    rounds = list(range(args.rounds))
    profile_round = args.rounds
    params = {
        "feeds": [
            (f.name, str(f.path), f.content_type, [*rounds, profile_round, "w"]) for f in feeds
        ],
        "tempo": {name: [str(p) for p in paths] for name, paths in tempo.items()},
        "articles": [str(p) for p in pages],
    }
    workdir = Path(tempfile.mkdtemp(prefix="pipeline_floor_"))
    log_file = (workdir / "monitor.log").open("w")
    setup_logging("INFO", json=True, stream=log_file)
    with ChildServers(serve, params) as servers:
        base = servers.info["base"]
        feed_config = [
            {"url": f"{base}/r{r}/{f.name}", "name": f"r{r}-{f.name}", "backfill": "all"}
            for r in [*rounds, profile_round, "w"]
            for f in feeds
        ]
        feed_config += [{"url": f"{base}/tempo/{name}", "name": f"tempo-{name}"} for name in tempo]
        config = write_config(
            workdir,
            feeds=[{**f, "full_text": "never"} for f in feed_config],
            watchlists=watchlist_config(feeds, 1000),
            monitor={"fetch": {"allow_private_networks": True, "deadline_s": 60}},
        )
        rt = await Runtime.open(config)
        try:
            await _run(rt, base, feeds, tempo, pages, rounds, profile_round, args)
        finally:
            await rt.aclose()
            log_file.close()
            shutil.rmtree(workdir, ignore_errors=True)


async def _run(
    rt: Runtime,
    base: str,
    feeds: list[CorpusFeed],
    tempo: dict[str, list[Path]],
    pages: list[Path],
    rounds: list[int],
    profile_round: int,
    args: argparse.Namespace,
) -> None:
    ctx = rt.poller.ctx
    by_url = rt.poller.feeds

    async def poll(url: str) -> tuple[float, int, str]:
        with stopwatch() as t:
            report = await poll_feed(ctx, by_url[url])
        return t.wall, report.new_items, report.status

    # Warm-up (not counted): imports, the engine, the thread pool, the language model.
    for f in feeds[:3]:
        for _ in range(3):
            await poll(f"{base}/rw/{f.name}")
        default_parse(f.body, f.content_type)
        tree_build(f.body)
    for f in feeds:
        f.entries = default_parse(f.body, f.content_type)

    sides = Sides()
    statuses: dict[str, int] = {}
    for r in rounds:
        for number, f in enumerate(feeds):
            url = f"{base}/r{r}/{f.name}"
            steps = in_turn(["fp_a", "pipeline", "lxml", "fp_b"], r * len(feeds) + number)
            new_s = 0.0
            fp_s = 0.0
            for step in steps:
                if step in ("fp_a", "fp_b"):
                    with stopwatch() as t:
                        count = default_parse(f.body, f.content_type)
                    sides.add(step, t.wall, count)
                    fp_s += t.wall / 2
                elif step == "lxml":
                    with stopwatch() as t:
                        tree_build(f.body)
                    sides.add("lxml", t.wall, f.entries)
                else:
                    for side in ("new", "not_modified", "unchanged"):
                        seconds, new, status = await poll(url)
                        statuses[f"{side}:{status}"] = statuses.get(f"{side}:{status}", 0) + 1
                        sides.add(side, seconds, new)
                        new_s = seconds if side == "new" else new_s
            sides.per_feed.append((f.name, new_s, fp_s))
    print(f"poll outcomes (side:status): {statuses}")
    figures = report_all_new(sides, feeds, len(rounds), args)
    await report_tempo(poll, base, tempo, args)
    await report_articles(rt, base, pages, args)
    missed = any(f.met is False for f in figures)
    if args.profile or missed:
        urls = [f"{base}/r{profile_round}/{f.name}" for f in feeds]

        async def one_pass() -> None:
            for url in urls:
                await poll(url)

        title = "all-new polls of the real-world feeds (one pass, every thread)"
        emit_profile("pipeline.all_new", title, await profile_pass(one_pass, STEPS))
        title = "re-polls with nothing new: one 304 pass, two same-body passes (every thread)"

        async def three_passes() -> None:
            for _ in range(3):
                await one_pass()

        emit_profile("pipeline.not_modified", title, await profile_pass(three_passes, STEPS))


STEPS = {
    "fetch (httpx)": ("Fetcher.fetch",),
    "parse + normalise": ("parse_feed",),
    "identity + known items": ("known_identities", "repair_identities", "select_new"),
    "language": ("with_language",),
    "match": ("Matcher.match",),
    "fingerprint": ("fingerprint (monitor/core/fingerprint.py)",),
    "store: items": ("insert_items",),
    "store: clustering (assign_story)": ("assign_story",),
    "store: matches + outbox": ("insert_matches", "add_deliveries", "note_story_changed"),
    "store: feed state": ("record_outcome", "record_poll"),
    "load feed state + cadence": ("load_feed", "load_cadence"),
    "transaction begin/commit": ("Database.writing", "Database.reading", "do_commit", "_on_begin"),
    "logging": ("_proxy_to_logger", "BoundLoggerLazyProxy"),
}


def _how(args: argparse.Namespace, data: str) -> str:
    """The command that reproduces a figure measured on ``data`` (its argument)."""
    return f"{HOW} {data}" + (" --quick" if args.quick else "")


def report_all_new(
    sides: Sides, feeds: list[CorpusFeed], rounds: int, args: argparse.Namespace
) -> list[Figure]:
    s, n = sides.seconds, sides.items
    fp = (s["fp_a"] + s["fp_b"]) / 2
    fp_items = (n["fp_a"] + n["fp_b"]) / 2
    size = sum(len(f.body) for f in feeds) / 2**20
    out = Reporter(
        SECTION,
        f"{len(feeds)} real-world feeds ({size:.1f} MiB, "
        f"{sum(f.entries for f in feeds):,} entries) x {rounds} rounds, SQLite",
        _how(args, str(args.path)),
    )
    per_new = s["new"] / max(1, n["new"])
    per_parsed = fp / max(1, fp_items)
    print(
        f"seconds per pass: feedparser default {fp / rounds:.3f}, "
        f"lxml tree {s['lxml'] / rounds:.3f}, all-new poll {s['new'] / rounds:.3f}, "
        f"304 re-poll {s['not_modified'] / rounds:.3f}, "
        f"unchanged re-poll {s['unchanged'] / rounds:.3f}; new items per pass "
        f"{n['new'] / rounds:.0f}, feedparser entries per pass {fp_items / rounds:.0f}"
    )
    worst = sorted(sides.per_feed, key=lambda x: x[1] / max(x[2], 1e-9), reverse=True)[:5]
    print("highest all-new / parse ratios (feed, ratio):")
    for name, new_s, fp_s in worst:
        ratio = new_s / max(fp_s, 1e-9)
        print(f"  {name}  {ratio:.2f}x  ({new_s * 1e3:.1f} ms vs {fp_s * 1e3:.1f} ms)")
    out.figure(
        "pipeline.all_new_per_item_ratio",
        "All-new poll per new item / default feedparser parse per entry",
        per_new / per_parsed, "x", Target("<=", 1.0),
        note=f"{per_new * 1e3:.2f} ms per new item (whole poll) vs {per_parsed * 1e3:.2f} ms "
        "per entry (feedparser.parse with its defaults)",
    )  # fmt: skip
    out.figure(
        "pipeline.all_new_ratio", "All-new poll / default feedparser parse (same bytes)",
        s["new"] / fp, "x", Target("<=", 1.0),
    )  # fmt: skip
    out.figure(
        "pipeline.not_modified_ratio", "Re-poll answered 304 / default parse",
        s["not_modified"] / fp, "x", Target("<=", 0.05),
    )  # fmt: skip
    out.figure(
        "pipeline.unchanged_ratio", "Re-poll, same body (hash short-circuit) / default parse",
        s["unchanged"] / fp, "x", Target("<=", 0.05),
    )  # fmt: skip
    out.figure(
        "pipeline.lxml_over_parse", "lxml tree build (the floor) / default parse",
        s["lxml"] / fp, "x",
    )  # fmt: skip
    out.figure(
        "pipeline.all_new_over_lxml", "All-new poll / lxml tree build", s["new"] / s["lxml"], "x"
    )
    out.figure(
        "pipeline.control", "Control: default parse, 2nd run / 1st run",
        s["fp_b"] / s["fp_a"], "x",
        note="the same parse timed twice in each feed's sequence: its distance from 1.00 is "
        "the noise of these ratios",
    )  # fmt: skip
    out.figure("pipeline.ms_per_new_item", "All-new poll per new item", per_new * 1e3, "ms")
    return out.figures


async def report_tempo(
    poll: Callable[[str], Awaitable[tuple[float, int, str]]],
    base: str,
    tempo: dict[str, list[Path]],
    args: argparse.Namespace,
) -> None:
    if not tempo:
        print("Tempo history not found: replay skipped")
        return
    bodies = {name: [p.read_bytes() for p in paths] for name, paths in tempo.items()}
    poll_s = parse_s = 0.0
    new_items = entries = polls = 0
    steps = max(len(v) for v in bodies.values())
    for step in range(steps):
        for number, (name, snapshots) in enumerate(bodies.items()):
            if step >= len(snapshots):
                continue
            body = snapshots[step]
            for side in in_turn(["poll", "parse"], step + number):
                if side == "parse":
                    with stopwatch() as t:
                        count = default_parse(body, "application/rss+xml")
                    if step:
                        parse_s, entries = parse_s + t.wall, entries + count
                else:
                    seconds, new, _status = await poll(f"{base}/tempo/{name}")
                    if step:  # the first poll is the feed's baseline
                        poll_s, new_items, polls = poll_s + seconds, new_items + new, polls + 1
    out = Reporter(
        SECTION,
        f"{len(bodies)} Tempo.co feeds, {polls} daily snapshots after the baseline",
        _how(args, f"--tempo {args.tempo}"),
    )
    out.figure(
        "pipeline.tempo_ratio", "Tempo replay: poll / default parse of the same snapshot",
        poll_s / parse_s, "x",
        note=f"{new_items:,} new items in {polls} polls ({entries:,} entries parsed)",
    )  # fmt: skip
    if new_items:
        out.figure(
            "pipeline.tempo_ms_per_new_item", "Tempo replay: poll time per new item",
            poll_s / new_items * 1e3, "ms",
        )  # fmt: skip


async def report_articles(
    rt: Runtime, base: str, pages: list[Path], args: argparse.Namespace
) -> None:
    if not pages:
        print("article pages not found: article cost skipped")
        return
    feed = Feed(url=f"{base}/articles.xml", name="articles", full_text="always")
    times = []
    extracted = 0
    for number in range(len(pages)):
        link = f"{base}/article/{number}"
        entry = Entry(
            guid=f"a{number}", url=link, link=link, title=f"Article {number}", text="",
            published=SystemClock().now(), content_hash=f"a{number}",
        )  # fmt: skip
        with stopwatch() as t:
            done = await with_article_text(rt.fetcher, feed, [entry], {entry.key})
        times.append(t.wall)
        extracted += bool(done[0].article_text)
    out = Reporter(
        SECTION,
        f"{len(pages)} pages of article_extraction_benchmark served locally",
        _how(args, f"--articles {args.articles}"),
    )
    out.figure(
        "pipeline.article_ms", "Article text per article (fetch + extract), median",
        statistics.median(times) * 1e3, "ms",
        note=f"mean {statistics.fmean(times) * 1e3:.0f} ms, max {max(times) * 1e3:.0f} ms; "
        f"{extracted}/{len(pages)} pages gave text; not part of the polls above",
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "path", nargs="?", type=Path, default=corpus("fastfeedparser_realworld_feeds")
    )
    parser.add_argument("--tempo", type=Path, default=corpus("tempo_rss_history"))
    parser.add_argument("--articles", type=Path, default=corpus("article_extraction_benchmark"))
    parser.add_argument("--rounds", type=int, default=None, help="passes over the feeds")
    parser.add_argument("--quick", action="store_true", help="a quarter of the feeds, 2 rounds")
    parser.add_argument("--profile", action="store_true", help="profile an all-new pass")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 2 if args.quick else 4
    started = time.perf_counter()
    asyncio.run(measure(args))
    print(json.dumps({"seconds": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":
    main()
