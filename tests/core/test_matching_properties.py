"""Properties of folding and matching on generated text (hypothesis).

Folding and matching never crash, on any text; folding is idempotent and yields
single-spaced lower-case ASCII words; tokens agree with folding; matching does not
depend on the case or the accents of the item (within the capitalisation rule: a
capitalised term's inflected and variant forms must be capitalised, so upper-casing
an item can add matches but never remove one).
"""

from __future__ import annotations

import re
import unicodedata

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.core.matcher import compile_watchlists
from monitor.core.models import Document, WatchlistSpec
from monitor.core.query import QuerySyntaxError, parse_query
from monitor.core.text import fold, fold_chars, fold_words, is_aligned, tokenize
from monitor.core.variants import anchor, prefix_anchor, skeleton, skeleton_forms

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

WATCHLISTS = [
    WatchlistSpec("starlink", "Starlink"),
    WatchlistSpec("kiriyenko", "Kiriyenko OR Кириенко"),
    WatchlistSpec("musk putin", "Musk AND Putin"),
    WatchlistSpec("peskov", "Peskov -Peshkov"),
    WatchlistSpec("near", '"elon musk" NEAR/3 twitter'),
    WatchlistSpec("prefix", "starl* OR bank*"),
    WatchlistSpec("fuzzy", "Zelensky~"),
    WatchlistSpec("lower", 'starlink OR "bank indonesia" OR peskov OR kiriyenko'),
    WatchlistSpec("title", "title:putin"),
]
MATCHER = compile_watchlists(WATCHLISTS)

WORDS = [
    "Starlink", "Starling", "Kiriyenko", "Kirienko", "Kirilenko", "Кириенко", "Кирієнко",
    "Musk", "Putin", "putting", "Путин", "Peskov", "Пескова", "Peshkov", "Zelensky",
    "Зеленского", "elon", "twitter", "bank", "Indonesia", "nya", "ke", "the", "and",
    "Jakarta", "hari", "Harry", "Лавров", "лавровым",
]  # fmt: skip
SEPARATORS = [" ", "  ", ", ", ". ", "-", "'s ", "’", " #", "\n", " — ", "_"]

any_text = st.text(max_size=300)
word_text = st.lists(
    st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), max_size=40
).map(lambda pairs: "".join(w + s for w, s in pairs))
latin_letters = st.text(
    alphabet=st.characters(whitelist_categories=("Lu", "Ll"), max_codepoint=0x24F)
    | st.sampled_from(" ,.-'"),
    max_size=200,
)


def found(title: str, text: str, language: str | None = None) -> set[str]:
    return {m.watchlist for m in MATCHER.match(Document(title, text, language=language))}


@FAST
@given(any_text)
def test_fold_is_plain_words_and_idempotent(text: str) -> None:
    folded = fold(text)
    assert re.fullmatch(r"(?:[a-z0-9]+(?: [a-z0-9]+)*)?", folded)
    assert fold(folded) == folded
    assert fold_words(text) == folded.split()


@FAST
@given(any_text)
def test_tokens_agree_with_fold_and_point_into_the_text(text: str) -> None:
    tokens = tokenize(text)
    assert " ".join(t.folded for t in tokens) == fold(text)
    previous_end = 0
    for token in tokens:
        assert previous_end <= token.start < token.end <= len(text)
        previous_end = token.end
    if is_aligned(text):
        assert len(fold_chars(text)) == len(text)


@FAST
@given(any_text, any_text)
def test_matching_never_crashes(title: str, text: str) -> None:
    for match in MATCHER.match(Document(title, text, language="id")):
        for span in match.spans:
            source = title if span.field == "title" else text
            assert 0 <= span.start < span.end <= len(source)


@FAST
@given(word_text, any_text, st.sampled_from([None, "id", "ru"]))
def test_spans_cover_the_matched_words(text: str, noise: str, language: str | None) -> None:
    text = noise[:20] + " " + text + " " + noise[20:]
    for match in MATCHER.match(Document("", text, language=language)):
        for span in match.spans:
            covered = fold(text[span.start : span.end])
            assert covered
            if match.watchlist == "lower":  # exact terms: the word plus an ending
                assert covered.startswith(("starlink", "bank indonesia", "peskov", "kiriyenko"))


@FAST
@given(any_text)
def test_parsing_never_crashes(query: str) -> None:
    try:
        parse_query(query)
    except QuerySyntaxError as error:
        assert 0 <= error.position <= len(query)


@FAST
@given(latin_letters)
def test_fold_ignores_case_and_accents(text: str) -> None:
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    assert fold(text.upper()) == fold(text.lower()) == fold(text)
    assert fold(plain) == fold(text) or not plain.isascii()


@FAST
@given(word_text, st.sampled_from([None, "en", "id", "ru"]))
def test_matching_ignores_accents(text: str, language: str | None) -> None:
    accented = unicodedata.normalize("NFC", re.sub(r"([aeiou])", "\\1\u0301", text))
    decomposed = re.sub(r"([aeiou])", "\\1\u0308", text)
    assert (
        found("", accented, language)
        == found("", text, language)
        == found("", decomposed, language)
    )


@FAST
@given(word_text, st.sampled_from([None, "en", "id", "ru"]))
def test_matching_ignores_case_up_to_the_capitalisation_rule(
    text: str, language: str | None
) -> None:
    lower, upper, as_is = (found("", t, language) for t in (text.lower(), text.upper(), text))
    assert lower <= as_is <= upper
    for name in ("lower", "prefix", "near"):  # terms written in lower case: case is ignored
        assert (name in lower) == (name in upper) == (name in as_is)


@FAST
@given(word_text)
def test_title_and_text_are_matched_alike(text: str) -> None:
    in_text = found("", text) - {"title"}
    in_title = found(text, "") - {"title"}
    assert in_text == in_title


STABLE = "bdglmnprsvaeou"  # letters no skeleton rule rewrites (no i/y/j, k+h, t+z, x)
stable_word = st.text(alphabet=STABLE, min_size=7, max_size=14).filter(
    lambda w: not re.search(r"(.)\1", w)
)


@FAST
@given(stable_word, st.data())
def test_a_fuzzy_term_finds_every_word_one_edit_away(word: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(word) - 1))
    letter = data.draw(st.sampled_from(STABLE))
    edit = data.draw(st.sampled_from(["substitute", "insert", "delete"]))
    if edit == "substitute":
        edited = word[:position] + letter + word[position + 1 :]
    elif edit == "insert":
        edited = word[:position] + letter + word[position:]
    else:
        edited = word[:position] + word[position + 1 :]
    if re.search(r"(.)\1", edited):  # a doubled letter is a skeleton rule of its own
        return
    matcher = compile_watchlists([WatchlistSpec("w", f"{word.capitalize()}~1")])
    assert matcher.match(Document("", f"News about {edited.capitalize()} today"))


latin_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12)


@FAST
@given(latin_word, st.booleans(), st.booleans(), st.booleans())
@example("abaei", True, False, False)  # abaei+e: the skeleton rewrites across the join
def test_the_index_key_of_a_word_prefixes_every_accepted_skeleton(
    word: str, cyrillic: bool, indonesian: bool, proper: bool
) -> None:
    key = anchor(word)
    forms = skeleton_forms(word, cyrillic=cyrillic, indonesian=indonesian, proper=proper)
    assert all(form.startswith(key) for form in forms)


@FAST
@given(latin_word, latin_word)
def test_the_index_key_of_a_prefix_prefixes_every_longer_word(prefix: str, rest: str) -> None:
    assert skeleton(prefix + rest).startswith(prefix_anchor(prefix))
