"""A poll in steady state imports nothing: no module lookup per request or per parse.

A failed import is not cached: each one searches every sys.path entry again (~50 us).
Libraries do such imports on hot paths (httpcore imports ``sniffio`` for each request,
feedparser asks xml.sax for ``drv_libxml2`` on each parse); the project installs or
turns off what they look for. This spy on ``sys.meta_path`` records any module lookup
after a warm-up poll.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from monitor.core.models import Feed
from monitor.sources.fetch import Fetcher, FetchSettings
from monitor.sources.parse import parse_feed
from tests.support.feed_server import FeedServer, Response

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Desk</title>
<item><title>First report</title><link>https://news.example/1</link></item>
<item><title>Second report</title><link>https://news.example/2</link></item>
</channel></rss>"""
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class ImportSpy:
    """A meta path finder that finds nothing and remembers what was looked up."""

    def __init__(self) -> None:
        self.looked_up: list[str] = []

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        self.looked_up.append(name)


@pytest.fixture
def spy() -> Iterator[ImportSpy]:
    finder = ImportSpy()
    sys.meta_path.insert(0, finder)
    try:
        yield finder
    finally:
        sys.meta_path.remove(finder)


async def test_fetching_and_parsing_again_looks_up_no_module(
    feed_server: FeedServer, spy: ImportSpy
) -> None:
    url = feed_server.route("/feed.xml", Response(RSS))
    feed = Feed(url=url, name="desk")
    async with Fetcher(FetchSettings(allow_private_networks=True)) as fetcher:
        for _ in range(2):  # the first round may import what runs lazily once
            spy.looked_up.clear()
            result = await fetcher.fetch(url)
            parsed = parse_feed(result.body, result.headers, feed=feed, fetched_at=NOW)
    assert [e.title for e in parsed.entries] == ["First report", "Second report"]
    assert spy.looked_up == []
