"""Which document words count as a watchlist word: endings, transliteration skeletons.

Two mechanisms, both rules over folded words (see monitor.core.text), no edit distance:

* **Endings** (``word_forms``): a term also matches its word plus an ending that the
  language attaches without a space: the Indonesian clitic "-nya" everywhere
  ("Starlinknya"), "-lah/-kah/-pun" (and "-ku/-mu" for common nouns) in Indonesian
  items or items of unknown language, and Russian/Ukrainian case endings in items
  written in Cyrillic (Пескова, Пескову, Песковым; Захаровой for Захарова; Зеленского
  for Зеленский; feminine forms such as Навальная are another person and left out).
  For a proper noun, a clitic that would double its last letter is left out ("Abdul"
  + "lah" is Abdullah, another name). English possessives need no rule: the
  apostrophe splits the word.
* **Skeletons** (``skeleton``): systematic transliteration differences are rewritten
  to one canonical spelling, so that variants share a key: y/j/i runs -> "i"
  (Kiriyenko, Kirienko, Kiriienko, Kirijenko, Kiryenko -> kirienko; -sky, -ski, -skiy,
  -skii -> ski), kh -> h, tz -> ts, x -> ks, initial tch -> ch, doubled letters ->
  single, ë as yo/io before v (or o after ch/sh/zh) -> e (Gorbachyov = Gorbachov =
  Gorbachev), -eyev -> -eev (Sergeyev = Sergeev), final -off/-eff -> -ov/-ev. Letters
  that make another word are never rewritten: Starling is not Starlink, Puting and
  putting are not Putin, Kirilenko is not Kiriyenko.

Skeletons are used for name-like terms only (``is_name``: written with a capital, at
least six letters, not an acronym). The matcher (monitor.core.term_index) also asks
that a document word matched only through an ending or a skeleton is capitalised
when the term is ("лавровым листом" is a bay leaf, not Lavrov). Pure functions; the
memos are bounded.
"""

from __future__ import annotations

import operator
import re
from functools import lru_cache

NAME_MIN_LENGTH = 6

ALWAYS_ENDINGS = ("", "nya")
INDONESIAN_ENDINGS = ("lah", "kah", "pun")
INDONESIAN_COMMON_ENDINGS = ("ku", "mu")  # possessive pronouns: common nouns only
# Case endings as anyascii writes them (ь and ъ are dropped by fold).
CYRILLIC_ENDINGS = (
    "a", "u", "e", "y", "i", "om", "em", "ym", "im", "oy", "ey", "ov", "ev", "am", "ami",
    "akh", "ykh", "ikh", "ya", "yu", "ye", "yem", "yam", "yami", "yakh", "oyu", "eyu",
    "ovi", "evi", "iv",
)  # fmt: skip
# After a final -a (Захарова -> Захаровой, Москва -> Москвы).
A_STEM_ENDINGS = (
    "a", "y", "i", "e", "u", "oy", "oi", "oyu", "oiu", "ey", "eyu", "ami", "am", "akh",
    "ya", "yu", "ye",
)  # fmt: skip
# After a final -iy/-y/-ii/-ey (Зеленский -> Зеленского, Дмитрий -> Дмитрия, Алексей ->
# Алексея). Feminine forms (Навальная, Зеленская) are left out: another person.
GLIDE_STEM_ENDINGS = (
    "i", "y", "iy", "yi", "ii", "yy", "ya", "yu", "ye", "yem", "yey", "em", "e", "ogo",
    "omu", "om", "im", "ym", "ikh", "ykh", "imi", "ymi", "ie", "ia", "iu", "iem", "ego",
    "emu",
)  # fmt: skip

_VOWELS = "aeiouy"
_GLIDES = str.maketrans({"y": "i", "j": "i"})
_DOUBLED = re.compile(r"([a-z])\1+")
# ё written io/ie/o before v: Gorbachyov, Solovyev, Khrushchov -> -ev. Only after the
# third letter, so that a short stem plus an ending is never rewritten (Bi + ov).
_YO = re.compile(r"(?<=[a-z]{2}[b-df-hj-np-tv-z])i[eo]v|(?<=[a-z][csz]h)ov")
_FINAL_GLIDE = re.compile(r"[iyj]+$")
_SKELETON_MEMO_LIMIT = 200_000  # document words remembered (then the memo starts afresh)


def _single(match: re.Match[str]) -> str:
    return match.group(1)


def _collapse(word: str) -> str:
    """Doubled letters made single (only searched for when two neighbours are equal)."""
    if any(map(operator.eq, word, word[1:])):
        return _DOUBLED.sub(_single, word)
    return word


def _skeleton(word: str) -> str:
    """The canonical spelling of one folded word under the transliteration rules."""
    if word.startswith("tch"):
        word = word[1:]
    word = word.replace("kh", "h").replace("tz", "ts").replace("x", "ks").translate(_GLIDES)
    if word.endswith(("off", "eff")):
        word = word[:-2] + "v"
    word = _collapse(word)
    if "eie" in word[3:]:  # Sergeyev -> sergeev -> (doubles) sergev
        word = _collapse(word[:3] + word[3:].replace("eie", "ee"))
    if "v" in word and ("iev" in word or "iov" in word or "hov" in word):
        word = _collapse(_YO.sub("ev", word))
    return word


