"""Loading valid configurations: the example, every channel, defaults and the seams."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from monitor.config import (
    Config,
    check_config,
    config_directory,
    default_database_url,
    load_config,
    terms_query,
)
from monitor.core.models import Feed, Recipient, WatchlistSpec
from monitor.errors import ConfigError
from tests.config.conftest import EXAMPLE_CONFIG, FULL_CONFIG, ConfigDir

DEMO = "http://127.0.0.1:8089/feeds/"


def test_example_config_loads_with_demo_defaults() -> None:
    config = load_config(EXAMPLE_CONFIG, environ={})
    assert [f.url for f in config.feeds] == [
        DEMO + "warta.xml",
        DEMO + "kabar.xml",
        DEMO + "globe.xml",
        DEMO + "ledger.xml",
    ]
    assert [f.language for f in config.feeds] == ["id", "id", "en", "en"]
    assert all(f.interval_s == 600 and f.backfill == 0 for f in config.feeds)
    assert [w.name for w in config.watchlists] == [
        "Starlink",
        "Kiriyenko",
        "Musk and Putin",
        "Peskov",
    ]
    by_name = {w.name: w for w in config.watchlists}
    assert by_name["Kiriyenko"].query == '"Kiriyenko" OR "Kirienko" OR "Кириенко"'
    assert by_name["Musk and Putin"].query == "Musk AND Putin"
    assert all(len(config.examples[w.name].match) >= 1 for w in config.watchlists)
    assert all(len(config.examples[w.name].no_match) >= 1 for w in config.watchlists)
    assert config.recipients == (
        Recipient(key="console:demo", channel="console", address="demo", timezone="Asia/Jakarta"),
    )
    assert config.monitor.fetch.allow_private_networks is True
    assert config.monitor.channels.console.enabled
    assert config.monitor.channels.telegram is None
    assert config.database_url == "sqlite:///state/monitor.db"
    assert config.monitor.clustering.window == 72 * 3600


def test_example_config_follows_the_demo_port() -> None:
    config = load_config(EXAMPLE_CONFIG, environ={"MONITOR_DEMO_PORT": "18089"})
    assert config.feeds[0].url == "http://127.0.0.1:18089/feeds/warta.xml"


def test_full_config_builds_every_recipient_kind() -> None:
    config = load_config(FULL_CONFIG, environ={})
    keys = [r.key for r in config.recipients]
    assert keys == [
        "telegram:-1001234567890",
        "telegram:@monitor_news",
        "email:editor@example.org",
        "email:digest@example.org",
        "webhook:archive",
        "webhook:partner",
    ]
    newsroom, _, editor, digest, archive, partner = config.recipients
    assert newsroom.watchlists == ("Kiriyenko", "Energy")
    assert newsroom.quiet_hours == ("22:00", "07:00")
    assert newsroom.timezone == "Europe/Moscow"  # the top-level default
    assert (editor.mode, editor.daily_at, editor.timezone) == ("daily", "08:30", "Asia/Jakarta")
    assert (digest.mode, digest.daily_at) == ("hourly", None)
    assert archive.address == "https://hooks.example.org/default"
    assert partner.address == "https://partner.example.net/hook?source=monitor"
    email = config.monitor.channels.email
    assert email is not None
    assert (email.smtp_port, email.use_starttls, email.sender) == (
        2525,
        False,
        "Monitor Alerts <alerts@example.org>",
    )
    assert config.monitor.admins.telegram == (424242,)
    fetch = config.monitor.fetch
    assert (fetch.max_bytes, fetch.min_interval, fetch.max_interval) == (2 * 1024 * 1024, 90, 43200)
    assert config.monitor.clustering.window == 2 * 86400
    assert config.database_url == "postgresql+psycopg://monitor@127.0.0.1:5432/monitor"


def test_full_config_feeds_apply_defaults() -> None:
    wire, daily, energy = load_config(FULL_CONFIG, environ={}).feeds
    assert wire == Feed(
        url="https://wire.example.org/rss",
        name="wire.example.org",
        tags=("news", "wire"),
        interval_s=1800,
        backfill=3,
        full_text="never",
    )
    assert (daily.interval_s, daily.backfill, daily.full_text, daily.language) == (
        300,
        None,
        "always",
        "id",
    )
    assert (energy.backfill, energy.tags) == (0, ("news", "energy", "wire"))


def test_full_config_watchlists() -> None:
    config = load_config(FULL_CONFIG, environ={})
    kiriyenko, energy = config.watchlists
    assert kiriyenko == WatchlistSpec(
        name="Kiriyenko",
        query='"Kiriyenko" OR "Кириенко" OR "The \\"Kiriyenko\\" file"',
        exclude='"Kirilenko"',
        languages=("en", "ru"),
        priority="high",
        fuzzy="off",
    )
    assert energy.exclude == "title:advert"
    assert energy.feeds == ("Energy Wire", "https://daily.example.id/feed")
    assert energy.fuzzy == 1
    assert config.examples["Energy"].no_match == ("Gazprom sport club wins",)


def test_terms_query_escapes_quotes_and_backslashes() -> None:
    assert terms_query(("a b",)) == '"a b"'
    assert terms_query(('say "hi"', "back\\slash")) == '"say \\"hi\\"" OR "back\\\\slash"'


def test_config_is_frozen_and_points_at_its_files() -> None:
    config = load_config(EXAMPLE_CONFIG, environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.database_url = "x"  # type: ignore[misc]
    with pytest.raises(Exception, match="frozen"):
        config.monitor.timezone = "UTC"  # type: ignore[misc]
    assert config.watchlists_file == EXAMPLE_CONFIG / "watchlists.yaml"
    problem = config.problem(
        "watchlists.yaml", (*config.watchlist_path("Peskov"), "examples"), "did not match"
    )
    text = config.watchlists_file.read_text(encoding="utf-8").splitlines()
    assert problem.line is not None and text[problem.line - 1].strip() == "examples:"
    assert problem.key == "watchlists[3].examples"


def test_database_url_defaults_to_the_systemd_state_directory() -> None:
    assert default_database_url({}) == "sqlite:///state/monitor.db"
    assert (
        default_database_url({"STATE_DIRECTORY": "/var/lib/monitor"})
        == "sqlite:////var/lib/monitor/monitor.db"
    )
    assert (
        default_database_url({"STATE_DIRECTORY": "/var/lib/monitor:/var/lib/other"})
        == "sqlite:////var/lib/monitor/monitor.db"
    )
    config = load_config(EXAMPLE_CONFIG, environ={"STATE_DIRECTORY": "/srv/state"})
    assert config.database_url == "sqlite:////srv/state/monitor.db"


def test_loading_creates_no_state_directory(config_dir: ConfigDir, tmp_path: Path) -> None:
    state = tmp_path / "state-here"
    load_config(config_dir(), environ={"STATE_DIRECTORY": str(state)})
    assert not state.exists()


def test_config_directory_precedence() -> None:
    assert config_directory("/etc/x", {"MONITOR_CONFIG": "/etc/y"}) == Path("/etc/x")
    assert config_directory(None, {"MONITOR_CONFIG": "/etc/y"}) == Path("/etc/y")
    assert config_directory(None, {}) == Path("config")


def test_query_validator_seam_reports_query_terms_and_exclude(config_dir: ConfigDir) -> None:
    directory = config_dir(
        watchlists="""\
        watchlists:
          - name: Good
            query: fine
          - name: Bad
            query: Musk AND (
          - name: Terms
            terms: [x]
            exclude: BROKEN(
        """
    )
    seen: list[str] = []

    def validator(query: str) -> str | None:
        seen.append(query)
        return "unbalanced parenthesis" if "(" in query else None

    problems = check_config(directory, query_validator=validator, environ={})
    assert seen == ["fine", "Musk AND (", '"x"', "BROKEN("]
    assert [(Path(p.file).name, p.line, p.key, p.message) for p in problems] == [
        ("watchlists.yaml", 5, "watchlists[1].query", "unbalanced parenthesis"),
        ("watchlists.yaml", 8, "watchlists[2].exclude", "unbalanced parenthesis"),
    ]


def test_a_crashing_query_validator_is_a_problem_not_a_crash(config_dir: ConfigDir) -> None:
    def validator(query: str) -> str | None:
        raise RuntimeError("engine bug")

    problems = check_config(config_dir(), query_validator=validator, environ={})
    assert len(problems) == 1 and "engine bug" in problems[0].message


def test_load_raises_with_every_problem_and_check_returns_them(config_dir: ConfigDir) -> None:
    directory = config_dir(monitor="timezone: Mars/Base\nlog_level: LOUD\n")
    with pytest.raises(ConfigError) as caught:
        load_config(directory, environ={})
    assert [p.key for p in caught.value.problems] == ["timezone", "log_level"]
    assert check_config(directory, environ={}) == caught.value.problems
    assert (
        str(caught.value)
        .splitlines()[0]
        .endswith("monitor.yaml:1: timezone: " + (caught.value.problems[0].message))
    )


def test_valid_directory_has_no_problems(config_dir: ConfigDir) -> None:
    assert check_config(config_dir(), environ={}) == []
    config = load_config(config_dir(), environ={})
    assert isinstance(config, Config)
    assert config.recipients[0].key == "console:demo"


def test_missing_directory_and_files_are_problems(config_dir: ConfigDir, tmp_path: Path) -> None:
    problems = check_config(tmp_path / "nowhere", environ={})
    assert problems[0].message == "configuration directory not found"
    problems = check_config(config_dir(feeds=None), environ={})
    assert [(Path(p.file).name, p.message) for p in problems] == [("feeds.yaml", "file not found")]


def test_empty_files_mean_defaults(config_dir: ConfigDir) -> None:
    config = load_config(config_dir(monitor="", feeds="", watchlists=""), environ={})
    assert config.feeds == () and config.watchlists == () and config.recipients == ()
    assert config.monitor.fetch.allow_private_networks is False
    assert config.monitor.fetch.default_interval == 600
    assert config.monitor.timezone == "UTC"


def test_env_expansion_feeds_numbers_and_booleans(config_dir: ConfigDir) -> None:
    monitor = """\
    database_pool_size: ${POOL:-7}
    fetch:
      allow_private_networks: ${PRIVATE:-false}
      max_redirects: ${REDIRECTS}
    """
    config = load_config(config_dir(monitor=monitor), environ={"REDIRECTS": "3", "PRIVATE": "true"})
    assert config.monitor.database_pool_size == 7
    assert config.monitor.fetch.allow_private_networks is True
    assert config.monitor.fetch.max_redirects == 3
