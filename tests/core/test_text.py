"""Folding and tokenisation: the comparison form shared by watchlists and items."""

from __future__ import annotations

import pytest

from monitor.core.text import (
    fold,
    fold_chars,
    fold_words,
    has_cyrillic,
    is_aligned,
    tokenize,
    word_bounds,
)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Starlink", "starlink"),
        ("STARLINK", "starlink"),
        ("Ｓｔａｒｌｉｎｋ", "starlink"),  # full-width (NFKC)
        ("ﬁnal ﬂight", "final flight"),  # ligatures (NFKC)
        ("Straße", "strasse"),  # case folding
        ("café Zelenskýy Škoda Łódź", "cafe zelenskyy skoda lodz"),  # diacritics
        ("cafe\u0301", "cafe"),  # a combining accent does not split the word
        ("Star\u00adlink", "starlink"),  # nor does a soft hyphen
        ("Кириенко", "kirienko"),  # Russian
        ("Старлинк", "starlink"),
        ("Кирієнко Пєсков", "kirienko peskov"),  # Ukrainian є folds like Russian е
        ("Зеленський", "zelenskiy"),  # the soft sign goes
        ("Ёлка Щукин Хабаровск", "elka shchukin khabarovsk"),
        ("Ελλάδα", "ellada"),  # Greek
        ("中国", "zhong guo"),  # one word per ideograph
    ],
)
def test_fold_reaches_plain_ascii_words(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Starlink-nya", "starlink nya"),  # Indonesian clitic after a hyphen
        ("ke-Starlink", "ke starlink"),  # Indonesian prefix with a hyphen
        ("Starlinknya", "starlinknya"),  # attached clitic: the matcher accepts it as an ending
        ("Musk's", "musk s"),  # English possessive
        ("Musk’s rocket", "musk s rocket"),  # typographic apostrophe
        ("#Starlink", "starlink"),  # hashtag
        ("snake_case", "snake case"),
        ("  Putin,\n\tMusk…  ", "putin musk"),
        ("", ""),
        ("«—»!?", ""),
    ],
)
def test_fold_splits_words_on_everything_but_letters_and_digits(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_fold_words_and_fold_chars_agree_with_fold() -> None:
    text = "Kiriyenko’s visit — Кириенко, 2024"
    assert fold_words(text) == fold(text).split() == fold_chars(text).split()
    assert fold_words(text) == ["kiriyenko", "s", "visit", "kirienko", "2024"]


@pytest.mark.parametrize(
    "text",
    [
        "Sergei Kiriyenko met Musk’s team in Jakarta.",
        "Песков заявил, что Кириенко встретился с представителями Старлинка.",
        "Layanan Starlink-nya aktif; warga beralih ke-Starlink. #Starlink",
        "e\u0301te\u0301 Straße ﬁne 中国abc ½ ʼʼ x_y",
        "\u20d7 lone combining mark, then words",
    ],
)
def test_tokens_carry_their_original_spans(text: str) -> None:
    tokens = tokenize(text)
    assert " ".join(token.folded for token in tokens) == fold(text)
    for token in tokens:
        assert fold(text[token.start : token.end]) == token.folded
    assert [t.start for t in tokens] == sorted(t.start for t in tokens)


def test_tokenize_spans_in_cyrillic_text_point_at_the_original_word() -> None:
    text = "Вопрос Пескову задали утром"
    tokens = tokenize(text)
    assert [text[t.start : t.end] for t in tokens] == ["Вопрос", "Пескову", "задали", "утром"]
    assert [t.folded for t in tokens] == ["vopros", "peskovu", "zadali", "utrom"]


def test_capitalisation_is_read_from_the_original_word() -> None:
    text = "Hari ini hari Senin, Лавров и лавровый ЛИСТ; 中国"
    capitalised = {t.folded: t.is_capitalised(text) for t in tokenize(text)}
    assert capitalised["ini"] is False
    assert capitalised["senin"] is True
    assert capitalised["lavrov"] is True
    assert capitalised["lavrovyy"] is False
    assert capitalised["list"] is True  # all capitals
    assert capitalised["zhong"] is True  # a script without case counts as capitalised


def test_word_bounds_are_the_token_spans_when_every_run_is_one_word() -> None:
    text = "Musk’s Starlink-nya, Кириенко."
    bounds = word_bounds(text)
    spans = [(t.start, t.end) for t in tokenize(text)]
    assert list(zip(bounds[::2], bounds[1::2], strict=True)) == spans


def test_aligned_text_folds_character_for_character() -> None:
    for text in ("Plain ASCII, with punctuation!", "café “quoted” — dash", "Кириенко"):
        assert is_aligned(text)
        assert len(fold_chars(text)) == len(text)
    for text in ("Straße", "Щукин", "cafe\u0301"):
        assert not is_aligned(text)


def test_has_cyrillic() -> None:
    assert has_cyrillic("Starlink и Кириенко")
    assert not has_cyrillic("Starlink, café, Ελλάδα")
