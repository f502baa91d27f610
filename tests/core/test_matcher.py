"""The compiled watchlist engine: matches, spans, snippets, scope, operators, examples."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from bench.eval_matching import evaluate, scores
from monitor.core.matcher import compile_watchlists, run_examples
from monitor.core.models import Document, WatchlistSpec
from monitor.core.query import QuerySyntaxError

QUALITY_SET = Path(__file__).resolve().parent.parent / "fixtures" / "matching_quality.yaml"


def names(specs: list[WatchlistSpec], doc: Document) -> list[str]:
    return [m.watchlist for m in compile_watchlists(specs).match(doc)]


def matches(
    query: str,
    text: str,
    *,
    title: str = "",
    language: str | None = None,
    fuzzy: Literal["off", "auto"] | int = "auto",
) -> bool:
    watchlist = WatchlistSpec("w", query, fuzzy=fuzzy)
    doc = Document(title=title, text=text, language=language)
    return bool(compile_watchlists([watchlist]).match(doc))


ISSUE_WATCHLISTS = [
    WatchlistSpec("Starlink", "Starlink"),
    WatchlistSpec("Kiriyenko", "Kiriyenko"),
    WatchlistSpec("Musk and Putin", "Musk AND Putin", priority="high"),
    WatchlistSpec("Peskov", "Peskov"),
]


def test_the_issue_watchlists_find_their_stories_in_three_languages() -> None:
    english = Document("Kirienko meets SpaceX", "Putin said Musk's Starlink is a threat.")
    indonesian = Document("Layanan Starlinknya aktif", "Warga beralih ke-Starlink.", language="id")
    russian = Document("Песков о Кириенко", "По словам Пескова, Старлинк запрещён.", language="ru")
    assert names(ISSUE_WATCHLISTS, english) == ["Starlink", "Kiriyenko", "Musk and Putin"]
    assert names(ISSUE_WATCHLISTS, indonesian) == ["Starlink"]
    assert names(ISSUE_WATCHLISTS, russian) == ["Starlink", "Kiriyenko", "Peskov"]


def test_near_misses_never_match() -> None:
    doc = Document(
        "Starling flock seen",
        "Andrei Kirilenko was putting; Puting Point; Peshkov; a starling.",
    )
    assert names(ISSUE_WATCHLISTS, doc) == []


def test_a_match_carries_terms_spans_snippet_and_priority() -> None:
    title = "Musk and Putin: the calls"
    text = "Reports say Elon Musk spoke to Vladimir Putin several times. " * 3
    (match,) = compile_watchlists(ISSUE_WATCHLISTS[2:3]).match(Document(title, text))
    assert match.watchlist == "Musk and Putin"
    assert match.terms == ("Musk", "Putin")
    assert match.priority == "high"
    assert {
        (s.field, (title if s.field == "title" else text)[s.start : s.end]) for s in match.spans
    } == {
        ("title", "Musk"),
        ("title", "Putin"),
        ("text", "Musk"),
        ("text", "Putin"),
    }
    assert len(match.spans) == 8  # every occurrence, title first
    assert match.spans[0].field == "title"
    assert "Elon Musk spoke" in match.snippet
    assert len(match.snippet) <= 170


def test_spans_point_into_the_original_text_whatever_the_script() -> None:
    text = "Straße … В Кремле Пескову задали вопрос о Кирієнко. 中国 Starlink’s"
    specs = [
        WatchlistSpec("p", "Peskov"),
        WatchlistSpec("k", "Kiriyenko"),
        WatchlistSpec("s", "Starlink"),
    ]
    found = {m.watchlist: m for m in compile_watchlists(specs).match(Document("", text))}
    assert [text[s.start : s.end] for s in found["p"].spans] == ["Пескову"]
    assert [text[s.start : s.end] for s in found["k"].spans] == ["Кирієнко"]
    assert [text[s.start : s.end] for s in found["s"].spans] == ["Starlink"]
    assert "Пескову" in found["p"].snippet


def test_a_phrase_span_covers_all_its_words() -> None:
    text = "Pernyataan Sri  Mulyaninya dikutip."
    (match,) = compile_watchlists([WatchlistSpec("m", '"Sri Mulyani"')]).match(Document("", text))
    (span,) = match.spans
    assert text[span.start : span.end] == "Sri  Mulyaninya"


def test_the_snippet_is_cut_at_spaces_around_the_first_text_hit() -> None:
    text = ("Background words here. " * 20) + "Then Starlink appeared. " + ("More words. " * 20)
    (match,) = compile_watchlists(ISSUE_WATCHLISTS[:1]).match(Document("Starlink news", text))
    assert match.snippet.startswith("…") and match.snippet.endswith("…")
    assert "Then Starlink appeared." in match.snippet
    assert len(match.snippet) <= 170
    short = compile_watchlists(ISSUE_WATCHLISTS[:1]).match(Document("Starlink news", ""))
    assert short[0].snippet == "Starlink news"


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("Musk NEAR/4 Putin", "Musk met with the Russian Putin", True),  # 4 words between
        ("Musk NEAR/3 Putin", "Musk met with the Russian Putin", False),
        ("Musk NEAR/3 Putin", "Putin, the leader, met Musk", True),  # either order
        ('"Elon Musk" NEAR/1 Twitter', "Elon Musk bought Twitter", True),
        ("(Musk OR Bezos) NEAR/1 Putin", "Bezos and Putin", True),
        ("Musk NEAR/1 Putin NEAR/1 Xi", "Musk and Putin and Xi", True),
        ("Musk -Tesla", "Musk sold Tesla shares", False),
        ("Musk NOT Tesla", "Musk launched rockets", True),
        ("Musk AND (Putin OR Xi)", "Musk met Xi", True),
        ("Starl*", "Starlinks everywhere", True),
        ("Starl*", "A star link", False),
        ("Kiriyenko~", "Kirilenko scored", True),  # explicit fuzzy accepts one letter away
        ("Kiriyenko~1", "Kiriyenkp spoke", True),
        ("Kiriyenko~1", "Kirienkho spoke", False),  # two edits
        ("Putin~0", "Putin spoke", True),
        ('"Bank Indonesia"', "bank swasta di Indonesia", False),
        ('"Bank Indonesia"', "kata Bank-Indonesia hari ini", True),
    ],
)
def test_operators(query: str, text: str, expected: bool) -> None:
    assert matches(query, text) is expected


def test_fields_scope_terms_to_the_title_or_the_text() -> None:
    assert matches("title:Starlink", "nothing", title="Starlink down")
    assert not matches("title:Starlink", "Starlink down", title="Outage")
    assert matches("text:Starlink", "Starlink down", title="Outage")
    assert not matches(
        'title:(Starlink OR "Star link") -text:Starlink', "Starlink", title="Starlink"
    )
    assert not matches('"Starlink outage"', "outage today", title="Starlink")  # not across fields
    assert not matches("title:Musk NEAR/3 Putin", "Putin", title="Musk")


def test_source_and_lang_read_the_item_metadata() -> None:
    specs = [
        WatchlistSpec("tempo", "Starlink source:Tempo"),
        WatchlistSpec("russian", "lang:ru"),
        WatchlistSpec("portuguese", "Starlink lang:pt"),
    ]
    doc = Document("Starlink", "", source="Tempo.co English", language="pt-BR")
    assert names(specs, doc) == ["tempo", "portuguese"]
    assert names(specs, Document("Новости", "", language="ru")) == ["russian"]


def test_scope_languages_feeds_and_tags() -> None:
    doc = Document("Starlink", "", language="id", feed="tempo-ekonomi", tags=("indonesia",))
    assert matches("Starlink", "", title="Starlink")
    assert compile_watchlists([WatchlistSpec("w", "Starlink", languages=("en", "id"))]).match(doc)
    assert not compile_watchlists([WatchlistSpec("w", "Starlink", languages=("ru",))]).match(doc)
    assert compile_watchlists([WatchlistSpec("w", "Starlink", feeds=("tempo-ekonomi",))]).match(doc)
    assert not compile_watchlists([WatchlistSpec("w", "Starlink", feeds=("other",))]).match(doc)
    assert compile_watchlists([WatchlistSpec("w", "Starlink", tags=("indonesia", "x"))]).match(doc)
    assert not compile_watchlists([WatchlistSpec("w", "Starlink", tags=("sport",))]).match(doc)
    unknown = Document("Starlink", "")  # no language: a language scope lets it through
    assert compile_watchlists([WatchlistSpec("w", "Starlink", languages=("ru",))]).match(unknown)


def test_exclude_removes_a_match() -> None:
    spec = WatchlistSpec("tesla", "Tesla", exclude='"Nikola Tesla" OR coil')
    matcher = compile_watchlists([spec])
    assert matcher.match(Document("Tesla shares fall", ""))
    assert not matcher.match(Document("The Nikola Tesla museum", "Tesla lived here"))
    explained = matcher.explain(Document("A Tesla coil show", ""), "tesla")
    assert not explained.matched
    assert explained.reason == "excluded by: coil"


def test_fuzzy_setting_of_the_watchlist() -> None:
    text = "Sergei Kirijenko and Vladimir Puting"
    assert matches("Kiriyenko", text)  # a transliteration variant by default
    assert not matches("Kiriyenko", text, fuzzy="off")
    assert not matches("Putin", text)
    assert matches("Putin", text, fuzzy=1)  # one edit allowed for every word
    assert not matches("Putin", "putting", fuzzy=1)  # two edits
    assert not matches("Kirilenko", "Kiriyenko spoke", fuzzy="auto")


def test_inflected_or_variant_forms_of_a_capitalised_term_must_be_capitalised() -> None:
    assert matches("Lavrov", "Встреча с Лавровым прошла")
    assert not matches("Lavrov", "Суп с лавровым листом")
    assert matches("Lavrov", "лавров", title="")  # the word itself matches in any case
    assert matches("Kiriyenko", "KIRIENKO SPEAKS")
    assert not matches("Kiriyenko", "the kirienko thing")  # a variant, but lower case
    assert matches("starlink", "layanan starlinknya")  # a lower-case term: any case


def test_attached_indonesian_clitics_need_an_indonesian_or_unknown_item() -> None:
    assert matches("Prabowo", "Prabowolah yang menang", language="id")
    assert matches("Prabowo", "Prabowolah yang menang")
    assert not matches("Prabowo", "Prabowolah", language="en")
    assert matches("Prabowo", "Prabowonya", language="en")  # -nya everywhere


def test_matches_come_in_configuration_order() -> None:
    specs = [WatchlistSpec(f"w{i}", term) for i, term in enumerate(["Xi", "Musk", "Putin", "Musk"])]
    assert names(specs, Document("Putin and Musk", "")) == ["w1", "w2", "w3"]


def test_equal_terms_of_different_watchlists_are_indexed_once() -> None:
    specs = [WatchlistSpec(f"w{i}", "Starlink OR Kiriyenko") for i in range(50)]
    matcher = compile_watchlists(specs)
    assert matcher.term_count == 2
    assert len(matcher.match(Document("Starlink", ""))) == 50


def test_a_query_without_text_terms_is_evaluated_for_every_item() -> None:
    matcher = compile_watchlists([WatchlistSpec("tempo", "source:tempo -Starlink")])
    (match,) = matcher.match(Document("Anything", "Body text", source="Tempo"))
    assert match.terms == () and match.spans == () and match.snippet == "Anything"
    assert not matcher.match(Document("Starlink", "", source="Tempo"))
    assert not matcher.match(Document("Anything", "", source="Kompas"))


def test_a_syntax_error_names_the_watchlist() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        compile_watchlists([WatchlistSpec("ok", "Starlink"), WatchlistSpec("broken", "Musk AND")])
    assert caught.value.watchlist == "broken"
    assert str(caught.value).startswith("watchlist 'broken': query column 9:")
    with pytest.raises(QuerySyntaxError, match="watchlist 'bad exclude'"):
        compile_watchlists([WatchlistSpec("bad exclude", "Musk", exclude="(Tesla")])


def test_explain_says_why_for_every_watchlist() -> None:
    specs = [
        WatchlistSpec("hit", "Starlink"),
        WatchlistSpec("miss", "Kiriyenko"),
        WatchlistSpec("russian", "Starlink", languages=("ru",)),
    ]
    doc = Document("Starlink outage", "Users in Jakarta lost service.", language="id")
    explained = {e.watchlist: e for e in compile_watchlists(specs).explain_all(doc)}
    assert explained["hit"].matched and explained["hit"].reason == "matched"
    assert explained["miss"].reason == "the query does not hold"
    assert explained["russian"].reason.startswith("out of scope: language id")
    assert explained["hit"].as_json() == {
        "watchlist": "hit",
        "matched": True,
        "terms": ["Starlink"],
        "snippet": "Starlink outage",  # the hit is in the title
    }
    assert compile_watchlists(specs).explain(doc, "russian", scoped=False).matched


@dataclass(frozen=True)
class Examples:
    match: tuple[str, ...] = ()
    no_match: tuple[str, ...] = ()


def test_run_examples_reports_failures_like_tests() -> None:
    spec = WatchlistSpec("Kiriyenko", "Kiriyenko", languages=("ru",))
    good = Examples(match=("Kirijenko visited", "Кирієнко прибув"), no_match=("Kirilenko scored",))
    assert run_examples(spec, good) == []
    bad = Examples(match=("Sergei K. visited",), no_match=("Kiriyenko again",))
    failures = run_examples(spec, bad)
    assert failures == [
        "should match but does not (the query does not hold): 'Sergei K. visited'",
        "should not match but does (found Kiriyenko): 'Kiriyenko again'",
    ]


def test_quality_set_meets_the_targets() -> None:
    outcomes = evaluate(QUALITY_SET)
    positives = sum(o.case.expected for o in outcomes)
    assert positives >= 60 and len(outcomes) - positives >= 60
    assert {o.case.language for o in outcomes} >= {"en", "id", "ru"}
    figures = scores(outcomes)
    assert figures["recall"] >= 0.95
    assert figures["precision"] >= 0.97


def test_variant_terms_that_found_the_same_words_are_named_once() -> None:
    spec = WatchlistSpec(name="K", query='"Kiriyenko" OR "Kirienko" OR "Кириенко"')
    matcher = compile_watchlists([spec])
    (match,) = matcher.match(Document(title="", text="Sergei Kiriyenko met Кириенко's aides"))
    assert match.terms == ("Kiriyenko",)
    assert len(match.spans) == 2


def test_snippet_highlights_point_at_the_found_words() -> None:
    matcher = compile_watchlists([WatchlistSpec(name="K", query="Kiriyenko OR Starlink")])
    text = "Pejabat   Kremlin, termasuk Sergei Kirienko, dan layanan Starlink-nya di Taiwan. " * 4
    (match,) = matcher.match(Document(title="", text=text))
    shown = [match.snippet[a:b] for a, b in match.highlights]
    assert shown[:2] == ["Kirienko", "Starlink"] and set(shown) == {"Kirienko", "Starlink"}
    assert "  " not in match.snippet
