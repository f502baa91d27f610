"""Telegram rendering: layout, escaping, cutting before escaping, digests split at the limit.

Every rendered message is checked with the emulator's parser of Telegram's HTML (strict
mode: a bare ``&`` is an error too), which is what the Bot API would do with it.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.models import AlertMatch
from monitor.core.render_telegram import (
    TELEGRAM_LIMIT,
    TITLE_LIMIT,
    clean_text,
    clip,
    merged_highlights,
    render_alert,
    render_digest,
    snippet_parts,
    utf16_len,
)
from tests.channels.conftest import PUBLISHED, MakeAlert, build_alert, feed_text
from tests.support.telegram_emulator import parse_html
from tests.support.telegram_emulator import utf16_len as emulator_utf16_len


def entities_of(html_text: str, kind: str) -> list[str]:
    parsed = parse_html(html_text)
    units = parsed.text.encode("utf-16-le")
    return [
        units[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le")
        for e in parsed.entities
        if e["type"] == kind
    ]


def test_alert_names_watchlists_links_the_headline_and_bolds_the_hits(make_alert: MakeAlert):
    message = render_alert(make_alert(), timezone="Asia/Jakarta")

    parsed = parse_html(message.html)
    assert parsed.text == message.plain
    lines = message.plain.split("\n")
    assert lines[0] == "🔔 Ferries · Batam"
    assert lines[1] == "Ferry line to Batam opens in March"
    assert lines[2] == "Harbour Daily · 2026-11-26 11:47 WIB"  # UTC+7
    assert "Also reported by: Coast Times, Island Post" in message.plain
    assert entities_of(message.html, "bold") == [
        "Ferries · Batam",
        "Ferry line to Batam opens in March",
        "ferry",
        "Batam",
    ]
    [link] = [e for e in parsed.entities if e["type"] == "text_link"]
    assert link["url"] == "https://news.example.org/2026/11/ferry-batam?ref=rss&x=1"
    assert message.plain.count("new ferry line") == 1  # one snippet shared by two watchlists


def test_distinct_snippets_are_labelled_with_their_watchlist(make_alert: MakeAlert):
    alert = make_alert(
        matches=(
            AlertMatch("Ferries", ("ferry",), "a ferry sank", ((2, 7),)),
            AlertMatch("Batam", ("Batam",), "Batam port shut", ((0, 5),)),
        )
    )
    plain = render_alert(alert).plain
    assert "Ferries: a ferry sank" in plain
    assert "Batam: Batam port shut" in plain


def test_markup_in_feed_text_is_shown_literally_never_interpreted(make_alert: MakeAlert):
    hostile = 'Rates <script>alert(1)</script> & "bonds" </b><i>'
    alert = make_alert(
        title=hostile,
        source="A&B <News>",
        matches=(AlertMatch("<b>list</b>", ("x",), "x </b> & <a href='y'>", ((0, 1),)),),
        also_reported_by=("C&D", "</i>"),
    )
    message = render_alert(alert)

    parsed = parse_html(message.html)  # strict: would raise on any unescaped & or tag
    assert hostile in parsed.text
    assert "A&B <News>" in parsed.text
    assert "x </b> & <a href='y'>" in parsed.text
    assert "Also reported by: C&D, </i>" in parsed.text
    assert "<script>" not in message.html


def test_controls_and_bidi_overrides_are_removed_from_feed_text(make_alert: MakeAlert):
    alert = make_alert(title="Evil \u202etxt.exe\u202c title\x00\x07\r\nnext \ud800 line")
    plain = render_alert(alert).plain
    title_line = plain.split("\n")[1]
    assert title_line == "Evil txt.exe title next \ufffd line"
    assert "\u202e" not in plain and "\x00" not in plain


def test_only_http_urls_become_links(make_alert: MakeAlert):
    for url in ("javascript:alert(1)", "file:///etc/passwd", "https://x.test/a b", None):
        message = render_alert(make_alert(url=url))
        assert not [e for e in parse_html(message.html).entities if e["type"] == "text_link"]
        assert "Ferry line to Batam opens in March" in message.plain


def test_a_huge_title_is_clipped_and_the_rest_of_the_alert_survives(make_alert: MakeAlert):
    message = render_alert(make_alert(title="&<" * 5000))

    title_line = message.plain.split("\n")[1]
    assert utf16_len(title_line) <= TITLE_LIMIT
    assert title_line.endswith("…")
    assert "Also reported by" in message.plain
    parse_html(message.html)


def test_cut_to_4096_visible_units_before_escaping(make_alert: MakeAlert):
    snippets = tuple(
        AlertMatch(f"list {n}", ("x",), f"{n} " + "&<>\"' 😀 " * 150, ((0, 1),)) for n in range(9)
    )
    message = render_alert(make_alert(matches=snippets))

    parsed = parse_html(message.html)
    assert parsed.text == message.plain
    assert emulator_utf16_len(parsed.text) <= TELEGRAM_LIMIT
    assert message.length > TELEGRAM_LIMIT - 20  # cut at the limit, not far before it
    assert message.plain.endswith("…")
    assert len(message.html) > TELEGRAM_LIMIT  # the escaped form may be longer: fine


def test_clip_counts_utf16_and_never_splits_a_surrogate_pair_or_a_joined_emoji():
    assert utf16_len("😀") == 2
    assert clip("😀" * 10, 6) == "😀😀…"  # 2 + 2 + 1 units: a third emoji would not fit
    family = "👩\u200d👩\u200d👧"
    clipped = clip("a" * 5 + family * 3, 9)
    assert not clipped.rstrip("…").endswith("\u200d")
    assert utf16_len(clipped) <= 9
    clipped.encode("utf-8")  # no lone surrogate
    assert clip("e\u0301" * 3, 3).count("\u0301") == clip("e\u0301" * 3, 3).count("e")


def test_clip_prefers_a_word_boundary_near_the_end():
    assert clip("alpha beta gamma delta", 20) == "alpha beta gamma…"
    assert clip("short", 10) == "short"


def test_highlights_are_clamped_merged_and_survive_cleaning():
    assert merged_highlights(10, [(8, 20), (0, 2), (1, 4), (5, 5), (-3, 1)]) == [(0, 4), (8, 10)]
    parts = snippet_parts("  a\tbig\n\nfish  ", [(4, 7)])
    assert parts == [("a ", False), ("big", True), (" fish", False)]
    assert clean_text("x\u2066y\u2069\x1bz") == "xyz"


def test_local_time_follows_the_recipient_zone_and_survives_an_unknown_zone(
    make_alert: MakeAlert,
):
    assert "2026-11-26 05:47 CET" in render_alert(make_alert(), timezone="Europe/Berlin").plain
    assert "2026-11-26 04:47 UTC" in render_alert(make_alert(), timezone="Nowhere/Atlantis").plain


def digest_alerts(count: int, watchlists: tuple[str, ...] = ("Ferries", "Batam", "Ports")):
    return [
        build_alert(
            delivery_id=n,
            title=f"Story number {n} about the harbour & the ferries",
            published=PUBLISHED + timedelta(minutes=n),
            matches=(
                AlertMatch(watchlists[n % len(watchlists)], ("ferry",), "x " * 150, ((0, 1),)),
            ),
        )
        for n in range(count)
    ]


def test_a_small_digest_is_one_message_grouped_by_watchlist():
    [message] = render_digest(
        digest_alerts(6),
        reason="hourly",
        period_start=PUBLISHED,
        period_end=PUBLISHED + timedelta(hours=1),
        timezone="Asia/Jakarta",
    )
    parse_html(message.html)
    lines = message.plain.split("\n")
    assert lines[0] == "🗞 hourly: 6 stories"
    assert lines[1] == "2026-11-26 11:47 – 2026-11-26 12:47 WIB"
    headings = entities_of(message.html, "bold")
    assert [h for h in headings if h in ("Ferries", "Batam", "Ports")] == [
        "Ferries",
        "Batam",
        "Ports",
    ]
    ferries = message.plain.index("Ferries\n")
    batam = message.plain.index("Batam\n")
    assert ferries < message.plain.index("Story number 3 ") < batam  # grouped, not by time


def test_a_long_digest_is_split_only_at_the_limit_and_keeps_every_story_once():
    alerts = digest_alerts(120)
    parts = render_digest(
        alerts, reason="daily", period_start=PUBLISHED, period_end=PUBLISHED + timedelta(days=1)
    )

    assert len(parts) > 1
    for part in parts:
        parse_html(part.html)
        assert part.length <= TELEGRAM_LIMIT
    for part in parts[:-1]:  # each full part is filled close to the limit before a split
        assert part.length > TELEGRAM_LIMIT - 600
    text = "\n".join(part.plain for part in parts)
    for n in range(120):
        assert text.count(f"Story number {n} ") == 1
    assert "(continued)" in parts[1].plain.split("\n")[0]


def test_an_empty_digest_renders_nothing():
    assert render_digest([], reason="hourly", period_start=PUBLISHED, period_end=PUBLISHED) == []


@settings(max_examples=300, deadline=None)
@given(
    title=feed_text,
    snippet=feed_text,
    source=feed_text,
    watchlist=feed_text,
    spans=st.lists(st.tuples(st.integers(-5, 420), st.integers(-5, 420)), max_size=4),
    limit=st.integers(1, 5000),
)
def test_any_feed_text_renders_to_valid_telegram_html_within_the_limit(
    title: str, snippet: str, source: str, watchlist: str, spans: list, limit: int
):
    alert = build_alert(
        title=title,
        source=source,
        matches=(AlertMatch(watchlist, ("t",), snippet, tuple(spans)),),
        also_reported_by=(source, title),
    )
    message = render_alert(alert, limit=min(limit, TELEGRAM_LIMIT))

    parsed = parse_html(message.html)
    assert parsed.text == message.plain
    assert emulator_utf16_len(parsed.text) <= min(limit, TELEGRAM_LIMIT)
