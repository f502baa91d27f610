"""parse_feed on the fixture feeds in tests/fixtures/feeds (bytes in, no HTTP)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.identity import KnownItems, repair_identities, select_new
from monitor.core.models import Entry, Feed, ParsedFeed
from monitor.errors import ParseError
from monitor.sources.parse import parse_feed, strip_control_bytes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
FEED = Feed(url="https://feeds.example/dir/feed.xml", name="Example")
NOW = datetime(2025, 9, 2, 12, 0, tzinfo=UTC)
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse(
    name_or_body: str | bytes,
    headers: Mapping[str, str] | None = None,
    *,
    base_url: str | None = None,
) -> ParsedFeed:
    body = load(name_or_body) if isinstance(name_or_body, str) else name_or_body
    return parse_feed(body, headers or {}, feed=FEED, fetched_at=NOW, base_url=base_url)


def strings(parsed: ParsedFeed) -> list[str]:
    values: list[str | None] = [parsed.title, parsed.link, parsed.language, parsed.problem]
    for e in parsed.entries:
        values += [e.guid, e.url, e.link, e.title, e.text, e.language, e.author]
    return [v for v in values if v]


def remember(entries: Iterable[Entry]) -> KnownItems:
    """What a store holding these entries would answer for any batch."""
    stored = list(entries)
    return KnownItems(
        urls=frozenset(e.url for e in stored if e.url),
        guids={e.guid: e.url for e in stored if e.guid},
        hashes=frozenset(e.content_hash for e in stored if not e.url),
    )


# --- formats ------------------------------------------------------------------------------


def test_rss20() -> None:
    parsed = parse("rss20.xml", {"Content-Type": "application/rss+xml; charset=utf-8"})
    assert parsed.title == "Harbour Gazette & Review"
    assert parsed.link == "https://gazette.example/"
    assert parsed.language == "en"
    assert parsed.ttl_s == 30 * 60
    assert parsed.problem is None
    first, second = parsed.entries
    assert first.title == "Council approves new ferry timetable"
    assert first.guid == "gazette-0001"
    assert first.link == (
        "https://gazette.example/news/ferry-timetable?utm_source=rss&utm_medium=feed&id=7"
    )
    assert first.url == "https://gazette.example/news/ferry-timetable?id=7"
    assert first.published == datetime(2025, 9, 2, 7, 30, tzinfo=UTC)
    assert first.author == "Mira Holt"
    assert first.language == "en"
    assert first.text.startswith("The harbour council voted on Monday evening")
    assert "six in the morning & run" in first.text
    assert "track(" not in first.text
    assert second.url == "https://gazette.example/news/lighthouse"
    assert second.position == 1


def test_atom_with_xml_base_and_xml_lang() -> None:
    parsed = parse("atom.xml")
    assert parsed.problem is None
    assert parsed.title == "Werkstatt Notizen"
    assert parsed.language == "de"
    assert parsed.link == "https://blog.example/de/"
    german, french = parsed.entries
    assert german.link == "https://blog.example/de/posts/drehbank"
    assert german.guid == "tag:blog.example,2025:drehbank"
    assert german.title == "Neue Drehbank in Betrieb"
    assert german.text == (
        "Seit gestern läuft die neue Drehbank in der Werkstatt.\n"
        "Die alte Maschine geht an die Schule im Nachbarort."
    )
    assert german.published == datetime(2025, 9, 1, 18, 0, tzinfo=UTC)
    assert german.author == "Jonas Feld"
    assert german.language == "de"
    assert french.language == "fr"
    assert french.text == "Un texte brut avec <balise> littérale."  # type="text" stays literal


def test_rdf() -> None:
    parsed = parse("rdf.xml")
    assert parsed.title == "Valley Weekly"
    assert parsed.language == "en"
    assert [e.title for e in parsed.entries] == [
        "Footbridge painted green",
        "Farmers market moves to Saturdays",
    ]
    assert parsed.entries[0].published == datetime(2025, 8, 28, 11, 0, tzinfo=UTC)


def test_json_feed() -> None:
    parsed = parse("jsonfeed.json", {"content-type": "application/feed+json"})
    assert (parsed.title, parsed.link, parsed.language) == (
        "Orchard Log",
        "https://orchard.example/",
        "en",
    )
    apples, pears, cider = parsed.entries
    assert apples.title == "Apple harvest starts early"
    assert apples.text == "The first apples were picked on Friday."
    assert apples.url == "https://orchard.example/posts/apples"
    assert apples.published == datetime(2025, 9, 1, 5, 30, tzinfo=UTC)
    assert apples.author == "Ana Pereira"
    assert pears.guid == "13"
    assert pears.text == "Plain text with a <literal> angle bracket."
    assert pears.published == datetime(2025, 8, 31, 16, 0, tzinfo=UTC)
    assert cider.link == "https://elsewhere.example/cider"
    assert cider.language == "pt"
    assert cider.published == NOW


def test_json_feed_with_control_characters() -> None:
    body = (
        b'{"version": "https://jsonfeed.org/version/1", "title": "Raw\x01 control",'
        b' "items": [{"id": "1", "title": "a\x00b\\u0000c", "url": "https://j.example/1"}]}'
    )
    parsed = parse(body)
    assert parsed.title == "Raw control"
    assert parsed.entries[0].title == "abc"


# --- malformed and non-feeds --------------------------------------------------------------


def test_truncated_document_keeps_what_was_recovered() -> None:
    parsed = parse("truncated.xml")
    assert parsed.problem is not None
    titles = [e.title for e in parsed.entries]
    assert titles[:2] == ["First story survives", "Second story also survives"]
    assert all(e.title or e.text or e.link for e in parsed.entries)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (b" \r\n\t ", "empty body"),
        (load("empty.xml"), "empty body"),
        (load("html_page.html"), "HTML page"),
        (b"<html><body><p>Moved</p></body></html>", "HTML page"),
        (b"Just some words, no markup.", "not a feed"),
        (bytes(range(256)) * 4, "not a feed"),
        (b'{"hello": "world"}', "not a JSON Feed"),
        (b'{"version": "1", "items": []}', "not a JSON Feed"),
        (b"{not json", "invalid JSON"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff", "not a feed"),  # gzip left compressed
    ],
)
def test_non_feeds_raise_parse_error(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse(body)


def test_a_path_as_body_is_never_opened(tmp_path: Path) -> None:
    target = tmp_path / "local.xml"
    target.write_bytes(load("rss20.xml"))
    with pytest.raises(ParseError):
        parse(str(target).encode())


def test_empty_feed_is_a_feed() -> None:
    parsed = parse(
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet</title></channel></rss>'
    )
    assert parsed.title == "Quiet" and parsed.entries == ()


# --- encodings ----------------------------------------------------------------------------

RU_TITLES = ["Мэрия открыла новый парк у реки", "В городе запустили ночной трамвай"]


def test_cp1251_declared_only_in_the_http_header() -> None:
    headers = {"Content-Type": "application/rss+xml; charset=windows-1251"}
    parsed = parse("cp1251_header.xml", headers)
    assert parsed.title == "Городские новости"
    assert [e.title for e in parsed.entries] == RU_TITLES
    assert parsed.entries[0].language == "ru"


@pytest.mark.parametrize("name", ["cp1251_prolog.xml", "koi8r.xml"])
def test_cyrillic_declared_in_the_prolog(name: str) -> None:
    parsed = parse(name)
    assert parsed.problem is None
    assert [e.title for e in parsed.entries] == RU_TITLES
    assert parsed.entries[1].text == "Первый рейс отправился в полночь от центрального вокзала."


def test_iso_8859_1() -> None:
    parsed = parse("latin1.xml")
    assert parsed.title == "Café Española"
    (entry,) = parsed.entries
    assert entry.title == "Año nuevo en el café: menú de otoño"
    assert "crème brûlée" in entry.text
    assert entry.language == "es"


def test_content_language_header_gives_the_feed_language() -> None:
    body = load("rdf.xml").replace(b"<dc:language>en</dc:language>", b"")
    assert parse(body, {"Content-Language": "en-GB, fr"}).language == "en"


# --- hostile content ----------------------------------------------------------------------


def test_nul_bytes_and_control_characters_are_removed() -> None:
    parsed = parse("control_chars.xml")
    assert parsed.title == "Noisy Channel"
    first, second = parsed.entries
    assert first.title == "Bad bytes in title"
    assert first.link == "https://noisy.example/1"
    assert first.guid == "noisy--1"
    assert first.author == "Ed Itor"
    assert second.title == "Second item"
    for value in strings(parsed):
        assert not CONTROL.search(value), value


def test_strip_control_bytes_leaves_utf16_and_iso2022_alone() -> None:
    utf16 = '<?xml version="1.0" encoding="utf-16"?><rss/>'.encode("utf-16")
    assert strip_control_bytes(utf16) == utf16
    iso2022 = b'<?xml version="1.0" encoding="iso-2022-jp"?>\x1b$B\x1b(B\x00'
    assert strip_control_bytes(iso2022) == iso2022[:-1]
    assert strip_control_bytes(b"<rss>\x00\x01b\x0c\x1b</rss>\t\n") == b"<rss>b</rss>\t\n"


def test_script_in_titles_is_stripped_and_javascript_links_dropped() -> None:
    parsed = parse("script_title.xml")
    assert parsed.title == "Hostile Feed"
    prices, raw = parsed.entries
    assert prices.title == "Prices fall & rise"
    assert prices.text == "Markets\nmoved."
    assert raw.title == "Raw markup & bold"
    assert raw.link is None and raw.url is None
    for value in strings(parsed):
        assert "alert" not in value and "steal" not in value and "<script" not in value


def test_billion_laughs_is_not_expanded() -> None:
    start = time.perf_counter()
    parsed = parse("billion_laughs.xml")
    assert time.perf_counter() - start < 5
    assert sum(len(v) for v in strings(parsed)) < 2000
    assert "lollol" not in "".join(strings(parsed))
    assert len(parsed.entries) == 1


def test_long_internal_entities_do_not_blow_up_quadratically() -> None:
    value = "x" * 100_000
    body = (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY big "{value}">\n'
        '<!ENTITY nbsp "&#160;">\n]>\n<rss version="2.0"><channel><title>a&nbsp;b</title>'
        f"<item><title>Blow-up</title><description>{'&big;' * 2000}</description></item>"
        "</channel></rss>"
    ).encode()
    start = time.perf_counter()
    parsed = parse(body)
    assert time.perf_counter() - start < 5
    assert parsed.title == "a b"  # HTML entity names still decode
    assert len(parsed.entries[0].text) < 20_000  # 200 MB if the entity were expanded


def test_entity_declarations_in_utf16_are_refused() -> None:
    body = '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE rss [<!ENTITY a "b">]><rss/>'
    with pytest.raises(ParseError, match="entity declarations"):
        parse(body.encode("utf-16"))


def test_utf16_feed_parses() -> None:
    body = '<?xml version="1.0" encoding="utf-16"?><rss version="2.0"><channel><title>Wide</title>'
    body += "<item><title>Ünïcode item</title><link>https://w.example/1</link></item>"
    parsed = parse((body + "</channel></rss>").encode("utf-16"))
    assert parsed.title == "Wide"
    assert parsed.entries[0].title == "Ünïcode item"


def test_external_entities_are_never_loaded(tmp_path: Path) -> None:
    canary = tmp_path / "canary.txt"
    canary.write_text("CANARY-7f3a91 secret")
    for body in (
        load("xxe.xml"),
        load("xxe.xml").replace(b"file:///etc/passwd", canary.as_uri().encode()),
    ):
        parsed = parse(body)
        joined = "\n".join(strings(parsed))
        assert "CANARY-7f3a91" not in joined
        assert "root:" not in joined
        assert [e.link for e in parsed.entries] == ["https://xxe.example/1"]


# --- links and dates ----------------------------------------------------------------------


def test_relative_links_resolve_against_the_feed_url() -> None:
    parsed = parse("relative_links.xml")
    assert parsed.link == "https://feeds.example/"
    assert [e.link for e in parsed.entries] == [
        "https://feeds.example/dir/articles/one.html",
        "https://feeds.example/articles/two.html?b=2&a=1",
        "https://cdn.relative.example/three",
        "https://relative.example/four/",
        None,
    ]
    assert parsed.entries[1].url == "https://feeds.example/articles/two.html?a=1&b=2"


def test_relative_links_resolve_against_base_url_and_content_location() -> None:
    moved = parse("relative_links.xml", base_url="https://moved.example/x/feed")
    assert moved.entries[0].link == "https://moved.example/x/articles/one.html"
    located = parse("relative_links.xml", {"Content-Location": "/elsewhere/rss"})
    assert located.entries[0].link == "https://feeds.example/elsewhere/articles/one.html"


def test_missing_and_placeholder_dates_become_the_fetch_time() -> None:
    parsed = parse("missing_dates.xml")
    assert [e.published for e in parsed.entries] == [NOW, NOW, NOW]


def test_future_dates_clamp_to_the_fetch_time() -> None:
    far, near = parse("future_dates.xml").entries
    assert far.published == NOW
    assert near.published == NOW + timedelta(hours=2)


@pytest.mark.parametrize(
    ("ttl", "expected"),
    [("60", 3600), (" 5 ", 300), ("0", None), ("-5", None), ("soon", None), ("99999999", None)],
)
def test_ttl(ttl: str, expected: int | None) -> None:
    body = f'<rss version="2.0"><channel><title>T</title><ttl>{ttl}</ttl></channel></rss>'
    assert parse(body.encode()).ttl_s == expected


# --- GUID pathologies, end to end ---------------------------------------------------------


def test_same_guid_on_every_item_is_ignored() -> None:
    entries = repair_identities(parse("guid_same_all.xml").entries)
    assert [(e.title, e.guid) for e in entries] == [
        ("Bridge closed", None),
        ("School reopens", None),
        ("Rain expected", None),
    ]
    assert len({e.key for e in entries}) == 3


def test_home_page_url_on_every_item_is_not_an_identity() -> None:
    entries = repair_identities(parse("url_same_all.xml").entries)
    assert [e.url for e in entries] == [None, None, None]
    assert all(e.link == "https://guids.example/" for e in entries)
    assert len({e.key for e in entries}) == 3


def test_position_guids_reused_across_snapshots() -> None:
    day1 = repair_identities(parse("guid_positions_day1.xml").entries)
    day2 = repair_identities(parse("guid_positions_day2.xml").entries)
    new = select_new(day2, remember(day1))
    assert [e.title for e in new] == ["Storm warning issued"]


def test_guids_changing_on_every_fetch_add_nothing() -> None:
    first = repair_identities(parse("guid_changing_fetch1.xml").entries)
    second = repair_identities(parse("guid_changing_fetch2.xml").entries)
    assert select_new(second, remember(first)) == []
    assert second[0].title == "Dock strike ends (12 comments)"  # edited title, same item


def test_duplicate_entries_in_one_document_are_kept_once() -> None:
    entries = repair_identities(parse("duplicates.xml").entries)
    assert [e.title for e in entries] == ["Market day", "Untitled note"]


def test_first_poll_knows_nothing() -> None:
    entries = repair_identities(parse("rss20.xml").entries)
    assert select_new(entries, KnownItems()) == entries
    assert select_new(entries, remember(entries)) == []


# --- size ---------------------------------------------------------------------------------


def test_ten_thousand_entries() -> None:
    items = "".join(
        f"<item><title>Item {i}</title><link>https://big.example/{i}?utm_source=x</link>"
        f"<guid>big-{i}</guid><pubDate>Tue, 02 Sep 2025 10:{i % 60:02d}:00 +0000</pubDate>"
        f"<description>&lt;p&gt;Body of item {i}&lt;/p&gt;</description></item>"
        for i in range(10_000)
    )
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Big</title>'
        f"<language>en</language>{items}</channel></rss>"
    ).encode()
    start = time.perf_counter()
    parsed = parse(body)
    entries = repair_identities(parsed.entries)
    elapsed = time.perf_counter() - start
    assert len(entries) == 10_000
    assert entries[9_999].url == "https://big.example/9999"
    assert entries[9_999].text == "Body of item 9999"
    assert len({e.key for e in entries}) == 10_000
    assert elapsed < 30  # about 2 s on the reference machine


# --- fuzz: whatever the bytes, a ParsedFeed or a ParseError -------------------------------

SEEDS = ["rss20.xml", "atom.xml", "rdf.xml", "jsonfeed.json", "cp1251_prolog.xml"]


def check_or_reject(body: bytes) -> None:
    try:
        parsed = parse(body)
    except ParseError:
        return
    for value in strings(parsed):
        assert not CONTROL.search(value)
    for e in parsed.entries:
        assert e.published.utcoffset() == timedelta(0)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_parse_or_raise_parse_error(body: bytes) -> None:
    check_or_reject(body)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(SEEDS),
    st.integers(min_value=0, max_value=4000),
    st.binary(min_size=0, max_size=40),
    st.integers(min_value=0, max_value=4000),
)
def test_mangled_fixtures_parse_or_raise_parse_error(
    name: str, insert_at: int, junk: bytes, cut_at: int
) -> None:
    body = load(name)
    body = body[:insert_at] + junk + body[insert_at:]
    check_or_reject(body[: max(cut_at, 1)])
