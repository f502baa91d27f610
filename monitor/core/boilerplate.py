"""Remove the boilerplate that article extractors leave in an article's main text.

trafilatura (and every other extractor) keeps lines that are not the article: "Baca Juga:"
and "Read more:" links to other stories, WhatsApp / Telegram channel promos, comment forms
("Tinggalkan Balasan", "Leave a Reply"), "Back To Top", share and subscribe prompts,
credit and copyright lines. ``strip_boilerplate`` removes them line by line and says
what it removed and why, so a surprising removal can be traced to one phrase.

The phrases are data, per language, in ``boilerplate.yaml`` next to this module (its
header documents the four match kinds and the ``max_words`` guard). Phrases are
literals: they are escaped before they become patterns, so no regular expression from
data or from users is ever compiled. Besides the phrases, two structural rules apply
to every language:

- ``no-text``: a line without a single letter or digit ("- ", "|", "»") goes;
- ``title``: one of the first two lines goes when it repeats the article title
  (the title is stored and matched separately).

(A rule dropping lines made only of URLs was measured and rejected: on the extraction
benchmark 24 of the 27 lines it removed were part of the gold article.)

Pure: no network, no clock, no database; the only file read is the packaged data file.
It must not guess the page language (the caller passes it, or all languages apply) and
must not touch HTML: it works on the extractor's plain text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from typing import Any, Literal, cast

import yaml

MatchKind = Literal["line", "prefix", "tail", "contains"]
MATCH_KINDS: tuple[MatchKind, ...] = ("line", "prefix", "tail", "contains")
ANY_LANGUAGE = "any"

_WORD = re.compile(r"\w+")
# One character for one character, so offsets found in the folded line are valid in the
# original: curly quotes, dashes, odd spaces and "ё" match their plain forms; "|" is a
# separator ("| Penulis | : ...").
_FOLD = str.maketrans(
    {
        **dict.fromkeys("‘’‚‛′`", "'"),
        **dict.fromkeys("“”„‟″«»", '"'),
        **dict.fromkeys("‐‑‒–—―−", "-"),
        **dict.fromkeys("\u00a0\u2002\u2003\u2009\u200a\u200b\u202f\u3000|", " "),
        "ё": "е",
        "Ё": "Е",
    }
)
# The end of a sentence inside a line (on folded text): a stop, closing quotes, spaces.
_SENTENCE_BREAK = re.compile(r"[.!?…][\"')\]]*\s+")
_ALNUM_RUN = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class Rule:
    """One phrase of one group, as read from the data file."""

    language: str
    group: str
    match: MatchKind
    phrase: str
    max_words: int

    @property
    def key(self) -> str:
        """Stable name of the rule in reports: ``language/group:phrase``."""
        return f"{self.language}/{self.group}:{self.phrase}"


@dataclass(frozen=True, slots=True)
class Removal:
    """Text that was removed and the rule that removed it (a ``Rule.key`` or a structural
    rule name: ``no-text``, ``title``)."""

    rule: str
    text: str


@dataclass(frozen=True, slots=True)
class Cleaned:
    """The article text without boilerplate, and what went."""

    text: str
    removed: tuple[Removal, ...] = ()


def _phrase_pattern(phrase: str) -> str:
    """An escaped pattern for a literal phrase; whitespace around punctuation may vary."""
    parts: list[str] = []
    for char in phrase:
        if char.isspace():
            if parts and parts[-1] != r"\s*":
                parts.append(r"\s*")
        elif char.isalnum() or char == "_":
            parts.append(re.escape(char))
        else:
            if not parts or parts[-1] != r"\s*":
                parts.append(r"\s*")
            parts.append(re.escape(char))
    pattern = "".join(parts)
    if phrase[-1:].isalnum():
        pattern += r"(?!\w)"
    return pattern


def _anchored(kind: MatchKind, phrase_pattern: str) -> str:
    """The pattern of one phrase; line, prefix and tail patterns are used with .match."""
    if kind == "line":
        return rf"[\W_]*{phrase_pattern}[\W_]*$"
    if kind in ("prefix", "tail"):
        return rf"[\W_]*{phrase_pattern}"
    return rf"(?<!\w){phrase_pattern}" if phrase_pattern[:1].isalnum() else phrase_pattern


class _Compiled:
    """The rules of one language selection, compiled per match kind."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.by_kind: dict[MatchKind, list[tuple[Rule, re.Pattern[str]]]] = {
            kind: [] for kind in MATCH_KINDS
        }
        for rule in rules:
            pattern = re.compile(_anchored(rule.match, _phrase_pattern(rule.phrase)), re.I)
            self.by_kind[rule.match].append((rule, pattern))
        # One anchored alternation per kind answers "could any rule match here?" at once.
        self.screen: dict[MatchKind, re.Pattern[str] | None] = {
            kind: re.compile("|".join(f"(?:{p.pattern})" for _, p in entries), re.I)
            if entries and kind != "contains"
            else None
            for kind, entries in self.by_kind.items()
        }
        # A "contains" phrase cannot match a line without its longest letter run: a
        # substring test on that key decides whether its pattern is searched at all.
        self.contains = [
            (rule, pattern, max(_ALNUM_RUN.findall(rule.phrase) or [rule.phrase], key=len))
            for rule, pattern in self.by_kind["contains"]
        ]

    def find(self, kind: MatchKind, text: str, pos: int = 0) -> tuple[Rule, re.Match[str]] | None:
        """The first rule of ``kind`` matching ``text`` (at ``pos`` unless "contains")."""
        if kind == "contains":
            lowered = text.lower()
            for rule, pattern, key in self.contains:
                found = pattern.search(text) if key in lowered else None
                if found:
                    return rule, found
            return None
        screen = self.screen[kind]
        if screen is None or not screen.match(text, pos):
            return None
        for rule, pattern in self.by_kind[kind]:
            found = pattern.match(text, pos)
            if found:
                return rule, found
        return None


