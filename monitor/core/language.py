"""Language of an item: tidy declared language tags and detect the language of a text.

`language_tag` turns a declared tag ("en-US", "ru_RU", " ID ") into its lower-case
primary subtag ("en", "ru", "id"), the form watchlists filter on. `detect_language`
guesses the language of a text with py3langid's naive Bayes model, only when the text
has enough letters to be judged and the model is confident; otherwise it says None.

The model is loaded once, lazily, on the first detection (about half a second). Pure:
the model ships inside the py3langid package; nothing is fetched, no clock is read.
"""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from typing import Any

from monitor.core.models import Entry

MIN_LETTERS = 24  # fewer letters than this: no guess (titles alone are often too short)
MIN_CONFIDENCE = 0.5  # normalised probability of the best language
MAX_CHARS = 1_000  # enough to judge; the model's cost grows with the text

_PRIMARY_RE = re.compile(r"[a-z]{2,3}")
_identifier: Any = None
_lock = threading.Lock()


def language_tag(tag: object) -> str | None:
    """A declared language tag -> its primary subtag, lower-case; None if not a language."""
    if not isinstance(tag, str):
        return None
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    if _PRIMARY_RE.fullmatch(primary) is None:
        return None
    return primary


def _model() -> Any:
    """The py3langid identifier with normalised probabilities, loaded once."""
    global _identifier
    if _identifier is None:
        with _lock:
            if _identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _identifier


def detect_language(text: str) -> str | None:
    """The language of `text` as an ISO 639 code, or None when too short or unsure."""
    sample = text[:MAX_CHARS]
    if sum(1 for char in sample if char.isalpha()) < MIN_LETTERS:
        return None
    language, confidence = _model().classify(sample)
    if confidence < MIN_CONFIDENCE:
        return None
    return language_tag(language)


def with_language(entry: Entry) -> Entry:
    """The entry with its language detected from title + text when it declares none."""
    if entry.language:
        return entry
    detected = detect_language(f"{entry.title}\n{entry.text}")
    return replace(entry, language=detected) if detected else entry
