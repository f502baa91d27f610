"""HTML fragment -> plain text: examples, hostile input, and never-crash properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.html_text import clean_line, clean_text, html_to_text, strip_control

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("", ""),
        ("   \n\t ", ""),
        ("plain words", "plain words"),
        ("AT&amp;T &lt;3 caf&eacute;", "AT&T <3 café"),
        ("5 < 6 & 7 > 3", "5 < 6 & 7 > 3"),
        ("<p>One</p><p>Two</p>", "One\nTwo"),
        ("<p>soft\nwrapped   source\tline</p>", "soft wrapped source line"),
        ("a<br>b<br/>c", "a\nb\nc"),
        ("<ul><li>x</li><li>y</li></ul>tail", "x\ny\ntail"),
        ("<b>bold</b> and <i>italic</i>", "bold and italic"),
        ("<p>keep</p><script>var s = '<p>no</p>';</script><style>p{}</style>", "keep"),
        ("<noscript>hidden</noscript><template>t</template>shown", "shown"),
        ("<!-- comment -->text<?php echo 1 ?>", "text"),
        ("<html><head><title>T</title></head><body><h1>H</h1>b</body></html>", "H\nb"),
        ("<svg><text>drawing</text></svg>after", "after"),
        ("&#0;&#1;x&#x7f;", "\ufffdx"),
        ("unclosed <b>bold <i>and italic", "unclosed bold and italic"),
        ("<", "<"),
        ("<?xml version='1.0' encoding='latin-1'?><p>x</p>", "x"),
        ("\u00a0non\u2003breaking\u00a0", "non breaking"),
    ],
)
def test_html_to_text_examples(markup: str, expected: str) -> None:
    assert html_to_text(markup) == expected


def test_control_characters_and_surrogates_are_removed() -> None:
    assert html_to_text("a\x00b\x01c\x1bd\x7fe\x85f\ud800g\ufeffh") == "abcdefgh"
    assert strip_control("x\x00\ufffey") == "xy"


def test_clean_text_keeps_lines_and_clean_line_joins_them() -> None:
    assert clean_text("one\r\n\r\n  two \t three\n\x00") == "one\ntwo three"
    assert clean_line(" one\n two\x07 ") == "one two"


def test_deep_nesting_keeps_the_text() -> None:
    depth = 5000  # beyond libxml2's depth limit: the fallback must keep the words
    markup = "start " + "<div>" * depth + "deep" + "</div>" * depth + " end"
    assert html_to_text(markup).split() == ["start", "deep", "end"]


def test_huge_input_is_bounded_and_fast() -> None:
    markup = "<p>" + "word " * 1_200_000 + "</p>"
    text = html_to_text(markup)
    assert text.startswith("word word")
    assert len(text) <= 4_000_000


def test_binary_junk_does_not_crash() -> None:
    junk = bytes(range(256)) * 50
    for text in (junk.decode("latin-1"), junk.decode("utf-8", "replace")):
        assert not CONTROL.search(html_to_text(text))


# --- properties ---------------------------------------------------------------------------

TAGS = ["p", "div", "b", "i", "a", "span", "li", "ul", "br", "table", "td", "tr", "h1", "em"]
_token = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters="<"), max_size=20),
    st.sampled_from(TAGS).map(lambda t: f"<{t}>"),
    st.sampled_from(TAGS).map(lambda t: f"</{t}>"),
    st.sampled_from(["&amp;", "&lt;", "&#65;", "&nbsp;", "&bogus;", "&#0;", "&#x1F600;"]),
    st.sampled_from(['<a href="x">', "<img src=y>", "<!-- c -->", "<br/>", "</"]),
)
html_fragments = st.lists(_token, max_size=30).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_never_crashes_and_has_no_control_chars(text: str) -> None:
    result = html_to_text(text)
    assert isinstance(result, str)
    assert not CONTROL.search(result)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_never_crash(data: bytes) -> None:
    for text in (data.decode("latin-1"), data.decode("utf-8", "replace")):
        assert not CONTROL.search(html_to_text(text))


@settings(max_examples=300, deadline=None)
@given(html_fragments, html_fragments, st.sampled_from(["script", "style", "SCRIPT"]))
def test_script_and_style_content_never_reaches_the_text(before: str, after: str, tag: str) -> None:
    markup = f"{before}<{tag} type='text/javascript'>stealCookiesNow()</{tag}>{after}"
    result = html_to_text(markup)
    assert "stealCookiesNow" not in result
    assert not CONTROL.search(result)
    assert "\n\n" not in result
    assert result == result.strip()
