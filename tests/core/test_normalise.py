"""normalise_entry on feedparser-shaped dicts: text, dates, links, language, identity."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from monitor.core.identity import content_hash
from monitor.core.language import detect_language, language_tag, with_language
from monitor.core.models import Entry, Feed
from monitor.core.normalise import normalise_entries, normalise_entry

FEED = Feed(url="https://feeds.example/news/rss.xml", name="Example")
FETCHED = datetime(2025, 9, 2, 12, 0, tzinfo=UTC)
BASE = "https://feeds.example/news/rss.xml"


def norm(raw: dict[str, Any], **overrides: Any) -> Entry:
    options: dict[str, Any] = {
        "feed": FEED,
        "feed_language": None,
        "base_url": BASE,
        "fetched_at": FETCHED,
        "position": 0,
    }
    options.update(overrides)
    return normalise_entry(raw, **options)


def utc_struct(moment: datetime) -> time.struct_time:
    return moment.astimezone(UTC).timetuple()


# --- title and text -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Plain title", "Plain title"),
        ("A &amp; B", "A & B"),
        ("Prices <script>alert(1)</script>fall", "Prices fall"),
        ("<b>Bold</b>   news\n today", "Bold news today"),
        ("<p>Two</p><p>blocks</p>", "Two blocks"),
        ("Nul\x00 and bell\x07", "Nul and bell"),
        ("", ""),
    ],
)
def test_title_is_plain_text_on_one_line(title: str, expected: str) -> None:
    assert norm({"title": title}).title == expected


def test_text_prefers_the_longest_content_block_over_the_summary() -> None:
    raw = {
        "summary": "<p>Short summary</p>",
        "content": [
            {"type": "text/html", "value": "<p>Full</p><p>article body</p>"},
            {"type": "text/html", "value": "<p>x</p>"},
        ],
    }
    assert norm(raw).text == "Full\narticle body"


def test_text_from_summary_when_there_is_no_content() -> None:
    raw = {"summary": "<p>One &amp; two</p>", "summary_detail": {"type": "text/html"}}
    assert norm(raw).text == "One & two"


def test_plain_text_content_keeps_its_angle_brackets() -> None:
    raw = {"content": [{"type": "text/plain", "value": "if a <b> then\n\n c"}]}
    assert norm(raw).text == "if a <b> then\nc"


def test_twice_escaped_html_is_decoded_twice() -> None:
    raw = {"summary": "&lt;p&gt;Escaped twice &amp;amp; more&lt;/p&gt;"}
    assert norm(raw).text == "Escaped twice & more"


def test_yandex_full_text_is_used() -> None:
    raw = {"summary": "", "yandex_full-text": "<p>Полный текст новости.</p>"}
    assert norm(raw).text == "Полный текст новости."


def test_control_characters_never_survive_in_any_field() -> None:
    raw = {
        "title": "T\x00i\x01t\x1ble",
        "summary": "B\x00o\x0bd\x0cy\x7f",
        "link": "https://x.example/a\x00b",
        "id": "g\x00u\x08id",
        "author": "A\x00uthor",
    }
    entry = norm(raw)
    for value in (entry.title, entry.text, entry.link, entry.url, entry.guid, entry.author):
        assert value is not None
        assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in value)
    assert entry.title == "Title" and entry.text == "Body" and entry.guid == "guid"


# --- dates --------------------------------------------------------------------------------


def test_published_struct_is_utc() -> None:
    moment = datetime(2025, 9, 1, 10, 0, tzinfo=timezone(timedelta(hours=7)))
    entry = norm({"published_parsed": utc_struct(moment)})
    assert entry.published == datetime(2025, 9, 1, 3, 0, tzinfo=UTC)
    assert entry.published.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, FETCHED),
        ({"published": "sometime last week"}, FETCHED),
        (
            {"updated_parsed": utc_struct(datetime(2025, 8, 1, tzinfo=UTC))},
            datetime(2025, 8, 1, tzinfo=UTC),
        ),
        (
            {"created_parsed": utc_struct(datetime(2025, 7, 1, tzinfo=UTC))},
            datetime(2025, 7, 1, tzinfo=UTC),
        ),
        ({"published": "2025-09-01T10:00:00+07:00"}, datetime(2025, 9, 1, 3, 0, tzinfo=UTC)),
        ({"published": "Mon, 01 Sep 2025 10:00:00 +0700"}, datetime(2025, 9, 1, 3, 0, tzinfo=UTC)),
        ({"published": "2025-09-01T10:00:00"}, datetime(2025, 9, 1, 10, 0, tzinfo=UTC)),
        ({"published_parsed": utc_struct(datetime(2035, 1, 1, tzinfo=UTC))}, FETCHED),
        ({"published_parsed": utc_struct(datetime(1970, 1, 1, tzinfo=UTC))}, FETCHED),
        (
            {"published_parsed": (2025, 6, 30, 23, 59, 60, 0, 181, 0)},
            datetime(2025, 6, 30, 23, 59, 59, tzinfo=UTC),
        ),
        ({"published_parsed": (2025, 2, 31, 0, 0, 0, 0, 0, 0)}, FETCHED),
        ({"published_parsed": "not a struct"}, FETCHED),
    ],
)
def test_dates(raw: dict[str, Any], expected: datetime) -> None:
    assert norm(raw).published == expected


def test_a_little_in_the_future_is_kept() -> None:
    ahead = FETCHED + timedelta(hours=2)
    assert norm({"published_parsed": utc_struct(ahead)}).published == ahead


def test_naive_fetched_at_is_taken_as_utc() -> None:
    entry = norm({}, fetched_at=datetime(2025, 9, 2, 12, 0))
    assert entry.published == FETCHED


# --- links, identity ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "expected_link", "expected_url"),
    [
        (
            "https://a.example/x?utm_source=rss",
            "https://a.example/x?utm_source=rss",
            "https://a.example/x",
        ),
        (
            "story.html",
            "https://feeds.example/news/story.html",
            "https://feeds.example/news/story.html",
        ),
        ("/root/story", "https://feeds.example/root/story", "https://feeds.example/root/story"),
        ("//cdn.example/p", "https://cdn.example/p", "https://cdn.example/p"),
        ("other.example/post/1", "https://other.example/post/1", "https://other.example/post/1"),
        ("http://a.example/x#top", "http://a.example/x#top", "https://a.example/x"),
        ("javascript:alert(1)", None, None),
        ("mailto:desk@a.example", None, None),
        ("", None, None),
    ],
)
def test_links(link: str, expected_link: str | None, expected_url: str | None) -> None:
    entry = norm({"link": link})
    assert (entry.link, entry.url) == (expected_link, expected_url)


def test_relative_link_without_base_is_dropped() -> None:
    assert norm({"link": "story.html"}, base_url=None).link is None


def test_non_url_guid_copied_into_link_is_not_a_link() -> None:
    entry = norm({"id": "item-42", "link": "item-42", "guidislink": True})
    assert entry.link is None and entry.url is None and entry.guid == "item-42"
    permalink = norm(
        {"id": "https://a.example/1", "link": "https://a.example/1", "guidislink": True}
    )
    assert permalink.link == "https://a.example/1"


@pytest.mark.parametrize(
    ("guid", "expected"),
    [("  g-1 \n", "g-1"), ("", None), ("   ", None), (None, None), (42, None)],
)
def test_guid(guid: object, expected: str | None) -> None:
    assert norm({"id": guid}).guid == expected


def test_very_long_guid_becomes_a_hash() -> None:
    guid = norm({"id": "x" * 5000}).guid
    assert guid is not None and guid.startswith("sha256:") and len(guid) == 71


def test_content_hash_and_position() -> None:
    entry = norm({"title": "<b>T</b>", "summary": "Body"}, position=7)
    assert entry.content_hash == content_hash("T", "Body")
    assert entry.position == 7


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"author": "Jane Roe"}, "Jane Roe"),
        (
            {"author": "jane@paper.example (Jane Roe)", "author_detail": {"name": "ple (Jane"}},
            "Jane Roe",
        ),
        ({"author": "Jo (jo@x.org)", "author_detail": {"name": "Jo", "email": "jo@x.org"}}, "Jo"),
        ({"author": "  "}, None),
        ({}, None),
    ],
)
def test_author(raw: dict[str, Any], expected: str | None) -> None:
    assert norm(raw).author == expected


# --- language -----------------------------------------------------------------------------

LONG_EN = "The harbour council approved a new ferry timetable for the winter season on Monday."
LONG_ID = (
    "Pemerintah kota meresmikan jembatan baru yang menghubungkan dua kecamatan pada hari Senin."
)
LONG_RU = "Городской совет утвердил новое расписание паромов на зимний сезон в понедельник вечером."


@pytest.mark.parametrize(
    ("raw", "feed_language", "configured", "expected"),
    [
        ({"language": "fr-CA", "summary": LONG_EN}, "de", "id", "fr"),
        ({"title_detail": {"language": "pt_BR"}}, "de", None, "pt"),
        ({"content": [{"value": "x", "language": "nl"}]}, None, None, "nl"),
        ({"summary": LONG_EN}, "de-AT", "id", "de"),
        ({"summary": LONG_EN}, None, "id", "id"),
        ({"summary": LONG_EN}, None, None, "en"),
        ({"summary": LONG_ID}, None, None, "id"),
        ({"summary": LONG_RU}, None, None, "ru"),
        ({"title": "Short"}, None, None, None),
        ({"summary": LONG_EN}, "x-default", None, "en"),
    ],
)
def test_language_order(
    raw: dict[str, Any], feed_language: str | None, configured: str | None, expected: str | None
) -> None:
    """Declared languages come from normalisation; detection runs later, on new items only."""
    feed = Feed(url=FEED.url, name=FEED.name, language=configured)
    assert with_language(norm(raw, feed=feed, feed_language=feed_language)).language == expected


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("en-US", "en"),
        ("ru_RU", "ru"),
        (" ID ", "id"),
        ("fil", "fil"),
        ("", None),
        ("x-default", None),
        ("english", None),
        (None, None),
        (3, None),
    ],
)
def test_language_tag(tag: object, expected: str | None) -> None:
    assert language_tag(tag) == expected


def test_detect_language_abstains_on_short_or_letterless_text() -> None:
    assert detect_language("Hi there") is None
    assert detect_language("12345 67890 " * 10) is None


# --- normalise_entries --------------------------------------------------------------------


def test_normalise_entries_keeps_order_and_skips_empty_entries() -> None:
    raws = [{"title": "First"}, {}, {"title": "  "}, {"summary": "Third body"}]
    entries = normalise_entries(
        raws, feed=FEED, feed_language="en", base_url=BASE, fetched_at=FETCHED
    )
    assert [(e.position, e.title, e.text) for e in entries] == [
        (0, "First", ""),
        (3, "", "Third body"),
    ]


def test_odd_value_types_do_not_crash() -> None:
    raw: dict[str, Any] = {
        "title": None,
        "summary": 5,
        "content": "not a list",
        "link": ["x"],
        "id": {"a": 1},
        "author_detail": "x",
        "published_parsed": None,
        "title_detail": None,
    }
    entry = norm(raw)
    assert entry.title == "" and entry.text == "" and entry.link is None and entry.guid is None
