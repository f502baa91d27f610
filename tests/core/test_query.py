"""The watchlist query language: what parses to what, and how mistakes are reported."""

from __future__ import annotations

import time

import pytest

from monitor.core.query import (
    BOT_LIMITS,
    And,
    Meta,
    Near,
    Not,
    Or,
    QuerySyntaxError,
    Scoped,
    Term,
    parse_query,
    terms,
    validate_query,
)
from monitor.errors import MonitorError


def words(node: object) -> object:
    """The tree with each term reduced to its folded words, for readable assertions."""
    if isinstance(node, Term):
        return " ".join(node.words)
    if isinstance(node, And):
        return ("AND", *(words(c) for c in node.children))
    if isinstance(node, Or):
        return ("OR", *(words(c) for c in node.children))
    if isinstance(node, Not):
        return ("NOT", words(node.child))
    if isinstance(node, Near):
        return (f"NEAR/{node.distance}", words(node.left), words(node.right))
    if isinstance(node, Scoped):
        return (f"{node.field}:", words(node.child))
    if isinstance(node, Meta):
        return (f"{node.field}:", node.value)
    raise AssertionError(node)


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("Starlink", "starlink"),
        ("Musk AND Putin", ("AND", "musk", "putin")),
        ("Musk Putin", ("AND", "musk", "putin")),  # juxtaposition is AND
        ("a OR b c", ("OR", "a", ("AND", "b", "c"))),  # AND binds tighter than OR
        ("(a OR b) c", ("AND", ("OR", "a", "b"), "c")),
        ("a OR b OR c", ("OR", "a", "b", "c")),
        ("NOT a b", ("AND", ("NOT", "a"), "b")),  # NOT binds tightest
        ("a -b", ("AND", "a", ("NOT", "b"))),
        ('a -"b c"', ("AND", "a", ("NOT", "b c"))),
        ("a NOT NOT b", ("AND", "a", ("NOT", ("NOT", "b")))),
        ("a NEAR/3 b", ("NEAR/3", "a", "b")),
        ("a NEAR b", ("NEAR/10", "a", "b")),  # default distance
        ("a NEAR/2 b OR c", ("OR", ("NEAR/2", "a", "b"), "c")),  # NEAR binds tighter than OR
        ("(a OR b) NEAR/5 c", ("NEAR/5", ("OR", "a", "b"), "c")),
        ("a NEAR/1 b NEAR/1 c", ("NEAR/1", ("NEAR/1", "a", "b"), "c")),
        ('"Elon Musk"', "elon musk"),
        ('"say \\"hi\\" now"', "say hi now"),
        ("Starlink-nya", "starlink nya"),  # a hyphenated word is a phrase of its parts
        ("Musk's", "musk s"),
        ("title:Starlink", ("title:", "starlink")),
        ('title:(Starlink OR "Star link")', ("title:", ("OR", "starlink", "star link"))),
        ("text: Starlink", ("text:", "starlink")),  # a space after the colon is fine
        ("Starlink lang:id", ("AND", "starlink", ("lang:", "id"))),
        ("Starlink lang:pt_BR", ("AND", "starlink", ("lang:", "pt-br"))),
        ('source:"Tempo.co" Starlink', ("AND", ("source:", "tempo co"), "starlink")),
        ("musk and putin", ("AND", "musk", "and", "putin")),  # lower-case is a word
        ("Кириенко", "kirienko"),
    ],
)
def test_parse_builds_the_expected_tree(query: str, tree: object) -> None:
    assert words(parse_query(query)) == tree


def test_terms_record_operators_and_how_they_were_written() -> None:
    prefix, fuzzy, edits, name, acronym, phrase = terms(
        parse_query('Starl* Kiriyenko~ Putin~1 Peskov NATO "Elon Musk"')
    )
    assert prefix.prefix and prefix.words == ("starl",)
    assert fuzzy.fuzzy == "auto" and not fuzzy.prefix
    assert edits.fuzzy == 1
    assert name.names == (True,) and name.capitals == (True,)
    assert acronym.names == (False,) and acronym.capitals == (True,)
    assert phrase.phrase and phrase.words == ("elon", "musk") and phrase.names == (False, False)
    positions = [t.position for t in (prefix, fuzzy, edits, name, acronym, phrase)]
    assert positions == [0, 7, 18, 26, 33, 38]


def test_the_terms_form_of_the_config_parses() -> None:
    # watchlists.yaml `terms:` becomes quoted phrases joined by OR, with \ escapes
    node = parse_query('"Starlink" OR "Kiriyenko" OR "say \\"hi\\"" OR "back\\\\slash"')
    assert [t.words for t in terms(node)] == [
        ("starlink",),
        ("kiriyenko",),
        ("say", "hi"),
        ("back", "slash"),
    ]
    assert terms(node)[1].names == (True,)  # quotes keep name variants


