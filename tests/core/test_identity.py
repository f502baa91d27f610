"""Item identity: canonical URLs, content hashes, GUID pathologies, and what is new."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from monitor.core.identity import (
    KnownItems,
    canonical_url,
    content_hash,
    identity_keys,
    is_known,
    repair_identities,
    select_new,
)
from monitor.core.models import Entry

WHEN = datetime(2025, 9, 2, 12, 0, tzinfo=UTC)


def entry(
    title: str = "Title",
    *,
    url: str | None = None,
    guid: str | None = None,
    text: str = "",
    position: int = 0,
) -> Entry:
    return Entry(
        guid=guid,
        url=url,
        link=url,
        title=title,
        text=text,
        published=WHEN,
        content_hash=content_hash(title, text),
        position=position,
    )


# --- canonical_url ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/a", "https://example.com/a"),
        ("HTTP://Example.COM/A", "https://example.com/A"),  # path case is significant
        ("http://example.com/a", "https://example.com/a"),  # http and https: one identity
        ("https://example.com", "https://example.com/"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com/a#comments", "https://example.com/a"),
        ("https://example.com/a?", "https://example.com/a"),
        ("https://example.com./a", "https://example.com/a"),
        ("https://user:secret@example.com/a", "https://example.com/a"),
        ("https://example.com/a/./b/../c", "https://example.com/a/c"),
        ("https://example.com/a%7eb", "https://example.com/a~b"),
        ("https://example.com/a%2fb", "https://example.com/a%2Fb"),
        ("https://example.com/caf\u00e9", "https://example.com/caf%C3%A9"),
        ("https://example.com/caf%c3%a9", "https://example.com/caf%C3%A9"),
        (
            "https://\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444/",
            "https://xn--e1afmkfd.xn--p1ai/",
        ),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
        ("https://example.com/a?q=x+y", "https://example.com/a?q=x%20y"),
        ("https://example.com/a?q=x%20y", "https://example.com/a?q=x%20y"),
        ("https://example.com/a?id=7&flag", "https://example.com/a?flag=&id=7"),
        (
            "https://example.com/a?utm_source=rss&utm_medium=feed&UTM_Campaign=x&id=7",
            "https://example.com/a?id=7",
        ),
        (
            "https://example.com/a?fbclid=1&gclid=2&mc_cid=3&mc_eid=4&igshid=5&yclid=6&_ga=7",
            "https://example.com/a",
        ),
        (
            "https://example.com/a?ref=tw&ref_src=x&cmpid=y&CMP=z&page=2",
            "https://example.com/a?page=2",
        ),
        ("https://example.com/a?pk_campaign=x&mtm_source=y", "https://example.com/a"),
        ("  https://example.com/a  ", "https://example.com/a"),
        ("https://[2001:DB8::1]:8080/a", "https://[2001:db8::1]:8080/a"),
        ("", None),
        ("   ", None),
        (None, None),
        ("/relative/path", None),
        ("example.com/a", None),
        ("ftp://example.com/a", None),
        ("javascript:alert(1)", None),
        ("mailto:desk@example.com", None),
        ("data:text/html,<b>x</b>", None),
        ("http://[::1", None),
        ("http://example.com:99999/", None),
        ("https://example.com/" + "a" * 3000, None),  # too long to be a key
    ],
)
def test_canonical_url(url: str | None, expected: str | None) -> None:
    assert canonical_url(url) == expected


def test_canonical_url_is_idempotent() -> None:
    for url in ("http://Example.com:80/a/../b?z=1&utm_source=x&a=%7e#f", "https://x.org/caf\u00e9"):
        once = canonical_url(url)
        assert once is not None
        assert canonical_url(once) == once


# --- content_hash -------------------------------------------------------------------------


def test_content_hash_is_stable_across_versions() -> None:
    # Stored hashes depend on this value: changing it needs a new HASH_VERSION.
    assert content_hash("Hello", "World") == "a1a7bf37fbc46a4c22d41727a1a9ea9b"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("Hello World", "Body"), ("hello   world", "BODY")),
        (("Stra\u00dfe", ""), ("STRASSE", "")),  # casefold
        (("\uff21\uff22", "x"), ("ab", "x")),  # NFKC: full-width letters
        ((" Title\n", " text "), ("Title", "text")),
    ],
)
def test_content_hash_folds_case_width_and_whitespace(
    a: tuple[str, str], b: tuple[str, str]
) -> None:
    assert content_hash(*a) == content_hash(*b)


def test_content_hash_separates_title_from_text() -> None:
    assert content_hash("ab", "c") != content_hash("a", "bc")
    assert content_hash("Title", "one") != content_hash("Title", "two")
    assert len(content_hash("x", "y")) == 32


# --- select_new: the rules, table-driven --------------------------------------------------

U1 = "https://news.example/a/1"
U2 = "https://news.example/a/2"


@dataclass(frozen=True)
class Case:
    name: str
    entry: Entry
    known: KnownItems
    is_new: bool


CASES = [
    Case("nothing known", entry(url=U1, guid="g1"), KnownItems(), True),
    Case("url known", entry(url=U1, guid="g9"), KnownItems(urls=frozenset({U1})), False),
    Case(
        "guid changes every fetch, same url",
        entry(url=U1, guid="session-2"),
        KnownItems(urls=frozenset({U1}), guids={"session-1": U1}),
        False,
    ),
    Case(
        "title edited (comment count), same url and guid",
        entry("Story (12 comments)", url=U1, guid="g1"),
        KnownItems(urls=frozenset({U1}), guids={"g1": U1}),
        False,
    ),
    Case(
        "guid known with the same url",
        entry(url=U1, guid="g1"),
        KnownItems(guids={"g1": U1}),
        False,
    ),
    Case(
        "guid reused for a different url (position numbers)",
        entry(url=U2, guid="1"),
        KnownItems(guids={"1": U1}),
        True,
    ),
    Case(
        "guid known, stored item had no url",
        entry(url=U2, guid="g1"),
        KnownItems(guids={"g1": None}),
        False,
    ),
    Case(
        "guid known, entry has no url",
        entry(guid="g1"),
        KnownItems(guids={"g1": U1}),
        False,
    ),
    Case(
        "no guid, no url, re-added: hash known",
        entry("Note", text="Body"),
        KnownItems(hashes=frozenset({content_hash("Note", "Body")})),
        False,
    ),
    Case(
        "no url, changing guid, same content: hash known",
        entry("Note", guid="new-guid", text="Body"),
        KnownItems(hashes=frozenset({content_hash("Note", "Body")})),
        False,
    ),
    Case(
        "no url, content edited: new",
        entry("Note (edited)", text="Body"),
        KnownItems(hashes=frozenset({content_hash("Note", "Body")})),
        True,
    ),
    Case(
        "has a new url: a known hash does not hide it",
        entry("Daily briefing", url=U2),
        KnownItems(hashes=frozenset({content_hash("Daily briefing", "")})),
        True,
    ),
    Case(
        "deleted and re-added with the same url",
        entry(url=U1, guid="g1-readded"),
        KnownItems(urls=frozenset({U1})),
        False,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_select_new_rules(case: Case) -> None:
    assert is_known(case.entry, case.known) is not case.is_new
    assert select_new([case.entry], case.known) == ([case.entry] if case.is_new else [])


def test_select_new_drops_repeats_within_the_batch_and_keeps_order() -> None:
    a = entry("A", url=U1, position=0)
    b = entry("B", url=U2, position=1)
    a_again = entry("A again", url=U1, position=2)
    assert select_new([a, b, a_again], KnownItems()) == [a, b]


def test_identity_keys_lists_what_the_store_must_look_up() -> None:
    batch = [entry("A", url=U1, guid="g1"), entry("B", guid="g2"), entry("C", text="c")]
    keys = identity_keys(batch)
    assert keys.urls == {U1}
    assert keys.guids == {"g1", "g2"}
    assert keys.hashes == {content_hash("B", ""), content_hash("C", "c")}


def test_known_items_in_positional_order_as_the_store_returns_them() -> None:
    known = KnownItems(frozenset({U1}), {"g": None}, frozenset({"h"}))
    assert known.urls == {U1} and known.guids == {"g": None} and known.hashes == {"h"}


# --- repair_identities: pathologies inside one document, table-driven ---------------------


@dataclass(frozen=True)
class RepairCase:
    name: str
    entries: list[Entry]
    expected: list[tuple[str, str | None, str | None]]  # (title, url, guid) kept


REPAIRS = [
    RepairCase(
        "healthy document untouched",
        [entry("A", url=U1, guid="g1"), entry("B", url=U2, guid="g2")],
        [("A", U1, "g1"), ("B", U2, "g2")],
    ),
    RepairCase(
        "same guid on every item with different urls: guid ignored",
        [entry("A", url=U1, guid="same"), entry("B", url=U2, guid="same")],
        [("A", U1, None), ("B", U2, None)],
    ),
    RepairCase(
        "same guid, no urls, different titles: guid ignored",
        [entry("A", guid="same"), entry("B", guid="same"), entry("C", guid="same")],
        [("A", None, None), ("B", None, None), ("C", None, None)],
    ),
    RepairCase(
        "same url (home page) on every item: url dropped as identity",
        [entry("Morning", url=U1), entry("Noon", url=U1), entry("Evening", url=U1)],
        [("Morning", None, None), ("Noon", None, None), ("Evening", None, None)],
    ),
    RepairCase(
        "same url with distinct guids: url dropped, guids kept",
        [entry("Live 1", url=U1, guid="l1"), entry("Live 2", url=U1, guid="l2")],
        [("Live 1", None, "l1"), ("Live 2", None, "l2")],
    ),
    RepairCase(
        "same guid and same url twice: one item",
        [entry("A", url=U1, guid="g1"), entry("A (edited)", url=U1, guid="g1")],
        [("A", U1, "g1")],
    ),
    RepairCase(
        "exact duplicate entries: kept once",
        [entry("A", url=U1, guid="g1"), entry("B", url=U2), entry("A", url=U1, guid="g1")],
        [("A", U1, "g1"), ("B", U2, None)],
    ),
    RepairCase(
        "duplicates without url or guid: kept once",
        [entry("Note", text="x"), entry("Note", text="x"), entry("Other", text="x")],
        [("Note", None, None), ("Other", None, None)],
    ),
    RepairCase(
        "same url and same content, no guids: one item",
        [entry("A", url=U1), entry("A", url=U1)],
        [("A", U1, None)],
    ),
]


@pytest.mark.parametrize("case", REPAIRS, ids=[c.name for c in REPAIRS])
def test_repair_identities(case: RepairCase) -> None:
    repaired = repair_identities(case.entries)
    assert [(e.title, e.url, e.guid) for e in repaired] == case.expected
    # link (for display) is never touched
    by_title = {e.title: e for e in case.entries}
    assert all(e.link == by_title[e.title].link for e in repaired)


def test_repair_is_linear_on_a_large_document() -> None:
    batch = [entry(f"T{i}", url=f"https://x.example/{i}", guid=str(i)) for i in range(20_000)]
    assert repair_identities(batch) == batch


def test_repaired_home_page_feed_then_selects_by_content() -> None:
    first = repair_identities([entry("Morning", url=U1), entry("Noon", url=U1)])
    known = KnownItems(hashes=identity_keys(first).hashes)
    second = repair_identities(
        [entry("Evening", url=U1), entry("Morning", url=U1), entry("Noon", url=U1)]
    )
    assert [e.title for e in select_new(second, known)] == ["Evening"]
