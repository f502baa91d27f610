"""Article text for new items: fetched through the safe fetcher, boilerplate removed."""

from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy import text

from monitor.service.runtime import Runtime
from tests.support.configs import rss, write_config
from tests.support.feed_server import FeedServer, Response

PAGE = """<!doctype html><html lang="id"><head><meta charset="utf-8"><title>Berita</title></head>
<body><nav><a href="/">Beranda</a></nav><article><h1>Pejabat Bertemu di Jakarta</h1>
<p>Sejumlah pejabat bertemu di Jakarta pada Selasa untuk membahas kerja sama kawasan.</p>
<p>Baca Juga: Harga Cabai Turun di Pasar Induk</p>
<p>Pertemuan itu dihadiri banyak delegasi dari negara tetangga dan organisasi internasional.</p>
<p>Menurut sumber, wakil kepala staf Kremlin Sergei Kiriyenko juga hadir dalam salah satu sesi
tertutup yang membahas keamanan informasi dan kerja sama media di kawasan Asia Tenggara.</p>
<p>Ikuti saluran WhatsApp kami untuk berita pilihan setiap pagi.</p>
<p>Tinggalkan Balasan</p></article></body></html>"""


TOPICS = {
    1: ("Harga beras naik di pasar induk", "Harga beras medium naik lima persen [&#8230;]"),
    2: ("Pejabat bertemu di Jakarta", "Sejumlah pejabat bertemu di Jakarta pada Selasa [&#8230;]"),
    3: ("Timnas menang tipis atas Vietnam", "Tim nasional menang satu gol tanpa balas [&#8230;]"),
}


def teaser(n: int, path: str) -> dict[str, str]:
    title, text = TOPICS[n]
    return {"title": title, "link": path, "guid": f"t{n}", "description": text}


async def test_teaser_items_get_article_text_and_match_deep_in_the_body(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    items: list[dict[str, str]] = [teaser(1, feed_server.url("/a/1.html"))]
    feed_server.route("/feed.xml", lambda _r: Response(rss(items, lang="id")))
    feed_server.route("/a/1.html", Response(PAGE, content_type="text/html; charset=utf-8"))
    feed_server.route("/a/2.html", Response(PAGE, content_type="text/html; charset=utf-8"))
    feed_server.route("/a/3.html", Response("gone", status=404))
    config = write_config(tmp_path, feeds=[{"url": feed_server.url("/feed.xml"), "name": "T"}])
    out = io.StringIO()
    rt = await Runtime.open(config, stream=out)
    try:
        await rt.poller.poll_all()  # baseline: stored, not alerted, no page fetched
        assert feed_server.requests("/a/1.html") == []
        items += [teaser(2, feed_server.url("/a/2.html")), teaser(3, feed_server.url("/a/3.html"))]
        summary = await rt.poller.poll_all()
        assert (summary.new_items, summary.alerts) == (2, 1)
        await rt.sender.send_due()
        with rt.db.reading() as conn:
            rows = {
                r.title: r
                for r in conn.execute(text("SELECT title, article_text, article_problem FROM item"))
            }
    finally:
        await rt.aclose()
    article = rows["Pejabat bertemu di Jakarta"].article_text
    assert "Kiriyenko" in article
    assert "Baca Juga" not in article and "WhatsApp" not in article
    assert "Tinggalkan Balasan" not in article
    failed = rows["Timnas menang tipis atas Vietnam"]
    assert failed.article_text is None and "404" in failed.article_problem
    assert "Kiriyenko" in out.getvalue() and "Pejabat bertemu di Jakarta" in out.getvalue()


async def test_full_text_never_fetches_no_page(feed_server: FeedServer, tmp_path: Path) -> None:
    items: list[dict[str, str]] = []
    feed_server.route("/feed.xml", lambda _r: Response(rss(items, lang="id")))
    feed_server.route("/a/1.html", Response(PAGE, content_type="text/html"))
    config = write_config(
        tmp_path,
        feeds=[{"url": feed_server.url("/feed.xml"), "name": "T", "full_text": "never"}],
    )
    rt = await Runtime.open(config, stream=io.StringIO())
    try:
        await rt.poller.poll_all()
        items.append(teaser(1, feed_server.url("/a/1.html")))
        summary = await rt.poller.poll_all()
    finally:
        await rt.aclose()
    assert summary.new_items == 1 and summary.alerts == 0
    assert feed_server.requests("/a/1.html") == []
