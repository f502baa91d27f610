"""Article text for new items: fetch the article page and extract its main text.

Runs only on items that are new and may alert (a feed's baseline items are not
fetched: they alert nobody, and a new feed would otherwise cost a page per item).
The feed's ``full_text`` decides: ``always``, ``auto`` (the default: when the feed
text is a teaser) or ``never``. Pages go through the same safe Fetcher as feeds
(deadline, size cap, per-host slots, private-network guard); extraction runs in a
worker thread. On failure the item keeps its feed text and records why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from monitor.core.models import Entry, Feed
from monitor.core.teaser import is_teaser
from monitor.errors import FetchError
from monitor.logs import get_logger
from monitor.sources.article import extract_article
from monitor.sources.fetch import HTML_ACCEPT, Fetcher

log = get_logger("monitor.fulltext")


def wants_article(feed: Feed, entry: Entry) -> bool:
    if not entry.link or feed.full_text == "never":
        return False
    return feed.full_text == "always" or is_teaser(entry.text, entry.title)


async def with_article_text(
    fetcher: Fetcher, feed: Feed, entries: Sequence[Entry], keys: set[str]
) -> list[Entry]:
    """``entries`` with article text added to those whose key is in ``keys`` and that
    want it; the others are returned unchanged."""
    return list(
        await asyncio.gather(
            *(
                _article(fetcher, feed, e) if e.key in keys and wants_article(feed, e) else _same(e)
                for e in entries
            )
        )
    )


async def _same(entry: Entry) -> Entry:
    return entry


async def _article(fetcher: Fetcher, feed: Feed, entry: Entry) -> Entry:
    assert entry.link is not None
    try:
        page = await fetcher.fetch(entry.link, accept=HTML_ACCEPT)
    except FetchError as exc:
        problem = f"{type(exc).__name__}: {exc}"
        log.info("article_failed", feed=feed.name, problem=problem)
        return replace(entry, article_problem=problem[:500])
    article = await asyncio.to_thread(
        extract_article,
        page.body,
        url=page.url,
        headers=page.headers,
        language=entry.language or feed.language,
    )
    if not article.ok:
        log.info("article_failed", feed=feed.name, problem=article.problem)
        return replace(entry, article_problem=article.problem)
    return replace(entry, article_text=article.text)
