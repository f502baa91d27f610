"""Transliteration skeletons and word endings: variants meet, near misses stay apart."""

from __future__ import annotations

import pytest

from monitor.core.text import fold
from monitor.core.variants import (
    anchor,
    is_name,
    pieces,
    skeleton,
    skeleton_forms,
    word_forms,
)


def key(word: str) -> str:
    return skeleton(fold(word))


@pytest.mark.parametrize(
    "spellings",
    [
        ["Kiriyenko", "Kirienko", "Kiriienko", "Kirijenko", "Kiryenko", "Кириенко", "Кирієнко"],
        ["Zelensky", "Zelenskyy", "Zelenskiy", "Zelenskyi", "Zelenski", "Зеленский", "Зеленський"],
        ["Navalny", "Navalnyy", "Navalniy", "Навальный"],
        ["Gorbachev", "Gorbachyov", "Gorbachiov", "Gorbachov", "Горбачёв"],
        ["Khrushchev", "Khrushchyov", "Hrushchev", "Хрущёв"],
        ["Sergeyev", "Sergeev", "Сергеев"],
        ["Soloviev", "Solovyov", "Solovyev", "Solovev", "Соловьёв"],
        ["Khodorkovsky", "Hodorkovsky", "Khodorkovskiy", "Ходорковский"],
        ["Dmitry", "Dmitriy", "Dmitrii", "Dmitrij", "Dmitri", "Дмитрий"],
        ["Aleksey", "Alexei", "Alexey", "Aleksei", "Алексей"],
        ["Tchaikovsky", "Chaikovsky", "Chaikovskii"],
        ["Smirnoff", "Smirnov", "Смирнов"],
        ["Kirillov", "Kirilov"],
        ["Tsipras", "Tzipras"],
        ["Peskov", "Песков", "Пєсков"],
    ],
)
def test_transliteration_variants_share_a_skeleton(spellings: list[str]) -> None:
    assert len({key(spelling) for spelling in spellings}) == 1, {s: key(s) for s in spellings}


@pytest.mark.parametrize(
    ("name", "other"),
    [
        ("Starlink", "Starling"),
        ("Putin", "Puting"),
        ("Putin", "putting"),
        ("Kiriyenko", "Kirilenko"),  # another person, one letter away
        ("Kiriyenko", "Kirichenko"),
        ("Kiriyenko", "Kiryanov"),
        ("Peskov", "Peshkov"),
        ("Zelensky", "Zelenska"),
        ("Zelensky", "Zelenko"),
        ("Navalny", "Navalnaya"),
        ("Gorbachev", "Gorbunov"),
        ("Medvedev", "Medvedchuk"),
        ("Prigozhin", "Prigogine"),
        ("Khodorkovsky", "Khodorov"),
    ],
)
def test_near_misses_keep_different_skeletons(name: str, other: str) -> None:
    assert key(name) != key(other)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("Kiriyenko", True),
        ("Кириенко", True),
        ("Starlink", True),
        ("Putin", False),  # five letters: too short for variants
        ("Harry", False),
        ("NATO", False),  # acronym
        ("NVIDIA", False),
        ("starlink", False),  # written in lower case: a common word
        ("Covid19", False),  # digits
    ],
)
def test_is_name(written: str, expected: bool) -> None:
    assert is_name(written, fold(written)) is expected


def test_indonesian_clitics_are_endings() -> None:
    forms = word_forms("starlink", cyrillic=False, indonesian=True, proper=True)
    assert {"starlink", "starlinknya", "starlinklah", "starlinkpun"} <= forms
    assert "starlinkku" not in forms  # -ku/-mu are for common nouns
    assert "starlinkkah" not in forms  # would double the last letter: needs the hyphen
    common = word_forms("listrik", cyrillic=False, indonesian=True, proper=False)
    assert {"listrikku", "listrikmu"} <= common


def test_only_nya_outside_indonesian_items() -> None:
    forms = word_forms("starlink", cyrillic=False, indonesian=False, proper=True)
    assert forms == {"starlink", "starlinknya"}


def test_a_clitic_that_would_double_the_last_letter_is_left_out() -> None:
    forms = word_forms("abdul", cyrillic=False, indonesian=True, proper=True)
    assert "abdullah" not in forms  # Abdullah is another name
    assert "abdulnya" in forms


@pytest.mark.parametrize(
    ("term", "inflected"),
    [
        ("Песков", ["Пескова", "Пескову", "Песковым", "Пескове"]),
        ("Старлинк", ["Старлинка", "Старлинком", "Старлинке"]),
        ("Захарова", ["Захаровой", "Захарову", "Захаровою"]),  # -a stem
        ("Зеленский", ["Зеленского", "Зеленскому", "Зеленским", "Зеленском"]),
        ("Зеленський", ["Зеленського", "Зеленському", "Зеленським"]),  # Ukrainian
        ("Дмитрий", ["Дмитрия", "Дмитрию", "Дмитрием"]),
        ("Алексей", ["Алексея", "Алексею", "Алексеем"]),
        ("Игорь", ["Игоря", "Игорю", "Игорем"]),
    ],
)
def test_cyrillic_case_endings_are_forms_of_the_word(term: str, inflected: list[str]) -> None:
    forms = word_forms(fold(term), cyrillic=True, indonesian=False, proper=True)
    for word in inflected:
        assert fold(word) in forms, word


@pytest.mark.parametrize(
    ("term", "other"),
    [
        ("Навальный", "Навальная"),  # the feminine form is another person
        ("Зеленский", "Зеленская"),
        ("Песков", "Песковатский"),
    ],
)
def test_other_people_are_not_forms(term: str, other: str) -> None:
    assert fold(other) not in word_forms(fold(term), cyrillic=True, indonesian=False, proper=True)


def test_latin_items_get_no_cyrillic_endings() -> None:
    forms = word_forms("peskov", cyrillic=False, indonesian=False, proper=True)
    assert "peskova" not in forms


@pytest.mark.parametrize(
    "word",
    ["kiriyenko", "zakharova", "zelenskiy", "dmitriy", "peskov", "starlink", "mariya", "smirnoff"],
)
def test_the_index_key_prefixes_every_form(word: str) -> None:
    key_ = anchor(word)
    for cyrillic in (False, True):
        for indonesian in (False, True):
            forms = skeleton_forms(word, cyrillic=cyrillic, indonesian=indonesian, proper=True)
            assert all(form.startswith(key_) for form in forms), (word, key_)


def test_pieces_cover_the_skeleton_without_overlap() -> None:
    assert pieces("kiriyenko", 2) == ("kir", "ien", "ko")
    assert "".join(pieces("starlink", 1)) == skeleton("starlink")
    assert pieces("abc", 0) == ("abc",)
