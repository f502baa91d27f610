"""Every kind of configuration problem points at the right file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import check_config
from monitor.errors import ConfigProblem
from tests.config.conftest import MINIMAL_FEEDS, ConfigDir


def where(problems: list[ConfigProblem]) -> list[tuple[str, int | None, str]]:
    return [(Path(p.file).name, p.line, p.key) for p in problems]


def only(problems: list[ConfigProblem]) -> ConfigProblem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def test_invalid_yaml(config_dir: ConfigDir) -> None:
    problem = only(check_config(config_dir(feeds="feeds:\n  - url: [x\n  - name: y\n"), environ={}))
    assert (Path(problem.file).name, problem.line) == ("feeds.yaml", 3)
    assert problem.message.startswith("invalid YAML")
    assert str(problem).startswith(problem.file + ":3: invalid YAML")


def test_unknown_key_with_did_you_mean(config_dir: ConfigDir) -> None:
    problem = only(check_config(config_dir(monitor="fetch:\n  per_hots: 3\n"), environ={}))
    assert where([problem]) == [("monitor.yaml", 2, "fetch.per_hots")]
    assert problem.message == "unknown key 'per_hots' (did you mean 'per_host'?)"


def test_unknown_key_far_from_any_lists_the_allowed_keys(config_dir: ConfigDir) -> None:
    text = "recipients:\n  - name: a\n    channel: telegram\n    chat_id: 1\n    email: a@b.org\n"
    problems = check_config(config_dir(monitor=text), environ={})
    problem = next(p for p in problems if p.key == "recipients[0].email")
    assert problem.line == 5
    assert "allowed here: name, watchlists, timezone, mode, quiet_hours, channel, chat_id" in (
        problem.message
    )


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/rss",
        "example.org/rss",
        "javascript:alert(1)",
        "http://",
        "http://a:99999/",
    ],
)
def test_bad_feed_url(config_dir: ConfigDir, url: str) -> None:
    feeds = (
        f"feeds:\n  - name: ok\n    url: https://ok.example.org/\n  - name: bad\n    url: '{url}'\n"
    )
    problem = only(check_config(config_dir(feeds=feeds), environ={}))
    assert where([problem]) == [("feeds.yaml", 5, "feeds[1].url")]
    assert "URL" in problem.message


def test_credentials_in_a_feed_url_are_refused_without_echo(config_dir: ConfigDir) -> None:
    feeds = "feeds:\n  - url: https://user:hunter2@example.org/rss\n"
    problem = only(check_config(config_dir(feeds=feeds), environ={}))
    assert problem.key == "feeds[0].url" and "hunter2" not in str(problem)


def test_duplicate_key(config_dir: ConfigDir) -> None:
    text = "watchlists:\n  - name: A\n    terms: [a]\n    name: B\n"
    problem = only(check_config(config_dir(watchlists=text), environ={}))
    assert where([problem]) == [("watchlists.yaml", 4, "watchlists[0].name")]
    assert "duplicate key" in problem.message and "line 2" in problem.message


@pytest.mark.parametrize(
    ("text", "key", "line", "suggest"),
    [
        (
            "channels:\n  telegram:\n    token: '123:SECRETVALUE'\n",
            "channels.telegram.token",
            3,
            "token_env",
        ),
        (
            "channels:\n  email:\n    host: h\n    from: a@b.org\n    password: SECRETVALUE\n",
            "channels.email.password",
            5,
            "password_env",
        ),
        ("api_key: SECRETVALUE\n", "api_key", 1, "api_key_env"),
        (
            "channels:\n  webhook:\n    secret: SECRETVALUE\n",
            "channels.webhook.secret",
            3,
            "secret_env",
        ),
    ],
)
def test_secret_in_yaml(
    config_dir: ConfigDir, text: str, key: str, line: int, suggest: str
) -> None:
    problem = only(check_config(config_dir(monitor=text), environ={}))
    assert where([problem]) == [("monitor.yaml", line, key)]
    assert f"{suggest}: NAME" in problem.message
    assert "SECRETVALUE" not in str(problem)


def test_a_secret_pasted_into_token_env_is_not_echoed(config_dir: ConfigDir) -> None:
    text = "channels:\n  telegram:\n    token_env: '123456:AAH-SECRETVALUE'\n"
    problem = only(check_config(config_dir(monitor=text), environ={}))
    assert where([problem]) == [("monitor.yaml", 3, "channels.telegram.token_env")]
    assert "never the secret itself" in problem.message
    assert "SECRETVALUE" not in str(problem)


def test_password_in_database_url_is_refused_without_echo(config_dir: ConfigDir) -> None:
    text = "database_url: postgresql://monitor:SECRETVALUE@localhost/monitor\n"
    problem = only(check_config(config_dir(monitor=text), environ={}))
    assert where([problem]) == [("monitor.yaml", 1, "database_url")]
    assert "database_password_env" in problem.message and "SECRETVALUE" not in str(problem)


def test_unknown_watchlist_name_in_a_recipient(config_dir: ConfigDir) -> None:
    text = (
        "recipients:\n  - name: demo\n    channel: console\n    watchlists: [Starlink, Starlnk]\n"
    )
    problem = only(check_config(config_dir(monitor=text), environ={}))
    assert where([problem]) == [("monitor.yaml", 4, "recipients[0].watchlists[1]")]
    assert problem.message == (
        "no watchlist named 'Starlnk' in watchlists.yaml (did you mean 'Starlink'?)"
    )


def test_watchlist_names_listed_one_per_line(config_dir: ConfigDir) -> None:
    text = (
        "recipients:\n  - name: demo\n    channel: console\n"
        "    watchlists:\n      - Starlink\n      - Nope\n"
    )
    problem = only(check_config(config_dir(monitor=text), environ={}))
    assert (problem.line, problem.key) == (6, "recipients[0].watchlists[1]")


def test_bad_timezone(config_dir: ConfigDir) -> None:
    text = (
        "timezone: UTC\nrecipients:\n  - name: d\n    channel: console\n    timezone: Asia/Jakata\n"
    )
    problem = only(check_config(config_dir(monitor=text), environ={}))
    assert where([problem]) == [("monitor.yaml", 5, "recipients[0].timezone")]
    assert "Asia/Jakarta" in problem.message  # the hint


@pytest.mark.parametrize("value", ["10 minutes", "0", "-5", "1w", "true", "1.5", "m10"])
def test_bad_duration(config_dir: ConfigDir, value: str) -> None:
    problem = only(
        check_config(config_dir(monitor=f"clustering:\n  window: {value}\n"), environ={})
    )
    assert where([problem]) == [("monitor.yaml", 2, "clustering.window")]
    assert "90s, 10m, 1h" in problem.message


@pytest.mark.parametrize(
    ("value", "seconds"), [("90s", 90), ("10m", 600), ("1h30m", 5400), ("2d", 172800), ("45", 45)]
)
def test_good_durations(config_dir: ConfigDir, value: str, seconds: int) -> None:
    from monitor.config import load_config

    config = load_config(config_dir(monitor=f"clustering:\n  window: {value}\n"), environ={})
    assert config.monitor.clustering.window == seconds


@pytest.mark.parametrize("mode", ["weekly", "daily", "daily 25:00", "daily 8am", "hourly 10:00"])
def test_bad_mode(config_dir: ConfigDir, mode: str) -> None:
    text = f"recipients:\n  - name: d\n    channel: console\n    mode: {mode}\n"
    problem = only(check_config(config_dir(monitor=text), environ={}))
    assert where([problem]) == [("monitor.yaml", 4, "recipients[0].mode")]


@pytest.mark.parametrize("hours", ["22-07", "22:00-22:00", "22:00", "24:00-07:00"])
def test_bad_quiet_hours(config_dir: ConfigDir, hours: str) -> None:
    text = f"recipients:\n  - name: d\n    channel: console\n    quiet_hours: '{hours}'\n"
    problem = only(check_config(config_dir(monitor=text), environ={}))
    assert where([problem]) == [("monitor.yaml", 4, "recipients[0].quiet_hours")]


@pytest.mark.parametrize(
    "address",
    ['"a@b.org\\r\\nBcc: evil@x.org"', '"a@b.org\\n"', "not-an-address", "a@b", '"a b@c.org"'],
)
def test_bad_email_address_including_header_injection(config_dir: ConfigDir, address: str) -> None:
    text = (
        "channels:\n  email:\n    host: h\n    from: m@example.org\n"
        f"recipients:\n  - name: e\n    channel: email\n    email: {address}\n"
    )
    problem = only(check_config(config_dir(monitor=text), environ={}))
    assert where([problem]) == [("monitor.yaml", 8, "recipients[0].email")]


def test_sender_with_line_break_is_refused(config_dir: ConfigDir) -> None:
    text = 'channels:\n  email:\n    host: h\n    from: "Bot\\r\\nBcc: x@y.org <m@example.org>"\n'
    problem = only(check_config(config_dir(monitor=text), environ={}))
    assert where([problem]) == [("monitor.yaml", 4, "channels.email.from")]


def test_recipient_needs_the_address_of_its_channel(config_dir: ConfigDir) -> None:
    text = (
        "channels:\n  telegram: {}\n"
        "recipients:\n"
        "  - name: t\n    channel: telegram\n"  # no chat_id
        "  - name: w\n    channel: sms\n"
        "  - name: x\n"  # no channel
    )
    problems = check_config(config_dir(monitor=text), environ={})
    assert [(p.line, p.key, p.message) for p in problems] == [
        (4, "recipients[0].chat_id", "required key missing"),
        (
            7,
            "recipients[1].channel",
            "unknown channel; expected one of 'console', 'telegram', 'email', 'webhook'",
        ),
        (
            8,
            "recipients[2].channel",
            "required key missing (the channel: console, telegram, email or webhook)",
        ),
    ]


def test_recipient_channel_must_be_configured(config_dir: ConfigDir) -> None:
    text = (
        "channels:\n  console:\n    enabled: false\n"
        "recipients:\n"
        "  - name: c\n    channel: console\n"
        "  - name: t\n    channel: telegram\n    chat_id: 5\n"
        "  - name: w\n    channel: webhook\n"
        "admins:\n  email: [ops@example.org]\n"
    )
    problems = check_config(config_dir(monitor=text), environ={})
    assert [(p.line, p.key) for p in problems] == [
        (6, "recipients[0].channel"),
        (8, "recipients[1].channel"),
        (10, "recipients[2]"),  # no url anywhere
        (11, "recipients[2].channel"),
        (13, "admins.email"),
    ]


def test_duplicate_recipients(config_dir: ConfigDir) -> None:
    text = (
        "channels:\n  telegram: {}\n"
        "recipients:\n"
        "  - {name: a, channel: telegram, chat_id: 7}\n"
        "  - {name: a, channel: console}\n"
        "  - {name: c, channel: telegram, chat_id: '7'}\n"
    )
    problems = check_config(config_dir(monitor=text), environ={})
    assert [(p.line, p.key) for p in problems] == [(5, "recipients[1].name"), (6, "recipients[2]")]
    assert "recipients[0] (line 4)" in problems[1].message


def test_duplicate_feeds_by_url_identity_and_by_name(config_dir: ConfigDir) -> None:
    feeds = """\
    feeds:
      - url: https://news.example.org/rss
      - url: HTTP://News.Example.org:80/rss#top
      - url: https://news.example.org/atom
      - url: https://other.example.org/rss
        name: news.example.org
    """
    problems = check_config(config_dir(feeds=feeds, watchlists="watchlists: []\n"), environ={})
    assert [(p.line, p.key) for p in problems] == [
        (3, "feeds[1].url"),
        (4, "feeds[2]"),
        (6, "feeds[3].name"),
    ]
    assert "the same feed as feeds[0] (line 2)" in problems[0].message
    assert "host name" in problems[1].message


def test_feed_interval_outside_fetch_bounds(config_dir: ConfigDir) -> None:
    feeds = (
        "defaults:\n  interval: 10s\nfeeds:\n  - url: https://a.example.org/\n"
        "  - url: https://b.example.org/\n    interval: 2d\n"
    )
    problems = check_config(config_dir(feeds=feeds, watchlists=""), environ={})
    assert [(p.line, p.key) for p in problems] == [
        (2, "defaults.interval"),
        (6, "feeds[1].interval"),
    ]
    assert "60s..86400s" in problems[0].message


def test_fetch_interval_order(config_dir: ConfigDir) -> None:
    problem = only(check_config(config_dir(monitor="fetch:\n  min_interval: 1h\n"), environ={}))
    assert (problem.line, problem.key) == (1, "fetch")
    assert "min_interval <= default_interval" in problem.message


def test_watchlist_problems(config_dir: ConfigDir) -> None:
    watchlists = """\
    watchlists:
      - name: A
        terms: [a]
        query: a
      - name: B
      - name: A
        query: x
      - name: C
        query: c
        feeds: [News, https://news.example.org/rss, Nope]
        tags: [en, fr]
        fuzzy: 9
        languages: [english]
    """
    problems = check_config(config_dir(watchlists=watchlists), environ={})
    assert [(p.line, p.key) for p in problems] == [
        (2, "watchlists[0]"),
        (5, "watchlists[1]"),
        (12, "watchlists[3].fuzzy"),
        (13, "watchlists[3].languages[0]"),
    ]
    assert problems[0].message == "give exactly one of query: or terms:"
    # fixed, the references between files are checked
    watchlists = (
        watchlists.replace("        terms: [a]\n", "")
        .replace("      - name: B\n", "")
        .replace("fuzzy: 9", "fuzzy: 2")
        .replace("[english]", "[en]")
    )
    problems = check_config(config_dir(watchlists=watchlists), environ={})
    assert [(p.line, p.key, p.message) for p in problems] == [
        (4, "watchlists[1].name", "duplicate watchlist name (first at line 2)"),
        (8, "watchlists[2].feeds[2]", "no feed named 'Nope' in feeds.yaml"),
        (9, "watchlists[2].tags[1]", "no feed in feeds.yaml has the tag 'fr'"),
    ]


def test_unset_environment_variable(config_dir: ConfigDir) -> None:
    feeds = "feeds:\n  - name: demo\n    url: http://127.0.0.1:${DEMO_PORT_UNSET}/rss\n"
    problem = only(check_config(config_dir(feeds=feeds), environ={}))
    assert where([problem]) == [("feeds.yaml", 3, "feeds[0].url")]
    assert "DEMO_PORT_UNSET is not set" in problem.message


def test_several_problems_in_several_files_are_all_reported(config_dir: ConfigDir) -> None:
    directory = config_dir(
        monitor="timezone: Nowhere/City\nfetch:\n  default_interval: soon\nlog_levle: INFO\n",
        feeds=MINIMAL_FEEDS + "  - url: gopher://old.example.org/\n    full_text: sometimes\n",
        watchlists="watchlists:\n  - name: A\n    terms: [a]\n    name: again\n    priorty: high\n",
    )
    problems = check_config(directory, environ={})
    assert where(problems) == [
        ("monitor.yaml", 1, "timezone"),
        ("monitor.yaml", 3, "fetch.default_interval"),
        ("monitor.yaml", 4, "log_levle"),
        ("feeds.yaml", 5, "feeds[1].url"),
        ("feeds.yaml", 6, "feeds[1].full_text"),
        ("watchlists.yaml", 4, "watchlists[0].name"),
        ("watchlists.yaml", 5, "watchlists[0].priorty"),
    ]


def test_python_tag_in_config_is_a_problem(config_dir: ConfigDir, tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    text = f"log_level: !!python/object/apply:os.system ['touch {marker}']\n"
    problem = only(check_config(config_dir(monitor=text), environ={}))
    assert where([problem]) == [("monitor.yaml", 1, "log_level")]
    assert not marker.exists()


_TOKENS = [*" :-[]{}\n#&*!|>'\"$@,?~", "a", "1", "url", "name", "${X}", "\n  - "]
_YAMLISH = st.lists(st.sampled_from(_TOKENS), max_size=60).map("".join)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(monitor=_YAMLISH, feeds=_YAMLISH)
def test_check_never_raises_and_lines_exist(
    config_dir: ConfigDir, monitor: str, feeds: str
) -> None:
    directory = config_dir(monitor=monitor, feeds=feeds)
    for problem in check_config(directory, environ={}):
        text = Path(problem.file).read_text(encoding="utf-8")
        assert problem.line is None or 1 <= problem.line <= text.count("\n") + 1
        assert problem.message
