"""Fixtures for fetch tests: the fake feed server and a canary that counts SSRF hits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.feed_server import FeedServer, Response
from tests.support.feed_server import feed_server as feed_server


@pytest.fixture
def canary() -> Iterator[FeedServer]:
    """A server on 127.0.0.1 that no test may reach: assert ``canary.hits == 0``."""
    with FeedServer() as server:
        server.route("/", Response("canary", content_type="text/plain"))
        yield server
