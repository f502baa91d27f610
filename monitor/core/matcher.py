"""The compiled watchlist engine: which watchlists match an item, with terms, spans, snippet.

``compile_watchlists`` parses every query once (at load and reload) and puts every
term of every watchlist into one term index (monitor.core.term_index: one
Aho-Corasick automaton over folded, skeletonised words). ``Matcher.match`` folds the
item once, scans it once, and evaluates the boolean/proximity tree only for the
watchlists that have a candidate term (plus the few whose query can hold without
one, like ``source:reuters``); scope (languages, feeds, tags) and ``exclude`` are
checked for those. ``explain`` says why a watchlist did or did not match and
``run_examples`` runs a watchlist's examples like tests.

Pure: no I/O, no clock. A Matcher may be shared between threads: it changes nothing
after compilation but memos (the accepted forms of a term, filled on first use).
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Protocol

from monitor.core.compiled_query import CompiledWatchlist, compile_watchlist, word_rules
from monitor.core.explain import Explanation, Locator
from monitor.core.models import Document, Match, Span, WatchlistSpec
from monitor.core.query import (
    DEFAULT_LIMITS,
    QueryLimits,
    QuerySyntaxError,
    parse_query,
    terms,
)
from monitor.core.term_index import Hits, PreparedDocument, TermIndex, prepare_document

MAX_SPANS_PER_TERM = 20  # occurrences located per term (highlighting), first ones first


class Matcher:
    """Every configured watchlist, compiled; ``match`` an item against all of them."""

    def __init__(self, watchlists: Sequence[CompiledWatchlist], index: TermIndex) -> None:
        self._ordered = tuple(watchlists)
        self._watchlists = {w.spec.name: w for w in watchlists}
        self._index = index
        triggers: dict[int, set[int]] = {}
        for watchlist in watchlists:
            for term_id in watchlist.triggers:
                triggers.setdefault(term_id, set()).add(watchlist.order)
        self._triggers = {term: tuple(orders) for term, orders in triggers.items()}
        self._always = frozenset(w.order for w in watchlists if not w.needs_hit)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._watchlists)

    @property
    def term_count(self) -> int:
        """Distinct terms in the index (equal terms of several watchlists count once)."""
        return len(self._index)

    def match(self, document: Document) -> list[Match]:
        """The watchlists ``document`` matches, in configuration order."""
        return self.match_prepared(prepare_document(document))

    def match_prepared(self, doc: PreparedDocument) -> list[Match]:
        """``match`` for an item already folded with ``prepare_document``."""
        locator = Locator(doc)
        hits = self._index.scan(doc, locator.capitalised)
        if not hits and not self._always:
            return []
        candidates = set(self._always)
        triggers = self._triggers
        for term_id in hits:
            candidates.update(triggers.get(term_id, ()))
        matches: list[Match] = []
        for order in sorted(candidates):  # configuration order
            watchlist = self._ordered[order]
            explained = self._evaluate(watchlist, doc, hits, locator)
            if explained.matched:
                spec = watchlist.spec
                matches.append(
                    Match(
                        spec.name,
                        explained.terms,
                        explained.snippet,
                        explained.spans,
                        spec.priority,
                        explained.highlights,
                    )
                )
        return matches

    def explain(self, document: Document, name: str, *, scoped: bool = True) -> Explanation:
        """Why watchlist ``name`` does or does not match ``document`` (KeyError if unknown)."""
        watchlist = self._watchlists[name]
        doc = prepare_document(document)
        locator = Locator(doc)
        hits = self._index.scan(doc, locator.capitalised)
        return self._evaluate(watchlist, doc, hits, locator, scoped=scoped)

    def explain_all(self, document: Document) -> list[Explanation]:
        """``explain`` for every watchlist, in configuration order."""
        doc = prepare_document(document)
        locator = Locator(doc)
        hits = self._index.scan(doc, locator.capitalised)
        return [self._evaluate(w, doc, hits, locator) for w in self._watchlists.values()]

    def _evaluate(
        self,
        watchlist: CompiledWatchlist,
        doc: PreparedDocument,
        hits: Hits,
        locator: Locator,
        *,
        scoped: bool = True,
    ) -> Explanation:
        name = watchlist.spec.name
        outside = watchlist.in_scope(doc.document) if scoped else None
        if outside:
            return Explanation(name, False, reason=f"out of scope: {outside}")
        if not watchlist.holds(hits, doc):
            return Explanation(name, False, reason="the query does not hold")
        if watchlist.excluded is not None and watchlist.excluded(hits, doc):
            found = _found(watchlist.exclude_found, hits, doc)
            excluded = ", ".join(dict.fromkeys(text for text, _ in found))
            return Explanation(name, False, reason=f"excluded by: {excluded}")
        found = _found(watchlist.found, hits, doc)
        spans: list[Span] = []
        for _, positions in found:
            spans.extend(s for s in locator.spans(positions[:MAX_SPANS_PER_TERM]) if s not in spans)
        ordered = tuple(sorted(spans, key=lambda s: (s.field != "title", s.start)))
        terms_found = _distinct_terms(found)
        snippet, highlights = locator.snippet(ordered)
        return Explanation(name, True, terms_found, snippet, ordered, "matched", highlights)


def _distinct_terms(found: list[tuple[str, list[tuple[int, int]]]]) -> tuple[str, ...]:
    """The terms that matched, leaving out a variant that only found words already found
    (Kirienko and Кириенко both hit "Kiriyenko": the alert names one term, not three)."""
    covered: set[tuple[int, int]] = set()
    terms: list[str] = []
    for text, positions in found:
        if text in terms or covered.issuperset(positions):
            continue
        covered.update(positions)
        terms.append(text)
    return tuple(terms)


def _found(
    listing: Sequence[tuple[str, int, str | None]], hits: Hits, doc: PreparedDocument
) -> list[tuple[str, list[tuple[int, int]]]]:
    """The listed terms present in the item (in their field), with their positions."""
    found = []
    title_count = doc.title_count
    for text, term_id, field in listing:
        positions = hits.get(term_id)
        if positions and field is not None:
            title = field == "title"
            positions = [hit for hit in positions if (hit[1] < title_count) == title]
        if positions:
            found.append((text, positions))
    return found


def compile_watchlists(
    specs: Sequence[WatchlistSpec], *, limits: QueryLimits = DEFAULT_LIMITS
) -> Matcher:
    """Parse and index every watchlist; raise ``QuerySyntaxError`` naming the watchlist.

    The cyclic garbage collector is paused meanwhile: compiling creates many small
    objects and nothing cyclic, and full collections would otherwise double the time.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        return _compile(specs, limits)
    finally:
        if paused:
            gc.enable()