@pytest.mark.parametrize(
    ("query", "column", "needle", "expected"),
    [
        ("", 1, "empty", "a word"),
        ("   ", 1, "empty", "a word"),
        ("a AND", 6, "after AND", "a word"),
        ("a OR", 5, "after OR", "a word"),
        ("a AND OR b", 7, "after AND", "("),
        ("NOT", 4, "after NOT", "a word"),
        ("(a OR b", 8, "close the '(' at column 1", ")"),
        ("a)", 2, "unexpected ')'", ""),
        (")", 1, "unexpected ')'", "a word"),
        ("()", 2, "empty parentheses", "("),
        ('"Elon Musk', 1, "no closing quote", '"'),
        ("foo:bar", 1, "unknown field 'foo'", "title:"),
        ("a NEAR/x b", 3, "NEAR/ needs a number", "NEAR/<n>"),
        ("(a AND b) NEAR c", 11, "NEAR needs words", "(a OR b)"),
        ("a NEAR -b", 8, "NEAR needs words", "a word"),
        ("Sta*rt", 1, "only allowed once, at the end", "word*"),
        ("Star**", 1, "only allowed once", "word*"),
        ("ab*", 1, "at least 3 letters", "a longer prefix"),
        ("Kiriyenko~3", 1, "at most 2 edits", "~2"),
        ('"Elon Musk"~', 12, "single words, not to a quoted phrase", ""),
        ('"Elon Mus"*', 11, "single words, not to a quoted phrase", ""),
        ("Musk's~", 1, "single word", ""),
        ("Starlink*~", 1, "both a prefix", ""),
        ("title:(title:a)", 8, "cannot be nested", ""),
        ("title:(a lang:en)", 1, "cannot be inside title:", ""),
        ("lang:(en OR id)", 6, "lang: needs a value", "a word"),
        ("lang:english1", 6, "language code", "a language code"),
        ("NOT Starlink", 1, "needs a term that must be present", "a term"),
        ("-Starlink -Starling", 1, "needs a term that must be present", "a term"),
        ("!!!", 1, "no letters or digits", ""),
        ("a ) b", 3, "unexpected ')'", ""),
    ],
)
def test_syntax_errors_say_where_and_what_was_expected(
    query: str, column: int, needle: str, expected: str
) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query)
    error = caught.value
    assert error.position == column - 1
    assert needle in error.message
    assert f"column {column}:" in str(error)
    if expected:
        assert expected in error.expected


def test_a_query_that_ends_early_points_past_its_end() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query("Musk AND (Putin OR")
    error = caught.value
    assert error.position == len("Musk AND (Putin OR")
    assert error.pointer().splitlines() == ["Musk AND (Putin OR", " " * 18 + "^"]


def test_errors_name_their_watchlist_and_belong_to_the_error_tree() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query("a AND")
    error = caught.value.for_watchlist("Putin")
    assert str(error).startswith("watchlist 'Putin': query column 6:")
    assert error.watchlist == "Putin"
    assert isinstance(error, MonitorError)
    assert isinstance(error, ValueError)


def test_validate_query_returns_the_message_or_none() -> None:
    assert validate_query('Kiriyenko OR "Sergei Kirienko"') is None
    message = validate_query("Kiriyenko OR")
    assert message is not None
    assert "column 13" in message and "after OR" in message


def test_limits_bound_what_a_bot_user_can_type() -> None:
    assert validate_query(" OR ".join(f"w{i}" for i in range(30)), limits=BOT_LIMITS) is None
    too_many = " OR ".join(f"w{i}" for i in range(41))
    assert "too large" in (validate_query(too_many, limits=BOT_LIMITS) or "")
    assert "longer than 400" in (validate_query("a" * 401, limits=BOT_LIMITS) or "")
    deep = "(" * 7 + "a" + ")" * 7
    assert "deeper than 6" in (validate_query(deep, limits=BOT_LIMITS) or "")
    fuzzy = "Alpha~ Bravo~ Charlie~ Delta~"
    assert "too many fuzzy" in (validate_query(fuzzy, limits=BOT_LIMITS) or "")
    assert "too far" in (validate_query("a NEAR/31 b", limits=BOT_LIMITS) or "")


def test_default_limits_accept_a_long_terms_list_but_not_a_bomb() -> None:
    names = " OR ".join(f'"Name{i}"' for i in range(1500))
    assert validate_query(names) is None
    assert "deeper" in (validate_query("(" * 30 + "a" + ")" * 30) or "")
    assert "longer than" in (validate_query("a " * 20_000) or "")


def test_hostile_input_is_rejected_or_parsed_as_plain_words_quickly() -> None:
    # no regular expression ever takes the user's text as a pattern: no ReDoS
    started = time.perf_counter()
    assert "no letters or digits" in (validate_query("(a+)+$") or "")
    assert validate_query('"' + "\\" * 5000 + '"') is not None
    assert validate_query("(" * 10_000) is not None
    assert validate_query("a" * 19_000 + "!" * 900) is None
    assert time.perf_counter() - started < 1.0
    assert [t.words for t in terms(parse_query("(a+) b+"))] == [("a",), ("b",)]
