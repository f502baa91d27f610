"""Lexing a watchlist query, its size limits and its one error type.

Tokens: words (with a trailing ``*`` or ``~n`` kept for the parser), "phrases" (with
``\\"`` and ``\\\\`` escapes), parentheses, upper-case operators AND OR NOT NEAR[/n],
a leading ``-`` (NOT) and ``field:`` scopes. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from monitor.errors import MonitorError

DEFAULT_NEAR = 10
TEXT_FIELDS = ("title", "text")
META_FIELDS = ("source", "lang")
_OPERATOR = re.compile(r"^(?:AND|OR|NOT|NEAR(?:/\d+)?)$")


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """Bounds on one query; ``BOT_LIMITS`` for watchlists users type into the bot."""

    max_length: int = 20_000
    max_nodes: int = 2_000
    max_depth: int = 24
    max_fuzzy: int = 50
    max_near: int = 100


DEFAULT_LIMITS = QueryLimits()
BOT_LIMITS = QueryLimits(max_length=400, max_nodes=40, max_depth=6, max_fuzzy=3, max_near=30)


class QuerySyntaxError(MonitorError, ValueError):
    """A query that cannot be parsed: what is wrong, where (0-based) and what was expected."""

    def __init__(
        self,
        message: str,
        position: int,
        expected: tuple[str, ...] = (),
        *,
        query: str = "",
        watchlist: str | None = None,
    ) -> None:
        self.message = message
        self.position = position
        self.expected = expected
        self.query = query
        self.watchlist = watchlist
        super().__init__(self.describe())

    def describe(self) -> str:
        """One line: the watchlist (when known), the column and the message."""
        where = f"watchlist {self.watchlist!r}: " if self.watchlist else ""
        return f"{where}query column {self.position + 1}: {self.message}"

    def pointer(self) -> str:
        """The query with a caret under the error, for terminals."""
        return f"{self.query}\n{' ' * self.position}^"

    def for_watchlist(self, name: str) -> QuerySyntaxError:
        """The same error naming the watchlist it belongs to."""
        return QuerySyntaxError(
            self.message, self.position, self.expected, query=self.query, watchlist=name
        )


@dataclass(slots=True)
class Token:
    """One lexeme and where it starts in the query."""

    kind: str  # word phrase ( ) AND OR NOT NEAR - field end
    value: str
    position: int
    distance: int = DEFAULT_NEAR


def describe(token: Token) -> str:
    if token.kind == "end":
        return "the end of the query"
    if token.kind == "phrase":
        return f'"{token.value}"'
    if token.kind == "field":
        return f"{token.value}:"
    return repr(token.value)


_LEXER = re.compile(
    r"""
    \s*(?:
      (?P<paren>[()])
    | "(?P<phrase>(?:[^"\\]|\\.)*)"
    | (?P<unclosed>")
    | (?P<minus>-)(?=[^\s)\-])
    | (?P<field>[A-Za-z]+):(?=\s*[^\s)])
    | (?P<word>[^\s()"]+)
    | (?P<end>\Z)
    )
    """,
    re.VERBOSE,
)
_UNESCAPE = re.compile(r'\\(["\\])')


def lex(query: str) -> list[Token]:
    """The tokens of ``query``, ending with an "end" token; raise on a lexical mistake."""
    tokens: list[Token] = []
    for found in _LEXER.finditer(query):
        kind = found.lastgroup
        if kind == "word":
            word = found.group(kind)
            if word[0] in "AONR":  # perhaps an operator
                tokens.append(_word_token(query, word, found.start(kind)))
            else:
                tokens.append(Token("word", word, found.start(kind)))
        elif kind == "phrase":
            phrase = found.group(kind)
            if "\\" in phrase:
                phrase = _UNESCAPE.sub(r"\1", phrase)
            tokens.append(Token("phrase", phrase, found.start(kind) - 1))
            if query[found.end() : found.end() + 1] in ("~", "*"):
                raise QuerySyntaxError(
                    "'~' and '*' apply to single words, not to a quoted phrase",
                    found.end(),
                    query=query,
                )
        elif kind == "paren":
            tokens.append(Token(found.group(kind), found.group(kind), found.start(kind)))
        elif kind == "unclosed":
            raise QuerySyntaxError(
                "this phrase has no closing quote", found.start(kind), ('"',), query=query
            )
        elif kind == "minus":
            tokens.append(Token("-", "-", found.start(kind)))
        elif kind == "field":
            name = found.group(kind).lower()
            if name not in TEXT_FIELDS + META_FIELDS:
                raise QuerySyntaxError(
                    f"unknown field {found.group(kind)!r}: (quote the term to search for it)",
                    found.start(kind),
                    tuple(f"{known}:" for known in TEXT_FIELDS + META_FIELDS),
                    query=query,
                )
            tokens.append(Token("field", name, found.start(kind)))
        else:
            break
    tokens.append(Token("end", "", len(query)))
    return tokens


def _word_token(query: str, word: str, position: int) -> Token:
    if _OPERATOR.match(word):
        if word.startswith("NEAR"):
            distance = int(word[5:]) if "/" in word else DEFAULT_NEAR
            return Token("NEAR", word, position, distance)
        return Token(word, word, position)
    if word.startswith("NEAR/"):
        raise QuerySyntaxError(
            "NEAR/ needs a number of words, as in NEAR/5", position, ("NEAR/<n>",), query=query
        )
    return Token("word", word, position)
