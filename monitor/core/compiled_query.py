"""A parsed watchlist query turned into closures over one item's term hits.

``compile_query`` walks the tree once (at load) and returns a predicate
``holds(hits, doc) -> bool``; NEAR compiles to a function returning the word positions
of the pairs it found, so proximity chains. ``word_rules`` decides how each word of a
term matches (exact, transliteration variant, prefix, fuzzy) from the term's own
operators and the watchlist's ``fuzzy`` setting. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from monitor.core.models import Document, WatchlistSpec
from monitor.core.query import And, Meta, Near, Not, Or, QueryNode, Scoped, Term
from monitor.core.term_index import Hits, Mode, PreparedDocument, WordRule, edits_for_length

Position = tuple[int, int]  # first and last word index of a hit
Predicate = Callable[[Hits, PreparedDocument], bool]
Locate = Callable[[Hits, PreparedDocument], list[Position]]


def word_rules(term: Term, fuzzy: str | int) -> list[WordRule]:
    """How each word of ``term`` matches under the watchlist's ``fuzzy`` setting.

    A trailing ``*`` makes the last word a prefix; ``~``/``~n`` (or a numeric watchlist
    ``fuzzy``) allows edits by length; otherwise a name-like word matches its
    transliteration variants unless the watchlist says ``fuzzy: off`` or the term ``~0``.
    """
    if len(term.words) == 1 and term.fuzzy is None and not term.prefix and type(fuzzy) is str:
        name = term.names[0]  # the common case: one word, no operator
        mode: Mode = "variant" if name and fuzzy != "off" else "exact"
        return [WordRule(term.words[0], mode, name, term.capitals[0])]
    rules: list[WordRule] = []
    last = len(term.words) - 1
    asked = term.fuzzy if term.fuzzy is not None else fuzzy
    variants = fuzzy != "off" and term.fuzzy != 0
    for offset, word in enumerate(term.words):
        name = term.names[offset]
        capital = term.capitals[offset]
        if term.prefix and offset == last:
            rules.append(WordRule(word, "prefix", name, capital))
            continue
        edits = 0
        if asked == "auto" and term.fuzzy == "auto":
            edits = edits_for_length(len(word))
        elif type(asked) is int:
            edits = min(asked, edits_for_length(len(word)))
        if edits:
            rules.append(WordRule(word, "fuzzy", name, capital, edits))
        else:
            rules.append(WordRule(word, "variant" if name and variants else "exact", name, capital))
    return rules


def _in_field(found: list[Position], field: str | None, title_count: int) -> list[Position]:
    if field is None:
        return found
    title = field == "title"
    return [hit for hit in found if (hit[1] < title_count) == title]


def compile_positions(node: QueryNode, ids: Mapping[int, int], field: str | None) -> Locate:
    """Word positions where ``node`` (a term, an OR of them, or a NEAR) occurs."""
    if isinstance(node, Scoped):
        return compile_positions(node.child, ids, node.field)
    if isinstance(node, Term):
        term_id = ids[id(node)]

        def term_positions(hits: Hits, doc: PreparedDocument) -> list[Position]:
            return _in_field(hits.get(term_id, []), field, doc.title_count)

        return term_positions
    if isinstance(node, Or):
        parts = [compile_positions(child, ids, field) for child in node.children]

        def any_positions(hits: Hits, doc: PreparedDocument) -> list[Position]:
            return [hit for part in parts for hit in part(hits, doc)]

        return any_positions
    if isinstance(node, Near):
        return _compile_near(node, ids, field)
    raise TypeError(f"no word positions for {type(node).__name__}")  # parser prevents it


def _compile_near(node: Near, ids: Mapping[int, int], field: str | None) -> Locate:
    left = compile_positions(node.left, ids, field)
    right = compile_positions(node.right, ids, field)
    distance = node.distance

    def near_positions(hits: Hits, doc: PreparedDocument) -> list[Position]:
        lefts = left(hits, doc)
        rights = right(hits, doc) if lefts else []
        count = doc.title_count
        paired: set[Position] = set()
        for a in lefts:
            for b in rights:
                gap = max(b[0] - a[1], a[0] - b[1]) - 1  # words strictly between
                if gap <= distance and (a[1] < count) == (b[1] < count):
                    paired.update((a, b))
        return sorted(paired)

    return near_positions


def compile_query(node: QueryNode, ids: Mapping[int, int], field: str | None = None) -> Predicate:
    """``holds(hits, doc)``: whether the query is true for an item with these term hits."""
    if isinstance(node, Scoped):
        return compile_query(node.child, ids, node.field)
    if isinstance(node, Term) and field is None:
        term_id = ids[id(node)]
        return lambda hits, doc: term_id in hits
    if isinstance(node, Term | Near):
        positions = compile_positions(node, ids, field)
        return lambda hits, doc: bool(positions(hits, doc))
    if isinstance(node, And):
        parts = [compile_query(child, ids, field) for child in node.children]
        return lambda hits, doc: all(part(hits, doc) for part in parts)
    if isinstance(node, Or):
        parts = [compile_query(child, ids, field) for child in node.children]
        return lambda hits, doc: any(part(hits, doc) for part in parts)
    if isinstance(node, Not):
        inner = compile_query(node.child, ids, field)
        return lambda hits, doc: not inner(hits, doc)
    if isinstance(node, Meta):
        return _compile_meta(node)
    raise TypeError(f"unknown query node {type(node).__name__}")


def _compile_meta(node: Meta) -> Predicate:
    if node.field == "source":
        needle = f" {node.value} "
        return lambda hits, doc: needle in doc.source
    code = node.value

    def language_is(hits: Hits, doc: PreparedDocument) -> bool:
        language = (doc.document.language or "").lower().replace("_", "-")
        return language == code or language.startswith(code + "-")

    return language_is


def positive_terms(node: QueryNode, field: str | None = None) -> list[tuple[Term, str | None]]:
    """Terms outside NOT, left to right, with the field scope they are under."""
    if isinstance(node, Term):
        return [(node, field)]
    if isinstance(node, And | Or):
        return [found for child in node.children for found in positive_terms(child, field)]
    if isinstance(node, Scoped):
        return positive_terms(node.child, node.field)
    if isinstance(node, Near):
        return positive_terms(node.left, field) + positive_terms(node.right, field)
    return []


def needs_hit(node: QueryNode) -> bool:
    """True when the query can only hold if one of its terms is found in the text."""
    if isinstance(node, Term | Near):
        return True
    if isinstance(node, Scoped):
        return needs_hit(node.child)
    if isinstance(node, And):
        return any(needs_hit(child) for child in node.children)
    if isinstance(node, Or):
        return all(needs_hit(child) for child in node.children)
    return False  # Meta, Not


@dataclass(frozen=True, slots=True)
class CompiledWatchlist:
    """One watchlist ready to evaluate: predicates, its terms' index ids, its scope."""

    spec: WatchlistSpec
    order: int  # position in the configuration
    holds: Predicate
    excluded: Predicate | None
    found: tuple[tuple[str, int, str | None], ...]  # positive terms: text, term id, field
    exclude_found: tuple[tuple[str, int, str | None], ...]
    triggers: frozenset[int]  # term ids whose hit makes this watchlist a candidate
    needs_hit: bool  # False: evaluate for every item (e.g. only source: or lang:)

    def in_scope(self, document: Document) -> str | None:
        """Why ``document`` is outside this watchlist's scope, or None when inside."""
        spec = self.spec
        if spec.languages and document.language:
            language = document.language.lower()
            if not any(
                language == wanted.lower() or language.startswith(wanted.lower() + "-")
                for wanted in spec.languages
            ):
                return f"language {document.language} is not one of {', '.join(spec.languages)}"
        if spec.feeds and document.feed not in spec.feeds and document.source not in spec.feeds:
            return f"feed {document.feed or document.source or '?'} is not in scope"
        if spec.tags and not set(document.tags) & set(spec.tags):
            return "no feed tag in scope"
        return None


def compile_watchlist(
    spec: WatchlistSpec,
    order: int,
    query: QueryNode,
    exclude: QueryNode | None,
    ids: Mapping[int, int],
) -> CompiledWatchlist:
    """Close over the term ids of ``query`` and ``exclude`` (``ids``: id(term) -> term id)."""

    def listing(node: QueryNode) -> tuple[tuple[str, int, str | None], ...]:
        return tuple((t.text, ids[id(t)], f) for t, f in positive_terms(node))

    found = listing(query)
    return CompiledWatchlist(
        spec,
        order,
        compile_query(query, ids),
        compile_query(exclude, ids) if exclude is not None else None,
        found,
        listing(exclude) if exclude is not None else (),
        frozenset(term_id for _, term_id, _ in found),
        needs_hit(query),
    )
