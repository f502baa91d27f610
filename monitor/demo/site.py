"""The demo's sample outlets rendered as RSS feeds and article pages (no I/O here).

Content comes from ``stories.yaml`` beside this module; ``cycle`` selects which
items exist (the second cycle adds new ones, as a real feed would).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from html import escape
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True)
class DemoItem:
    outlet: str
    slug: str
    cycle: int
    date: datetime
    title: str
    body: tuple[str, ...]
    boilerplate: tuple[str, ...]
    teaser: bool


def load_site() -> tuple[dict[str, dict[str, Any]], list[DemoItem]]:
    raw = yaml.safe_load(resources.files("monitor.demo").joinpath("stories.yaml").read_text())
    items = [
        DemoItem(
            outlet=i["outlet"],
            slug=i["slug"],
            cycle=int(i["cycle"]),
            date=datetime.fromisoformat(i["date"].replace("Z", "+00:00")),
            title=i["title"],
            body=tuple(i["body"]),
            boilerplate=tuple(i.get("boilerplate", ())),
            teaser=bool(i.get("teaser", False)),
        )
        for i in raw["items"]
    ]
    return raw["outlets"], items


def article_path(item: DemoItem) -> str:
    return f"/{item.outlet}/{item.slug}.html"


def render_feed(outlet: str, info: dict[str, Any], items: list[DemoItem], base: str) -> bytes:
    """An RSS 2.0 document for one outlet, newest item first."""
    entries = []
    for item in sorted(items, key=lambda i: i.date, reverse=True):
        link = f"{base}{article_path(item)}?utm_source=rss&utm_medium=feed"
        text = item.body[0] if item.teaser else "\n".join(f"<p>{escape(p)}</p>" for p in item.body)
        if item.teaser:
            text = escape(text.split(". ")[0]) + " [&#8230;]"
        entries.append(
            "<item>"
            f"<title>{escape(item.title)}</title>"
            f"<link>{escape(link)}</link>"
            f'<guid isPermaLink="false">{outlet}-{item.slug}</guid>'
            f"<pubDate>{format_datetime(item.date)}</pubDate>"
            f"<description>{escape(text)}</description>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(info['title'])}</title><link>{base}/{outlet}/</link>"
        f"<description>{escape(info['description'])}</description>"
        f"<language>{info['language']}</language>" + "".join(entries) + "</channel></rss>\n"
    ).encode()


def render_article(info: dict[str, Any], item: DemoItem) -> bytes:
    """An article page with the navigation, promos and comment form real sites have."""
    paragraphs = "\n".join(f"<p>{escape(p)}</p>" for p in item.body)
    extra = "\n".join(f"<p>{escape(p)}</p>" for p in item.boilerplate)
    return f"""<!doctype html>
<html lang="{info["language"]}"><head><meta charset="utf-8">
<title>{escape(item.title)} - {escape(info["title"])}</title></head>
<body>
<nav><a href="/">{escape(info["title"])}</a> | <a href="/news">News</a>
 | <a href="/sport">Sport</a></nav>
<article><h1>{escape(item.title)}</h1>
<p class="byline">{escape(info["title"])} · {item.date:%d/%m/%Y %H:%M}</p>
{paragraphs}
{extra}
</article>
<aside><h3>Most read</h3><ul><li><a href="/x">Another headline</a></li></ul></aside>
<footer>© {escape(info["title"])}</footer>
</body></html>
""".encode()
