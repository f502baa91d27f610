"""The watchlist query language: the parser and the public entry points.

``parse_query`` and ``validate_query`` live here; the lexer, the size limits and
``QuerySyntaxError`` in monitor.core.query_lexer; the tree in monitor.core.query_tree
(all re-exported from this module).

Grammar, loosest binding first (docs/query-language.md has the user's version)::

    query   = or
    or      = and { "OR" and }
    and     = near { ["AND"] near }                  juxtaposition means AND
    near    = unary { "NEAR" ["/" n] unary }         n words apart at most (default 10)
    unary   = ("NOT" | "-") unary | primary
    primary = "(" or ")" | ("title:" | "text:") primary
            | ("source:" | "lang:") (word | phrase) | phrase | word
    word    = letters [ "*" | "~" [digit] ]          prefix wildcard, fuzzy edits
    phrase  = '"' characters '"'                     \\" and \\\\ escape inside quotes

Operators are upper-case (AND, OR, NOT, NEAR); lower-case "and" is a word. Terms are
folded (monitor.core.text) when parsed, so the tree holds what the matcher compares.
Nothing a user writes is ever run as a regular expression (no ReDoS), and size limits
(length, parts, nesting, fuzzy terms, NEAR distance) keep a personal watchlist from the
bot from being pathological. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from monitor.core.query_lexer import (
    BOT_LIMITS,
    DEFAULT_LIMITS,
    META_FIELDS,
    QueryLimits,
    QuerySyntaxError,
    Token,
    describe,
    lex,
)
from monitor.core.query_tree import (
    And,
    Fuzzy,
    Meta,
    Near,
    Not,
    Or,
    QueryNode,
    Scoped,
    Term,
    has_meta,
    has_positive,
    positional,
    terms,
)
from monitor.core.text import fold_words, tokenize
from monitor.core.variants import is_name

__all__ = [
    "BOT_LIMITS",
    "DEFAULT_LIMITS",
    "And",
    "Meta",
    "Near",
    "Not",
    "Or",
    "QueryLimits",
    "QueryNode",
    "QuerySyntaxError",
    "Scoped",
    "Term",
    "parse_query",
    "terms",
    "validate_query",
]

MIN_PREFIX = 3
MAX_EDITS = 2
_FUZZY = re.compile(r"~(\d*)$")
_LANG = re.compile(r"^[a-z]{2,3}(?:[-_][a-z0-9]{2,8})*$")
_PRIMARY_START = ("word", "phrase", "(", "NOT", "-", "field")
_EXPECT_TERM = ("a word", 'a "phrase"', "(")


@dataclass
class _Parser:
    query: str
    limits: QueryLimits
    tokens: list[Token]
    index: int = 0
    nodes: int = 0
    fuzzy_terms: int = 0
    depth: int = 0
    scopes: list[str] = field(default_factory=list)  # title:/text: being parsed

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def fail(self, message: str, token: Token, expected: tuple[str, ...] = ()) -> QuerySyntaxError:
        return QuerySyntaxError(message, token.position, expected, query=self.query)

    def count(self, token: Token) -> None:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise self.fail(f"the query is too large (over {self.limits.max_nodes} parts)", token)

    def enter(self, token: Token) -> None:
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise self.fail(f"the query nests deeper than {self.limits.max_depth} levels", token)

    def parse_or(self) -> QueryNode:
        children = [self.parse_and()]
        while self.peek().kind == "OR":
            operator = self.take()
            if self.peek().kind not in _PRIMARY_START:
                raise self.fail(
                    f"expected a term after OR, found {describe(self.peek())}",
                    self.peek(),
                    _EXPECT_TERM,
                )
            if len(children) == 1:  # one Or node, however many operands
                self.count(operator)
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self) -> QueryNode:
        children = [self.parse_near()]
        while True:
            token = self.peek()
            if token.kind == "AND":
                self.take()
                if self.peek().kind not in _PRIMARY_START:
                    raise self.fail(
                        f"expected a term after AND, found {describe(self.peek())}",
                        self.peek(),
                        _EXPECT_TERM,
                    )
            elif token.kind not in _PRIMARY_START:
                break
            if len(children) == 1:
                self.count(token)
            children.append(self.parse_near())
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_near(self) -> QueryNode:
        left = self.parse_unary()
        while self.peek().kind == "NEAR":
            operator = self.take()
            if operator.distance > self.limits.max_near:
                raise self.fail(
                    f"NEAR/{operator.distance} is too far (at most {self.limits.max_near})",
                    operator,
                )
            start = self.peek()
            right = self.parse_unary()
            for side, token in ((left, operator), (right, start)):
                if not positional(side):
                    raise self.fail(
                        "NEAR needs words, phrases or (a OR b) groups on both sides",
                        token,
                        ("a word", 'a "phrase"', "(a OR b)"),
                    )
            self.count(operator)
            left = Near(left, right, operator.distance)
        return left

    def parse_unary(self) -> QueryNode:
        token = self.peek()
        if token.kind in ("NOT", "-"):
            self.take()
            if self.peek().kind not in _PRIMARY_START:
                raise self.fail(
                    f"expected a term after {token.value}, found {describe(self.peek())}",
                    self.peek(),
                    _EXPECT_TERM,
                )
            self.count(token)
            self.enter(token)
            child = self.parse_unary()
            self.depth -= 1
            return Not(child)
        return self.parse_primary()

    def parse_primary(self) -> QueryNode:
        token = self.take()
        if token.kind == "(":
            self.enter(token)
            if self.peek().kind == ")":
                raise self.fail("empty parentheses", self.peek(), _EXPECT_TERM)
            inner = self.parse_or()
            closing = self.take()
            if closing.kind != ")":
                raise self.fail(
                    f"expected ')' to close the '(' at column {token.position + 1}, "
                    f"found {describe(closing)}",
                    closing,
                    (")",),
                )
            self.depth -= 1
            return inner
        if token.kind in ("word", "phrase"):
            return self.term(token)
        if token.kind == "field":
            return self.scoped(token)
        if token.kind == ")":
            raise self.fail("unexpected ')' without a matching '('", token, _EXPECT_TERM)
        raise self.fail(f"expected a term, found {describe(token)}", token, _EXPECT_TERM)

    def scoped(self, token: Token) -> QueryNode:
        if token.value in META_FIELDS:
            value = self.take()
            if value.kind not in ("word", "phrase"):
                raise self.fail(
                    f"{token.value}: needs a value, found {describe(value)}",
                    value,
                    ("a word", 'a "phrase"'),
                )
            self.count(token)
            return self.meta(token, value)
        if self.scopes:
            raise self.fail("field scopes cannot be nested", token)
        if self.peek().kind not in ("word", "phrase", "("):
            raise self.fail(
                f"{token.value}: needs a term or a (group), found {describe(self.peek())}",
                self.peek(),
                _EXPECT_TERM,
            )
        self.scopes.append(token.value)
        self.enter(token)
        child = self.parse_primary()
        self.depth -= 1
        self.scopes.pop()
        if has_meta(child):
            raise self.fail(f"source: and lang: cannot be inside {token.value}:", token)
        self.count(token)
        return Scoped("title" if token.value == "title" else "text", child)

    def meta(self, field_token: Token, value: Token) -> Meta:
        if field_token.value == "lang":
            code = value.value.strip().lower()
            if not _LANG.match(code):
                raise self.fail(
                    f"lang: needs a language code such as ru or en, found {value.value!r}",
                    value,
                    ("a language code",),
                )
            return Meta("lang", code.replace("_", "-"))
        words = fold_words(value.value)
        if not words:
            raise self.fail("source: needs a name with letters or digits", value)
        return Meta("source", " ".join(words))

    def term(self, token: Token) -> Term:
        self.count(token)
        text = token.value
        prefix = False
        fuzzy: Fuzzy = None
        if token.kind == "word":
            text, prefix, fuzzy = self.word_operators(token)
        words, names, capitals = _term_words(text)
        if not words:
            raise self.fail(f"{token.value!r} has no letters or digits to search for", token)
        if prefix and len(words[-1]) < MIN_PREFIX:
            raise self.fail(
                f"a wildcard needs at least {MIN_PREFIX} letters before '*'",
                token,
                ("a longer prefix",),
            )
        if fuzzy is not None and len(words) > 1:
            raise self.fail("'~' applies to a single word, not to a phrase", token)
        if fuzzy not in (None, 0):
            self.fuzzy_terms += 1
            if self.fuzzy_terms > self.limits.max_fuzzy:
                raise self.fail(
                    f"too many fuzzy terms (at most {self.limits.max_fuzzy} per query)", token
                )
        return Term(
            token.value,
            words,
            names,
            capitals,
            prefix=prefix,
            fuzzy=fuzzy,
            phrase=token.kind == "phrase",
            position=token.position,
        )

    def word_operators(self, token: Token) -> tuple[str, bool, Fuzzy]:
        """Split ``Starlink*`` and ``Kiriyenko~1`` into the word and its operator."""
        word = token.value
        fuzzy: Fuzzy = None
        found = _FUZZY.search(word) if "~" in word else None
        if found:
            digits = found.group(1)
            fuzzy = int(digits) if digits else "auto"
            if isinstance(fuzzy, int) and fuzzy > MAX_EDITS:
                raise self.fail(
                    f"at most {MAX_EDITS} edits: use ~1 or ~2 (or ~ for by-length)",
                    token,
                    ("~", "~1", "~2"),
                )
            word = word[: found.start()]
        prefix = word.endswith("*")
        core = word.rstrip("*")
        if "*" in core or (prefix and word.count("*") > 1):
            raise self.fail("'*' is only allowed once, at the end of a word", token, ("word*",))
        if prefix and fuzzy is not None:
            raise self.fail("a word cannot be both a prefix (*) and fuzzy (~)", token)
        return core, prefix, fuzzy


@lru_cache(maxsize=16_384)
def _term_words(text: str) -> tuple[tuple[str, ...], tuple[bool, ...], tuple[bool, ...]]:
    """Folded words of a term, and for each: written like a name, written capitalised."""
    if text.isascii() and text.isalpha():  # the common case, without tokenising
        folded = text.lower()
        return (folded,), (is_name(text, folded),), (text[0].isupper(),)
    tokens = tokenize(text)
    words = tuple(t.folded for t in tokens)
    names = tuple(is_name(text[t.start : t.end], t.folded) for t in tokens)
    capitals = tuple(t.is_capitalised(text) and t.folded.isalpha() for t in tokens)
    return words, names, capitals


def parse_query(text: str, *, limits: QueryLimits = DEFAULT_LIMITS) -> QueryNode:
    """Parse a query into its tree; raise ``QuerySyntaxError`` on any mistake."""
    if len(text) > limits.max_length:
        raise QuerySyntaxError(
            f"the query is longer than {limits.max_length} characters",
            limits.max_length,
            query=text[: limits.max_length],
        )
    if not text.strip():
        raise QuerySyntaxError("the query is empty", 0, _EXPECT_TERM, query=text)
    parser = _Parser(text, limits, lex(text))
    node = parser.parse_or()
    rest = parser.peek()
    if rest.kind != "end":
        if rest.kind == ")":
            raise parser.fail("unexpected ')' without a matching '('", rest)
        raise parser.fail(
            f"expected AND, OR or the end of the query, found {describe(rest)}",
            rest,
            ("AND", "OR", "NEAR", "end of query"),
        )
    if not has_positive(node):
        raise QuerySyntaxError(
            "the query needs a term that must be present: NOT alone would match every item",
            0,
            ("a term",),
            query=text,
        )
    return node


def validate_query(text: str, *, limits: QueryLimits = DEFAULT_LIMITS) -> str | None:
    """The syntax error message for ``text``, or None when it parses."""
    try:
        parse_query(text, limits=limits)
    except QuerySyntaxError as exc:
        return str(exc)
    return None