def _compile(specs: Sequence[WatchlistSpec], limits: QueryLimits) -> Matcher:
    index = TermIndex()
    compiled: list[CompiledWatchlist] = []
    for spec in specs:
        try:
            query = parse_query(spec.query, limits=limits)
            exclude = parse_query(spec.exclude, limits=limits) if spec.exclude else None
        except QuerySyntaxError as exc:
            raise exc.for_watchlist(spec.name) from None
        ids: dict[int, int] = {}
        for term in terms(query) + (terms(exclude) if exclude is not None else []):
            ids[id(term)] = index.add(word_rules(term, spec.fuzzy)).id
        compiled.append(compile_watchlist(spec, len(compiled), query, exclude, ids))
    index.build()
    return Matcher(compiled, index)


class ExampleSet(Protocol):
    """Texts a watchlist must and must not match (config's WatchlistExamples fits)."""

    @property
    def match(self) -> Sequence[str]: ...

    @property
    def no_match(self) -> Sequence[str]: ...


def run_examples(spec: WatchlistSpec, examples: ExampleSet) -> list[str]:
    """Run a watchlist's examples like tests: one message per failing example.

    Each example is an item whose text is the example (no title, language unknown);
    scope (languages, feeds, tags) is not applied, the query and ``exclude`` are.
    """
    matcher = compile_watchlists([spec])
    failures: list[str] = []
    for text in examples.match:
        result = matcher.explain(Document(title="", text=text), spec.name, scoped=False)
        if not result.matched:
            failures.append(f"should match but does not ({result.reason}): {text!r}")
    for text in examples.no_match:
        result = matcher.explain(Document(title="", text=text), spec.name, scoped=False)
        if result.matched:
            found = ", ".join(result.terms)
            failures.append(f"should not match but does (found {found}): {text!r}")
    return failures
