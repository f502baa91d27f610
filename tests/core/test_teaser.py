"""is_teaser: short or visibly truncated feed texts are teasers; full posts are not."""

from __future__ import annotations

import pytest

from monitor.core.teaser import MAX_TEASER_WORDS, MIN_FULL_WORDS, content_words, is_teaser

SENTENCE = "The council approved the new budget after a long debate on Tuesday night. "


def words(n: int) -> str:
    """A text of exactly n words made of article-like sentences."""
    pool = (SENTENCE * (n // 13 + 1)).split()
    return " ".join(pool[:n]).rstrip(".") + "."


def test_helper_counts() -> None:
    assert content_words(words(120)) == 120


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "Banjir rob merendam pesisir Semarang sejak Senin malam.",
        words(MIN_FULL_WORDS - 1),
        words(150).rstrip(".") + " …",
        words(150).rstrip(".") + "...",
        words(150).rstrip(".") + " […]",
        words(150).rstrip(".") + " [...]",
        words(150) + " Read more »",
        words(150) + " Continue reading →",
        words(150) + " Baca selengkapnya",
        words(150) + " Читать далее",
        # A WordPress excerpt: 55 words, "[…]", then the feed footer.
        words(55).rstrip(".")
        + " […]\nThe post Council approves budget appeared first on The Harbour Times.",
    ],
)
def test_teasers(text: str) -> None:
    assert is_teaser(text)


@pytest.mark.parametrize(
    "text",
    [
        words(MIN_FULL_WORDS),
        words(400),
        # Long posts that end with an ellipsis are complete ("Stay tuned…").
        words(MAX_TEASER_WORDS) + " Stay tuned…",
        # The WordPress footer after a full post does not make it a teaser.
        words(500) + "\nThe post Council approves budget appeared first on The Harbour Times.",
    ],
)
def test_full_texts(text: str) -> None:
    assert not is_teaser(text)


def test_the_title_repeated_at_the_start_does_not_count() -> None:
    title = " ".join(["Headline"] * 30)
    text = f"{title} {words(MIN_FULL_WORDS - 10)}"
    assert content_words(text) >= MIN_FULL_WORDS
    assert not is_teaser(text)
    assert is_teaser(text, title)


def test_footer_alone_is_not_content() -> None:
    footer = "The post A very long title with many words in it appeared first on Some Site."
    assert content_words(footer) == 0
    assert is_teaser(footer)