@lru_cache(maxsize=65_536)
def skeleton(word: str) -> str:
    """``_skeleton``, memoised for query terms and their forms (``SKELETONS`` for items)."""
    return _skeleton(word)


class SkeletonMemo(dict[str, str]):
    """``skeleton`` for document words, memoised (``map(memo.__getitem__, words)``)."""

    def __missing__(self, word: str) -> str:
        if len(self) >= _SKELETON_MEMO_LIMIT:
            self.clear()
        value = self[word] = _skeleton(word)
        return value


SKELETONS = SkeletonMemo()


def is_name(original: str, folded: str) -> bool:
    """A term word written like a name: capitalised, letters only, not an acronym."""
    letters = original.strip()
    if len(folded) < NAME_MIN_LENGTH or not folded.isalpha() or not letters:
        return False
    return letters[0].isupper() and not letters.isupper()


def endings(*, cyrillic: bool, indonesian: bool, proper: bool) -> tuple[str, ...]:
    """The endings a word may carry in an item of this kind."""
    found: tuple[str, ...] = ALWAYS_ENDINGS
    if indonesian:
        found += INDONESIAN_ENDINGS if proper else INDONESIAN_ENDINGS + INDONESIAN_COMMON_ENDINGS
    if cyrillic:
        found += CYRILLIC_ENDINGS
    return found


@lru_cache(maxsize=65_536)
def word_forms(word: str, *, cyrillic: bool, indonesian: bool, proper: bool) -> frozenset[str]:
    """Folded words that count as ``word`` in an item of this kind (``word`` included)."""
    forms = {word + ending for ending in ALWAYS_ENDINGS}
    if indonesian:
        if proper:  # a clitic doubling the last letter makes another name: Abdul-lah
            forms.update(word + clitic for clitic in INDONESIAN_ENDINGS if clitic[0] != word[-1])
        else:
            forms.update(word + clitic for clitic in INDONESIAN_ENDINGS + INDONESIAN_COMMON_ENDINGS)
    if cyrillic:
        forms.update(word + ending for ending in CYRILLIC_ENDINGS)
        if len(skeleton(_stem(word))) >= 3:  # endings that replace a final vowel or glide
            if word.endswith("a"):
                forms.update(word[:-1] + ending for ending in A_STEM_ENDINGS)
            glide = _FINAL_GLIDE.search(word)
            if glide:
                forms.update(word[: glide.start()] + ending for ending in GLIDE_STEM_ENDINGS)
    return frozenset(forms)


def _stem(word: str) -> str:
    """``word`` without its final vowels and glides: what every inflected form keeps."""
    stem = word.rstrip(_VOWELS + "j")
    return stem[:-2] if stem.endswith("ff") else stem  # -off/-eff are -ov/-ev at the end


@lru_cache(maxsize=65_536)
def skeleton_forms(word: str, *, cyrillic: bool, indonesian: bool, proper: bool) -> frozenset[str]:
    """Skeletons of ``word_forms``: what a variant of ``word`` looks like after ``skeleton``."""
    forms = word_forms(word, cyrillic=cyrillic, indonesian=indonesian, proper=proper)
    return frozenset(skeleton(form) for form in forms)


@lru_cache(maxsize=65_536)
def anchor(word: str) -> str:
    """A prefix shared by the skeleton of every form of ``word`` (the index key).

    Final vowels and glides are left out because inflection replaces them
    (Захарова -> Захаровой); a word whose stem is shorter than three letters keeps its
    vowels, and ``word_forms`` gives it no ending that replaces them.
    """
    key = skeleton(_stem(word))
    if len(key) < 3:
        key = skeleton(word)
    # the skeleton rules can rewrite letters across the join of a word and its ending
    # (abaei + e): keep what the skeleton of every form, of every kind of item, starts with
    for form in skeleton_forms(word, cyrillic=True, indonesian=True, proper=False):
        while not form.startswith(key):
            key = key[:-1]
    return key


def prefix_anchor(prefix: str) -> str:
    """The index key for a wildcard prefix: the skeleton of the prefix without its final
    vowels and glides (which the letters after it may rewrite: ie+v, ei+e, y+a), less
    one more letter (k+h, t+z, doubled letters)."""
    stem = prefix.rstrip(_VOWELS + "j") or prefix[:1]
    return skeleton(stem)[:-1]


def pieces(word: str, edits: int) -> tuple[str, ...]:
    """``edits + 1`` disjoint pieces of ``skeleton(word)``: a word within ``edits`` edits
    keeps at least one of them intact (the pigeonhole filter for fuzzy terms)."""
    key = skeleton(word)
    count = edits + 1
    size, extra = divmod(len(key), count)
    cuts: list[str] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        cuts.append(key[start:end])
        start = end
    return tuple(piece for piece in cuts if piece)
