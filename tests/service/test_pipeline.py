"""The poll pipeline end to end: a real HTTP server, a real database, the console channel."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from monitor.logs import setup_logging
from monitor.service.runtime import Runtime
from tests.support.configs import item, rss, write_config
from tests.support.feed_server import FeedServer, Response


def count(rt: Runtime, sql: str) -> int:
    with rt.db.reading() as conn:
        return int(conn.execute(text(sql)).scalar_one())


async def test_first_poll_is_a_baseline_then_new_items_alert(
    feed_server: FeedServer, tmp_path: Path, db_url: str
) -> None:
    items = [item(1), item(2, "Starlink is mentioned in an old story")]
    feed_server.route("/a.xml", lambda _req: Response(rss(items), etag=f'"{len(items)}"'))
    config = write_config(
        tmp_path, feeds=[{"url": feed_server.url("/a.xml"), "name": "A"}], database_url=db_url
    )
    out = io.StringIO()
    rt = await Runtime.open(config, stream=out)
    try:
        first = await rt.poller.poll_all()
        assert (first.new_items, first.alerts) == (2, 0)
        items.append(item(3, "Sergei Kiriyenko and Starlink-nya"))
        second = await rt.poller.poll_all()
        assert (second.new_items, second.alerts) == (1, 1)
        third = await rt.poller.poll_all()  # the same ETag: 304, nothing parsed
        assert third.not_modified == 1 and third.new_items == 0
        report = await rt.sender.send_due()
        assert report.sent == 1
        assert count(rt, "SELECT count(*) FROM item") == 3
        assert count(rt, "SELECT count(*) FROM story") == 3
        assert count(rt, "SELECT count(*) FROM delivery WHERE state = 'sent'") == 1
    finally:
        await rt.aclose()
    alert = out.getvalue()
    assert "Story number 3" in alert and "Kiriyenko" in alert and "Starlink" in alert
    assert [r.conditional for r in feed_server.requests("/a.xml")] == [False, True, True]


async def test_backfill_alerts_the_newest_items_of_the_first_poll(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    items = [item(n, f"Starlink update {n}") for n in range(1, 6)]
    feed_server.route("/b.xml", Response(rss(items)))
    config = write_config(
        tmp_path, feeds=[{"url": feed_server.url("/b.xml"), "name": "B", "backfill": 2}]
    )
    rt = await Runtime.open(config, stream=io.StringIO())
    try:
        summary = await rt.poller.poll_all()
        assert (summary.new_items, summary.alerts) == (5, 2)
        with rt.db.reading() as conn:
            titles = conn.execute(
                text("SELECT s.title FROM delivery d JOIN story s ON s.id = d.story_id")
            ).scalars()
            assert sorted(t.split(":")[0] for t in titles) == ["Story number 4", "Story number 5"]
    finally:
        await rt.aclose()


async def test_changing_etag_on_an_unchanged_body_is_not_reparsed(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    body = rss([item(1, "Starlink")])
    calls = {"n": 0}

    def bogus_validators(_req: object) -> Response:
        calls["n"] += 1
        return Response(body, etag=f'"v{calls["n"]}"', headers={"Expires": "0"})

    feed_server.route("/c.xml", bogus_validators)
    config = write_config(tmp_path, feeds=[{"url": feed_server.url("/c.xml"), "name": "C"}])
    rt = await Runtime.open(config, stream=io.StringIO())
    try:
        await rt.poller.poll_all()
        second = await rt.poller.poll_all()
        assert second.unchanged == 1 and second.new_items == 0
    finally:
        await rt.aclose()


async def test_guid_reused_for_another_url_is_a_new_item(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    """Position-number GUIDs, reused every day for different articles (as Tempo does)."""
    day1 = [item(1, guid="1"), item(2, guid="2")]
    day2 = [item(3, "Starlink news", guid="1"), item(1, guid="2")]
    docs = [rss(day1), rss(day2)]
    feed_server.route("/d.xml", lambda _req: Response(docs[0]))
    config = write_config(tmp_path, feeds=[{"url": feed_server.url("/d.xml"), "name": "D"}])
    rt = await Runtime.open(config, stream=io.StringIO())
    try:
        await rt.poller.poll_all()
        docs.pop(0)
        second = await rt.poller.poll_all()
        assert (second.new_items, second.alerts) == (1, 1)
    finally:
        await rt.aclose()


WIN1251_FEED = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>Лента</title>'
    "<item><title>Кириенко провёл совещание</title><link>http://example.test/ru/1</link>"
    "<description>Сергей Кириенко и Starlink</description></item></channel></rss>"
).encode("cp1251")


def bad_inputs(server: FeedServer) -> dict[str, str]:
    """Feed name -> URL for every kind of bad input of issue 2 (plus one good feed)."""
    from tests.support.feed_server import closed_port, gzip_bomb, redirect

    big = rss([item(n) for n in range(10_000)])
    routes: dict[str, Response] = {
        "good": Response(rss([item(1)])),
        "malformed": Response(rss([item(1), item(2)])[:-60]),  # truncated mid-document
        "html": Response(
            "<html><body><h1>Welcome</h1><p>Not a feed</p></body></html>", content_type="text/html"
        ),
        "empty": Response(b""),
        "cp1251": Response(WIN1251_FEED, content_type="application/rss+xml; charset=windows-1251"),
        "latin1": Response(
            rss([item(1, "Caf\u00e9 na\u00efve \u00e0 Paris")])
            .replace("utf-8", "iso-8859-1")
            .encode("latin-1"),
            content_type="application/xml",
        ),
        "huge_feed": Response(big),
        "fifty_mb": Response(stream_size=50 * 2**20, content_type="application/xml"),
        "bomb": gzip_bomb(),
        "drip": Response(rss([item(1)]), drip_s=1.0),
        "loop": redirect("/loop.xml"),
        "not_found": Response("gone", status=404),
        "gone": Response("gone", status=410),
        "error": Response("boom", status=500),
    }
    urls = {name: server.route(f"/{name}.xml", r) for name, r in routes.items()}
    urls["refused"] = f"http://127.0.0.1:{closed_port()}/feed.xml"
    return urls


EXPECTED_FAILURES = {
    "html",
    "empty",
    "fifty_mb",
    "bomb",
    "drip",
    "loop",
    "not_found",
    "gone",
    "error",
    "refused",
}


@pytest.mark.slow
async def test_bad_inputs_fail_alone_with_a_clear_error(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    urls = bad_inputs(feed_server)
    config = write_config(
        tmp_path,
        feeds=[{"url": url, "name": name} for name, url in urls.items()],
        monitor={"fetch": {"deadline_s": 2, "allow_private_networks": True}},
    )
    logs = io.StringIO()
    setup_logging("INFO", json=True, stream=logs)
    rt = await Runtime.open(config, stream=io.StringIO())
    try:
        summary = await rt.poller.poll_all()
        with rt.db.reading() as conn:
            rows = {
                r.name: r
                for r in conn.execute(text("SELECT name, last_status, last_error FROM feed"))
            }
            per_feed: dict[str, int] = dict(
                conn.execute(
                    text(
                        "SELECT f.name, count(i.id) FROM feed f"
                        " LEFT JOIN item i ON i.feed_id = f.id GROUP BY f.name"
                    )
                ).all()
            )
            titles = set(conn.execute(text("SELECT title FROM item")).scalars())
            texts = "\n".join(conn.execute(text("SELECT text FROM item")).scalars())
    finally:
        await rt.aclose()
        setup_logging("WARNING")
    failed = {name for name, r in rows.items() if r.last_status == "error"}
    assert failed == EXPECTED_FAILURES
    assert summary.failed == len(EXPECTED_FAILURES) and summary.polled == len(urls)
    for name in failed:
        assert rows[name].last_error, name
    assert (
        "TooLargeError" in rows["fifty_mb"].last_error
        and "TooLargeError" in rows["bomb"].last_error
    )
    assert "DeadlineError" in rows["drip"].last_error
    assert "RedirectError" in rows["loop"].last_error
    assert "404" in rows["not_found"].last_error and "410" in rows["gone"].last_error
    assert "ParseError" in rows["html"].last_error and "ParseError" in rows["empty"].last_error
    assert per_feed["good"] == 1 and per_feed["huge_feed"] == 10_000
    assert per_feed["malformed"] >= 1  # what the parser recovered is kept
    assert "Кириенко провёл совещание" in titles  # windows-1251 from the header, no mojibake
    assert "Café naïve à Paris" in texts  # ISO-8859-1 declared in the XML prolog
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    polls = {line["feed"]: line for line in lines if line.get("event") == "poll"}
    assert set(polls) == set(urls)
    for name in EXPECTED_FAILURES:
        assert polls[name]["status"] == "error" and polls[name]["error"]
        assert "duration_ms" in polls[name]


async def test_retry_after_is_throttling_not_failure(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    from tests.support.feed_server import retry_after

    feed_server.route("/busy.xml", retry_after(120))
    config = write_config(tmp_path, feeds=[{"url": feed_server.url("/busy.xml"), "name": "Busy"}])
    rt = await Runtime.open(config, stream=io.StringIO())
    try:
        before = rt.clock.now()
        await rt.poller.poll_all()
        with rt.db.reading() as conn:
            row = conn.execute(
                text("SELECT last_status, error_streak, next_poll_at FROM feed")
            ).one()
        assert row.last_status == "throttled" and row.error_streak == 0
        from monitor.store.feeds import load_feed

        with rt.db.reading() as conn:
            state = load_feed(conn, feed_server.url("/busy.xml"))
        assert state is not None and state.next_poll_at is not None
        assert (state.next_poll_at - before).total_seconds() >= 120
        assert (await rt.poller.poll_due()).polled == 0  # not due before Retry-After
        assert len(feed_server.requests("/busy.xml")) == 1
    finally:
        await rt.aclose()