class Rules:
    """An immutable set of boilerplate rules; ``for_languages`` compiles a selection once."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self._compiled: dict[frozenset[str] | None, _Compiled] = {}

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(rule.language for rule in self.rules) - {ANY_LANGUAGE}

    def for_languages(self, languages: Iterable[str] | None) -> _Compiled:
        # English UI phrases ("Back To Top", "Read more") appear on sites in every language.
        key = (
            None
            if languages is None
            else frozenset(_base_language(x) for x in languages) | {ENGLISH}
        )
        compiled = self._compiled.get(key)
        if compiled is None:
            chosen = (
                self.rules
                if key is None
                else [r for r in self.rules if r.language == ANY_LANGUAGE or r.language in key]
            )
            compiled = self._compiled[key] = _Compiled(chosen)
        return compiled


ENGLISH = "en"  # its rules always apply: English UI text is everywhere


def _base_language(tag: str) -> str:
    return tag.strip().lower().replace("_", "-").split("-")[0]


def parse_rules(data: Mapping[str, Any]) -> Rules:
    """Build rules from the data file's structure; raise ValueError naming the bad group."""
    groups = data.get("groups")
    if not isinstance(groups, list):
        raise ValueError("boilerplate rules: 'groups' must be a list")
    rules: list[Rule] = []
    allowed = {"id", "language", "match", "max_words", "why", "phrases"}
    for index, group in enumerate(groups):
        where = f"boilerplate rules: group {index + 1}"
        if not isinstance(group, Mapping):
            raise ValueError(f"{where}: must be a mapping")
        unknown = set(group) - allowed
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        missing = allowed - set(group)
        if missing:
            raise ValueError(f"{where}: missing keys {sorted(missing)}")
        match, phrases, max_words = group["match"], group["phrases"], group["max_words"]
        if match not in MATCH_KINDS:
            raise ValueError(f"{where}: match must be one of {', '.join(MATCH_KINDS)}")
        if not isinstance(max_words, int) or max_words < 1:
            raise ValueError(f"{where}: max_words must be a positive integer")
        if not isinstance(phrases, list) or not phrases:
            raise ValueError(f"{where}: phrases must be a non-empty list")
        for phrase in phrases:
            if not isinstance(phrase, str) or not phrase.strip():
                raise ValueError(f"{where}: every phrase must be a non-empty string")
            rules.append(
                Rule(
                    language=str(group["language"]).lower(),
                    group=str(group["id"]),
                    match=cast(MatchKind, match),
                    phrase=" ".join(phrase.translate(_FOLD).lower().split()),
                    max_words=max_words,
                )
            )
    return Rules(rules)


