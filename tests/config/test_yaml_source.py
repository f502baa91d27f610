"""Safe YAML reading: core-schema scalars, forbidden tags, duplicate keys, lines, ${NAME}."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import yaml_source
from monitor.config.yaml_source import (
    MAX_NODES,
    expand_env,
    format_path,
    parse_yaml,
    read_yaml,
)


@pytest.fixture(autouse=True, params=["libyaml", "python"])
def composer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with libyaml's composer (when present) and PyYAML's pure one."""
    if request.param == "python":
        monkeypatch.setattr(yaml_source, "_LOADER", yaml_source._Composer)
    elif yaml_source._LOADER is yaml_source._Composer:
        pytest.skip("PyYAML without libyaml")
    return str(request.param)


def parse(text: str, environ: dict[str, str] | None = None):
    return parse_yaml(text, "f.yaml", environ or {})


def test_core_schema_keeps_words_and_clock_times_as_text() -> None:
    doc, problems = parse(
        "a: yes\nb: off\nc: no\nd: 22:00\ne: true\nf: 600\ng: 1.5\nh: ~\ni: 2024-01-02\n"
        "j: 0x1f\nk: 010\nl: False\n"
    )
    assert problems == []
    assert doc is not None
    assert doc.data == {
        "a": "yes",
        "b": "off",
        "c": "no",
        "d": "22:00",
        "e": True,
        "f": 600,
        "g": 1.5,
        "h": None,
        "i": "2024-01-02",
        "j": 31,
        "k": 10,
        "l": False,
    }


def test_lines_of_keys_and_items() -> None:
    doc, _ = parse("# comment\nfeeds:\n  - url: a\n    name: b\n\n  - url: c\n")
    assert doc is not None
    assert doc.lines[("feeds",)] == 2
    assert doc.lines[("feeds", 0)] == 3
    assert doc.lines[("feeds", 0, "name")] == 4
    assert doc.lines[("feeds", 1, "url")] == 6
    assert doc.line_of(("feeds", 1, "missing", "deeper")) == 6


def test_python_tags_are_never_constructed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = (
        f"a: !!python/object/apply:os.system ['touch {marker}']\n"
        "b: !!python/name:os.system\n"
        f"c: !!python/object/new:subprocess.Popen [['touch', '{marker}']]\n"
    )
    doc, problems = parse(text)
    assert not marker.exists()
    assert [(p.line, p.key) for p in problems] == [(1, "a"), (2, "b"), (3, "c")]
    assert all("is not allowed" in p.message for p in problems)
    assert "!!python/object/apply:os.system" in problems[0].message
    assert doc is not None and doc.data == {"a": None, "b": None, "c": None}


@pytest.mark.parametrize("text", ["a: !!binary aGk=\n", "a: !custom x\n", "a: !!set {x}\n"])
def test_other_tags_are_problems(text: str) -> None:
    _, problems = parse(text)
    assert len(problems) == 1
    assert problems[0].line == 1 and "not allowed" in problems[0].message


def test_duplicate_key_is_reported_with_both_lines_and_first_kept() -> None:
    doc, problems = parse("fetch:\n  per_host: 2\n  concurrency: 4\n  per_host: 9\n")
    assert [(p.line, p.key) for p in problems] == [(4, "fetch.per_host")]
    assert "first given at line 2" in problems[0].message
    assert doc is not None and doc.data == {"fetch": {"per_host": 2, "concurrency": 4}}


def test_merge_keys_work_and_own_keys_win_without_duplicate_error() -> None:
    text = "base: &b {interval: 10m, tags: [x]}\nfeed:\n  <<: *b\n  interval: 1h\n"
    doc, problems = parse(text)
    assert problems == []
    assert doc is not None
    assert doc.data["feed"] == {"interval": "1h", "tags": ["x"]}
    assert doc.lines[("feed", "interval")] == 4


def test_alias_bomb_and_self_reference_are_stopped() -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 8):
        levels.append(f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]")
    doc, problems = parse("\n".join(levels) + "\n")
    assert doc is None
    assert str(MAX_NODES) in problems[0].message
    doc, problems = parse("a: &a [*a]\n")
    assert doc is None and "nested" in problems[0].message


def test_invalid_syntax_reports_the_line() -> None:
    doc, problems = parse("feeds:\n  - url: a\n  name: [b\n")
    assert doc is None
    assert len(problems) == 1
    assert problems[0].line in (3, 4)
    assert problems[0].message.startswith("invalid YAML")


def test_top_level_must_be_a_mapping_and_empty_is_empty() -> None:
    assert parse("- a\n")[0] is None
    doc, problems = parse("# only a comment\n")
    assert problems == [] and doc is not None and doc.data == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://127.0.0.1:${PORT}/x", "http://127.0.0.1:9000/x"),
        ("${MISSING:-8089}", "8089"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${PORT:-1}", "9000"),
        ("cost $$5 and $HOME", "cost $5 and $HOME"),
        ("$${PORT}", "${PORT}"),
        ("${MISSING:-}", ""),
    ],
)
def test_env_expansion(text: str, expected: str) -> None:
    value, problems = expand_env(text, {"PORT": "9000", "EMPTY": ""})
    assert problems == []
    assert value == expected


def test_unset_variable_and_bad_reference_are_problems_with_lines() -> None:
    doc, problems = parse("a: ok\nb: http://x/${NOPE}\nc: ${not-a-name}\n", {})
    assert [(p.line, p.key) for p in problems] == [(2, "b"), (3, "c")]
    assert "NOPE is not set" in problems[0].message
    assert "bad reference" in problems[1].message
    assert doc is not None and doc.data["a"] == "ok"


def test_keys_are_not_expanded() -> None:
    doc, problems = parse("${KEY}: 1\n", {"KEY": "x"})
    assert problems == [] and doc is not None and doc.data == {"${KEY}": 1}


def test_read_yaml_problems(tmp_path: Path) -> None:
    assert read_yaml(tmp_path / "absent.yaml", {})[1][0].message == "file not found"
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: 1\nb: \xff\xfe\n")
    doc, problems = read_yaml(bad, {})
    assert doc is None and problems[0].line == 2 and "UTF-8" in problems[0].message


def test_format_path() -> None:
    assert format_path(("feeds", 3, "url")) == "feeds[3].url"
    assert format_path(("recipients", 0, "watchlists", 1)) == "recipients[0].watchlists[1]"
    assert format_path(()) == ""
