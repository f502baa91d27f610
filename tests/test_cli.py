"""The `monitor` command as users run it: help everywhere, check, poll, demo, OPML, db."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import build_parser, main
from tests.support.configs import item, rss, write_config
from tests.support.feed_server import FeedServer, Response

ROOT = Path(__file__).resolve().parents[1]


def monitor(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env={**os.environ, **(env or {})},
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def all_commands() -> list[list[str]]:
    parser = build_parser()
    found: list[list[str]] = []

    def walk(p, prefix: list[str]) -> None:
        for action in p._actions:
            choices = getattr(action, "choices", None)
            if isinstance(choices, dict):
                for name, sub in choices.items():
                    found.append([*prefix, name])
                    walk(sub, [*prefix, name])

    walk(parser, [])
    return found


@pytest.mark.parametrize("command", all_commands(), ids=" ".join)
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: monitor" in capsys.readouterr().out


def test_check_accepts_the_example_configuration() -> None:
    result = monitor("check", "--config", str(ROOT / "config"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: 4 feeds")


def test_check_reports_every_problem_with_file_and_line(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "config", tmp_path, dirs_exist_ok=True)
    feeds = (tmp_path / "feeds.yaml").read_text()
    feeds = feeds.replace("    name: Kabar\n", "    name: Kabar\n    colour: red\n")
    feeds = feeds.replace("http://127.0.0.1:${MONITOR_DEMO_PORT:-8089}/feeds/ledger.xml", "ftp://x")
    (tmp_path / "feeds.yaml").write_text(feeds)
    (tmp_path / "watchlists.yaml").write_text("watchlists:\n  - name: [unclosed\n")
    result = monitor("check", "--config", str(tmp_path))
    assert result.returncode == 1
    err = result.stderr
    assert "feeds.yaml:" in err and "colour" in err
    assert "ftp" in err or "http" in err
    assert "watchlists.yaml:3: invalid YAML" in err


def test_check_reports_a_failing_watchlist_example(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "config", tmp_path, dirs_exist_ok=True)
    lists = (tmp_path / "watchlists.yaml").read_text()
    lists = lists.replace(
        '        - "A starling flock was filmed over the river at dusk"',
        '        - "A starling flock was filmed over the river at dusk"\n'
        '        - "Starlink satellites crossed the sky"',
    )
    (tmp_path / "watchlists.yaml").write_text(lists)
    result = monitor("check", "--config", str(tmp_path))
    assert result.returncode == 1
    assert "FAIL" in result.stderr and "Starlink satellites crossed the sky" in result.stderr


def test_poll_once_prints_a_summary(feed_server: FeedServer, tmp_path: Path) -> None:
    feed_server.route("/f.xml", Response(rss([item(1, "Starlink"), item(2)])))
    write_config(tmp_path, feeds=[{"url": feed_server.url("/f.xml"), "name": "F"}])
    result = monitor("poll", "--once", "--config", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "polled 1 feed(s)" in result.stdout and "new items: 2" in result.stdout
    again = monitor("poll", "--once", "--config", str(tmp_path))
    assert "new items: 0" in again.stdout


def test_feeds_export_then_import_round_trip(tmp_path: Path) -> None:
    exported = monitor("feeds", "export", "--config", str(ROOT / "config"))
    assert exported.returncode == 0 and "<opml" in exported.stdout
    target = tmp_path / "cfg"
    shutil.copytree(ROOT / "config", target)
    (tmp_path / "subs.opml").write_text(
        exported.stdout.replace("/feeds/ledger.xml", "/feeds/other.xml").replace(
            'text="Ledger"', 'text="Other"'
        )
    )
    result = monitor("feeds", "import", str(tmp_path / "subs.opml"), "--config", str(target))
    assert result.returncode == 0, result.stderr
    assert "added 1" in result.stdout
    assert monitor("check", "--config", str(target)).returncode == 0


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    write_config(tmp_path, feeds=[])
    result = monitor("db", "upgrade", "--config", str(tmp_path))
    assert result.returncode == 0, result.stderr + result.stdout
    assert "empty ->" in result.stdout
    assert "->" in monitor("db", "upgrade", "--config", str(tmp_path)).stdout


def test_demo_shows_alerts_from_the_second_cycle(tmp_path: Path) -> None:
    result = monitor("demo", "--state", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    cycle1, rest = out.split("== cycle 2", 1)
    cycle2, cycle3 = rest.split("== cycle 3", 1)
    assert "alerts sent: 0" in cycle1
    three = (  # one story, carried by three outlets: one alert naming the other two
        "Musk has held regular private talks with Putin",
        "Elon Musk Disebut Rutin Berbincang dengan Putin",
        "Laporan: Musk dan Putin Kerap Berkomunikasi",
    )
    assert sum(cycle2.count(title) for title in three) == 1
    (others,) = [line for line in cycle2.splitlines() if "also reported by:" in line]
    assert len(others.split(":", 1)[1].split(",")) == 2
    assert "Starlink signs in-flight internet deal" in cycle2
    assert "alerts sent: 2" in cycle2
    assert "starling" not in cycle2.lower().replace("starlink", "")
    assert "4 not modified" in cycle3


def test_match_explains_each_watchlist_as_json(tmp_path: Path) -> None:
    page = tmp_path / "a.txt"
    page.write_text("Wakil kepala staf Kremlin Sergei Kirienko dan layanan Starlink-nya.")
    result = monitor("match", "--json", "--config", str(ROOT / "config"), str(page))
    assert result.returncode == 0, result.stderr
    import json

    lines = {d["watchlist"]: d for d in map(json.loads, result.stdout.splitlines())}
    assert lines["Kiriyenko"]["matched"] and "Kirienko" in lines["Kiriyenko"]["snippet"]
    assert lines["Starlink"]["terms"] == ["Starlink"]
    assert lines["Musk and Putin"] == {
        "watchlist": "Musk and Putin",
        "matched": False,
        "terms": [],
        "snippet": "",
    }
    none = tmp_path / "b.txt"
    none.write_text("A starling flock over the river.")
    assert monitor("match", "--config", str(ROOT / "config"), str(none)).returncode == 1


def test_replay_reports_what_an_edited_query_would_alert(tmp_path: Path) -> None:
    demo = monitor("demo", "--state", str(tmp_path / "demo"))
    assert demo.returncode == 0, demo.stderr
    config = tmp_path / "cfg"
    shutil.copytree(ROOT / "config", config)
    with (config / "monitor.yaml").open("a") as f:
        f.write(f"\ndatabase_url: sqlite:///{tmp_path / 'demo' / 'monitor.db'}\n")
    saved = monitor(
        "replay", "--watchlist", "Starlink", "--since", "3650d", "--config", str(config)
    )
    assert saved.returncode == 0, saved.stderr
    import re

    found = re.search(
        r"(\d+) stories would alert \(matched at the time: (\d+); new: 0, no", saved.stdout
    )
    assert found and found[1] == found[2] and int(found[1]) >= 2, saved.stdout
    edited = monitor(
        "replay",
        "--watchlist",
        "Starlink",
        "--since",
        "3650d",
        "--config",
        str(config),
        "--query",
        "Starlink OR starling",
    )
    assert f"{int(found[1]) + 1} stories would alert" in edited.stdout and "new: 1" in edited.stdout
    assert "+ [Warta] Burung starling" in edited.stdout


def _demo_page(path: str, target: Path) -> Path:
    from monitor.demo.server import DemoSite

    site = DemoSite()
    site.cycle = 2
    page = site.page(path)
    assert page is not None
    target.write_bytes(page[0])
    return target


def test_extract_prints_the_article_without_boilerplate(tmp_path: Path) -> None:
    page = _demo_page("/warta/musk-putin-rutin-berbincang.html", tmp_path / "w.html")
    result = monitor("extract", str(page))
    assert result.returncode == 0, result.stderr
    assert "Kiriyenko" in result.stdout
    for boilerplate in ("Baca Juga", "WhatsApp", "Tinggalkan Balasan", "Back To Top"):
        assert boilerplate not in result.stdout


def test_compare_decides_same_story_across_outlets(tmp_path: Path) -> None:
    import json

    warta = _demo_page("/warta/musk-putin-rutin-berbincang.html", tmp_path / "w.html")
    globe = _demo_page("/globe/musk-putin-talks.html", tmp_path / "g.html")
    ledger = _demo_page("/ledger/starlink-airline.html", tmp_path / "l.html")
    same = monitor("compare", "--json", str(warta), str(globe))
    assert same.returncode == 0
    decision = json.loads(same.stdout)
    assert decision["same_story"] is True and decision["signal"] != "none"
    assert set(decision) == {"same_story", "score", "signal"}
    different = monitor("compare", str(globe), str(ledger))
    assert different.returncode == 1 and different.stdout.startswith("different stories")