@lru_cache(maxsize=1)
def default_rules() -> Rules:
    """The rules shipped in ``monitor/core/boilerplate.yaml`` (loaded once)."""
    text = resources.files(__package__ or "monitor.core").joinpath("boilerplate.yaml")
    return parse_rules(yaml.safe_load(text.read_text(encoding="utf-8")))


def _words(text: str) -> int:
    return len(_WORD.findall(text))


def _tokens(text: str) -> list[str]:
    return [token.casefold() for token in _WORD.findall(text.translate(_FOLD))]


def _repeats_title(line: str, title_tokens: list[str]) -> bool:
    tokens = _tokens(line)
    if not tokens or not title_tokens:
        return False
    if tokens == title_tokens:
        return True
    # The page <title> often carries the outlet's name after the headline.
    return len(tokens) >= 4 and title_tokens[: len(tokens)] == tokens


def _clean_line(line: str, compiled: _Compiled, removed: list[Removal]) -> str:
    """The line without its boilerplate ("" when nothing of it is kept).

    Cutting a promo sentence can leave a line that is boilerplate as a whole, so the
    rules run again until nothing changes (each round removes text, so it ends).
    """
    while True:
        cleaned = _clean_once(line, compiled, removed)
        if cleaned == line or not cleaned:
            return cleaned
        line = cleaned


def _clean_once(line: str, compiled: _Compiled, removed: list[Removal]) -> str:
    folded = line.translate(_FOLD)
    for kind in ("line", "prefix"):
        hit = compiled.find(kind, folded)
        if hit and _words(line) <= hit[0].max_words:
            removed.append(Removal(hit[0].key, line.strip()))
            return ""
    starts = [0, *(found.end() for found in _SENTENCE_BREAK.finditer(folded))]
    for start in starts:
        hit = compiled.find("tail", folded, start)
        if hit and _words(line[start:]) <= hit[0].max_words:
            removed.append(Removal(hit[0].key, line[start:].strip()))
            line, folded = line[:start].rstrip(), folded[:start].rstrip()
            starts = [s for s in starts if s < start]
            break
    if compiled.contains and line:
        bounds = [*starts, len(line)]
        kept: list[str] = []
        for begin, end in pairwise(bounds):
            sentence = line[begin:end]
            hit = compiled.find("contains", folded[begin:end])
            if hit and _words(sentence) <= hit[0].max_words:
                removed.append(Removal(hit[0].key, sentence.strip()))
            else:
                kept.append(sentence)
        line = "".join(kept).strip()
    return line if _WORD.search(line) else ""


def strip_boilerplate(
    text: str,
    *,
    title: str | None = None,
    languages: Iterable[str] | None = None,
    rules: Rules | None = None,
) -> Cleaned:
    """Remove boilerplate lines and trailing promos from an extracted article text.

    ``languages``: ISO 639-1 codes (or tags such as "en-US") of the rule groups to use
    besides the language-independent and English ones; ``None`` uses every language (the page
    language is often unknown or mislabelled). ``title``: the article title, so that a
    first line repeating it is dropped. Lines are separated by newlines and kept in
    order; empty lines are dropped.
    """
    compiled = (rules or default_rules()).for_languages(languages)
    title_tokens = _tokens(title) if title else []
    removed: list[Removal] = []
    kept: list[str] = []
    seen = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        seen += 1
        if not _WORD.search(line):
            removed.append(Removal("no-text", line))
            continue
        if not kept and seen <= 2 and _repeats_title(line, title_tokens):
            removed.append(Removal("title", line))
            continue
        line = _clean_line(line, compiled, removed)
        if line:
            kept.append(line)
    return Cleaned("\n".join(kept), tuple(removed))


def remove_boilerplate(
    text: str, *, title: str | None = None, languages: Iterable[str] | None = None
) -> str:
    """``strip_boilerplate`` when only the text is wanted."""
    return strip_boilerplate(text, title=title, languages=languages).text
