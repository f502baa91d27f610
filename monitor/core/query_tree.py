"""The syntax tree of a watchlist query: frozen nodes and the walks over them.

Built by monitor.core.query (the parser), compiled by monitor.core.compiled_query.
Terms hold their words already folded (monitor.core.text). Pure data, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Fuzzy = int | Literal["auto"] | None


@dataclass(frozen=True, slots=True)
class Term:
    """A word or a phrase: folded words in order, with how each may be matched."""

    text: str  # as written, for explanations
    words: tuple[str, ...]  # folded
    names: tuple[bool, ...]  # word written like a name (capitalised, >= 6 letters)
    capitals: tuple[bool, ...]  # word written with a capital first letter
    prefix: bool = False  # last word is a prefix (Starlink*)
    fuzzy: Fuzzy = None  # edits allowed: None = default, "auto" = by length, int = at most
    phrase: bool = False
    position: int = 0


@dataclass(frozen=True, slots=True)
class Scoped:
    """``title:`` or ``text:`` applied to a term or a group."""

    field: Literal["title", "text"]
    child: QueryNode


@dataclass(frozen=True, slots=True)
class Meta:
    """``source:`` (folded words of the feed/outlet name) or ``lang:`` (language code)."""

    field: Literal["source", "lang"]
    value: str


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[QueryNode, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[QueryNode, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: QueryNode


@dataclass(frozen=True, slots=True)
class Near:
    left: QueryNode
    right: QueryNode
    distance: int


QueryNode = Term | Scoped | Meta | And | Or | Not | Near


def positional(node: QueryNode) -> bool:
    """Nodes with word positions: what NEAR can measure between."""
    if isinstance(node, Term | Near):
        return True
    if isinstance(node, Or):
        return all(positional(child) for child in node.children)
    if isinstance(node, Scoped):
        return positional(node.child)
    return False


def has_meta(node: QueryNode) -> bool:
    if isinstance(node, Meta):
        return True
    if isinstance(node, And | Or):
        return any(has_meta(child) for child in node.children)
    if isinstance(node, Not | Scoped):
        return has_meta(node.child)
    return False


def has_positive(node: QueryNode) -> bool:
    """True when the query can only match because something is present (not NOT alone)."""
    if isinstance(node, Term | Meta | Near):
        return True
    if isinstance(node, Scoped):
        return has_positive(node.child)
    if isinstance(node, And):
        return any(has_positive(child) for child in node.children)
    if isinstance(node, Or):
        return all(has_positive(child) for child in node.children)
    return False


def terms(node: QueryNode) -> list[Term]:
    """Every term of the tree, left to right."""
    if isinstance(node, Term):
        return [node]
    if isinstance(node, And | Or):
        return [term for child in node.children for term in terms(child)]
    if isinstance(node, Not | Scoped):
        return terms(node.child)
    if isinstance(node, Near):
        return terms(node.left) + terms(node.right)
    return []
