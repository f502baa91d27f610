"""Live reload with real files: valid change, invalid file, pathological watchlist, SIGHUP."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import Config
from monitor.errors import ConfigProblem
from monitor.service.notify import SystemdNotifier
from monitor.service.reload import (
    ConfigDiff,
    ConfigWatcher,
    Reloader,
    config_diff,
    invalid_config_notice,
)
from tests.support.configs import write_config

FEEDS: list[dict[str, Any]] = [
    {"url": "https://a.example/rss", "name": "A", "interval": 600},
    {"url": "https://b.example/rss", "name": "B"},
]
LISTS: list[dict[str, Any]] = [
    {"name": "Starlink", "terms": ["Starlink"]},
    {"name": "Ports", "query": "port AND strike"},
]


class Applied:
    def __init__(self) -> None:
        self.calls: list[tuple[Config, ConfigDiff]] = []
        self.invalid: list[Sequence[ConfigProblem]] = []

    async def apply(self, config: Config, diff: ConfigDiff) -> None:
        self.calls.append((config, diff))

    async def on_invalid(self, problems: Sequence[ConfigProblem]) -> None:
        self.invalid.append(problems)


def setup(tmp_path: Path, **kw: Any) -> tuple[Config, Applied, Reloader]:
    config = write_config(tmp_path, feeds=FEEDS, watchlists=LISTS, **kw)
    applied = Applied()
    reloader = Reloader(
        config, applied.apply, on_invalid=applied.on_invalid, environ={}, watch_interval_s=0.05
    )
    return config, applied, reloader


def rewrite(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True))


def test_config_diff_names_every_kind_of_change(tmp_path: Path) -> None:
    old = write_config(tmp_path / "old", feeds=FEEDS, watchlists=LISTS)
    new = write_config(
        tmp_path / "new",
        feeds=[
            {"url": "https://a.example/rss", "name": "A", "interval": 1200, "tags": ["x"]},
            {"url": "https://c.example/rss", "name": "C"},
        ],
        watchlists=[
            LISTS[0],
            {"name": "Ports", "query": "port AND strikes"},
            {"name": "New", "terms": ["n"]},
        ],
        database_url=old.database_url,
        monitor={"health": {"failures_before_alert": 9}, "http": {"port": 9300}},
        recipients=[{"name": "desk", "channel": "console", "watchlists": ["Starlink"]}],
    )
    diff = config_diff(old, new)
    assert [f.name for f in diff.feeds_added] == ["C"]
    assert [f.name for f in diff.feeds_removed] == ["B"]
    assert [(c.feed.name, c.fields) for c in diff.feeds_changed] == [("A", ("tags", "interval_s"))]
    assert (diff.watchlists_added, diff.watchlists_changed, diff.watchlists_removed) == (
        ("New",),
        ("Ports",),
        (),
    )
    assert diff.recipients_changed and not diff.channels_changed and not diff.admins_changed
    assert diff.settings_changed == ("http", "health")
    assert diff.restart_needed == ("http",)
    assert diff.summary() == (
        "feeds +1 -1 ~1; watchlists +New ~Ports; recipients; settings http, health; "
        "restart needed for http"
    )
    assert config_diff(old, old).empty and config_diff(old, old).summary() == "no change"


async def test_a_valid_change_is_applied_without_restart(tmp_path: Path) -> None:
    config, applied, reloader = setup(tmp_path)
    rewrite(
        config.watchlists_file,
        {"watchlists": [*LISTS, {"name": "Launches", "query": "rocket NEAR/5 launch"}]},
    )
    result = await reloader.reload("SIGHUP")
    assert result.ok and result.diff is not None
    assert result.diff.watchlists_added == ("Launches",) and not result.diff.feeds
    assert len(applied.calls) == 1 and applied.calls[0][0] is reloader.current
    assert [w.name for w in reloader.current.watchlists][-1] == "Launches"
    assert result.seconds < 2.0
    again = await reloader.reload("SIGHUP")  # nothing changed since: nothing to apply
    assert again.ok and again.diff is not None and again.diff.empty
    assert len(applied.calls) == 1


async def test_an_invalid_file_keeps_the_running_config(tmp_path: Path) -> None:
    config, applied, reloader = setup(tmp_path)
    config.feeds_file.write_text(
        "feeds:\n  - url: https://a.example/rss\n    name: A\n    intervall: 10m\n"
        "  - url: [not, a, url\n"
    )
    result = await reloader.reload("SIGHUP")
    assert not result.ok and reloader.current is config and applied.calls == []
    assert applied.invalid and list(applied.invalid[0]) == list(result.problems)
    where = [str(p) for p in result.problems]
    assert any(w.startswith(f"{config.feeds_file}:") for w in where), where
    assert all(p.line for p in result.problems)  # every problem has its line
    # Fixed again: applied (the feeds did not change, so nothing to apply).
    rewrite(config.feeds_file, {"feeds": FEEDS})
    fixed = await reloader.reload("SIGHUP")
    assert fixed.ok and fixed.diff is not None and fixed.diff.empty


async def test_an_unknown_key_is_reported_with_its_line(tmp_path: Path) -> None:
    config, _applied, reloader = setup(tmp_path)
    text = config.monitor_file.read_text() + "heallth:\n  failures_before_alert: 3\n"
    config.monitor_file.write_text(text)
    result = await reloader.reload("SIGHUP")
    assert not result.ok
    (problem,) = result.problems
    assert problem.file == str(config.monitor_file)
    assert problem.line == text.count("\n") - 1  # the line of "heallth:"
    assert "health" in problem.message  # did you mean ...


@pytest.mark.parametrize(
    "query",
    [
        "(" * 200 + "port" + ")" * 200,  # nests far deeper than the limit
        " OR ".join(f'"term{n}"' for n in range(3000)),  # far over the size limits
    ],
    ids=["deep", "huge"],
)
async def test_a_pathological_watchlist_is_rejected_quickly(tmp_path: Path, query: str) -> None:
    config, _applied, reloader = setup(tmp_path)
    rewrite(config.watchlists_file, {"watchlists": [*LISTS, {"name": "Evil", "query": query}]})
    started = time.perf_counter()
    result = await reloader.reload("SIGHUP")
    elapsed = time.perf_counter() - started
    assert not result.ok and reloader.current is config
    assert elapsed < 2.0, elapsed
    (problem,) = result.problems
    lines = config.watchlists_file.read_text().splitlines()
    assert problem.key == "watchlists[2].query"
    assert problem.line == lines.index("- name: Evil") + 2  # 1-based: the line after
    assert "deeper" in problem.message or "larger" in problem.message or "longer" in problem.message


async def test_a_yaml_alias_bomb_is_rejected_quickly(tmp_path: Path) -> None:
    config, _applied, reloader = setup(tmp_path)
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for n in range(1, 10):
        lines.append(f"{chr(97 + n)}: &{chr(97 + n)} [{','.join(['*' + chr(96 + n)] * 10)}]")
    lines.append("watchlists: []")
    config.watchlists_file.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    result = await reloader.reload("file watcher")
    assert not result.ok and time.perf_counter() - started < 2.0
    assert any("alias" in p.message or "too large" in p.message for p in result.problems)


async def test_sighup_reloads_and_tells_systemd(tmp_path: Path) -> None:
    sock_path = tmp_path / "notify.sock"
    supervisor = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    supervisor.bind(str(sock_path))
    supervisor.settimeout(5)
    config = write_config(tmp_path / "config", feeds=FEEDS, watchlists=LISTS)
    applied = Applied()
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(sock_path)})
    reloader = Reloader(config, applied.apply, notifier=notifier, environ={})
    assert reloader.install_sighup()
    try:
        rewrite(config.feeds_file, {"feeds": FEEDS[:1]})
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(200):
            if applied.calls:
                break
            await asyncio.sleep(0.02)
        assert [f.name for f in applied.calls[0][1].feeds_removed] == ["B"]
        states = [supervisor.recv(1024).decode() for _ in range(2)]
        assert states == ["RELOADING=1", "READY=1\nSTATUS=running"]
    finally:
        await reloader.aclose()
        notifier.close()
        supervisor.close()


async def test_the_watcher_reloads_on_a_change_and_ignores_a_touch(tmp_path: Path) -> None:
    config, applied, reloader = setup(tmp_path)
    stop = asyncio.Event()
    watching = asyncio.create_task(reloader.watch(stop))
    try:
        os.utime(config.feeds_file)  # same content, new mtime: not a change
        await asyncio.sleep(0.3)
        assert reloader.results == []
        rewrite(config.feeds_file, {"feeds": [*FEEDS, {"url": "https://c.example/rss"}]})
        for _ in range(100):
            if reloader.results:
                break
            await asyncio.sleep(0.05)
        assert [r.reason for r in reloader.results] == ["files changed"]
        assert [f.name for f in applied.calls[0][1].feeds_added] == ["c.example"]
        config.watchlists_file.write_text("watchlists: [")  # broken: reported once, not looped
        for _ in range(100):
            if len(reloader.results) == 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        assert len(reloader.results) == 2 and not reloader.results[1].ok
        assert len(applied.invalid) == 1
    finally:
        stop.set()
        await watching


def test_watcher_fingerprints_content_not_just_mtime(tmp_path: Path) -> None:
    config = write_config(tmp_path, feeds=FEEDS, watchlists=LISTS)
    watcher = ConfigWatcher(config.directory)
    os.utime(config.monitor_file, ns=(1, 1))
    assert not watcher.changed()
    config.monitor_file.write_text(config.monitor_file.read_text() + "\n# a comment\n")
    assert watcher.changed()


def test_invalid_config_notice_is_keyed_by_problems_and_day() -> None:
    from datetime import UTC, datetime

    p = [ConfigProblem("/etc/monitor/feeds.yaml", 4, "feeds[0].url", "not a URL")]
    day = datetime(2026, 11, 25, 8, tzinfo=UTC)
    key, title, text = invalid_config_notice(p, day)
    assert key == invalid_config_notice(p, day.replace(hour=20))[0]
    assert key != invalid_config_notice(p, day.replace(day=26))[0]
    assert title == "monitor: configuration not reloaded (1 problem(s))"
    assert "/etc/monitor/feeds.yaml:4: feeds[0].url: not a URL" in text


async def test_a_failing_apply_keeps_the_running_config(tmp_path: Path) -> None:
    config = write_config(tmp_path, feeds=FEEDS, watchlists=LISTS)

    async def apply(new: Config, diff: ConfigDiff) -> None:
        raise RuntimeError("database is locked")

    reloader = Reloader(config, apply, environ={})
    rewrite(config.feeds_file, {"feeds": FEEDS[:1]})
    result = await reloader.reload("SIGHUP")
    assert not result.ok and reloader.current is config
    assert "not applied: database is locked" in result.problems[0].message
