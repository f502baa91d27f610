"""Signals to the real daemon: SIGHUP reloads, the file watcher, SIGSTOP/SIGCONT (issue 7).

RELIABILITY.md D04 and D08, against ``monitor run`` as a subprocess with live feeds on
the local feed server and alerts counted at the Telegram emulator:

- SIGHUP with a valid change: a new watchlist takes effect without a restart (an item
  matching only it alerts; one published before the reload stays unalerted); systemd
  hears RELOADING=1 then READY=1. An invalid file: the running configuration stays
  (the new watchlist still alerts), each problem is logged with file:line and the admins
  are told through the emulator. A pathological query (nested 200 deep): rejected
  within 2 s. The process is never restarted.
- The file watcher applies an edit without a signal.
- SIGSTOP across several poll intervals, then SIGCONT: each feed is polled once right
  after (no storm of missed polls), and polling goes on at its normal pace.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.configs import write_config
from tests.support.daemon_runner import DaemonProcess, wait_until
from tests.support.feed_server import FeedServer
from tests.support.news_desk import (
    TOKEN_ENV,
    NewsDesk,
    baselined,
    fast_settings,
    tally,
    telegram_recipients,
)
from tests.support.news_desk import tg as tg
from tests.support.notify_socket import NotifySupervisor
from tests.support.telegram_emulator import TelegramEmulator

READER, ADMIN = 101, 900
TERMS = {"Starlink": "Starlink", "Rosatom": "Rosatom"}
ONE_LIST = "watchlists:\n  - name: Starlink\n    terms: [Starlink]\n"
TWO_LISTS = ONE_LIST + "  - name: Rosatom\n    terms: [Rosatom]\n"
BAD_KEY = TWO_LISTS + "  - name: Typo\n    termz: [Rosatom]\n"  # line 7
DEEP_QUERY = "(" * 200 + "Starlink" + ")" * 200
PAUSE_S = 10.0
DEEP = TWO_LISTS + f"  - name: Evil\n    query: '{DEEP_QUERY}'\n"  # line 7


def start_reader_daemon(
    tmp_path: Path, server: FeedServer, tg: TelegramEmulator, env: dict[str, str] | None = None
) -> tuple[NewsDesk, DaemonProcess]:
    """Two feeds, chat 101 reading every watchlist, chat 900 the admin; only Starlink watched."""
    desk = NewsDesk(server, ("left", "right"), watchlists=TERMS, recipients={READER: list(TERMS)})
    config = write_config(
        tmp_path / "config",
        feeds=desk.feeds_config(interval=1, full_text="never"),
        monitor=fast_settings(tg.base_url, admins={"telegram": [ADMIN]}),
        recipients=telegram_recipients({READER: None}),
    )
    (config.directory / "watchlists.yaml").write_text(ONE_LIST)
    daemon = DaemonProcess(config.directory, env={TOKEN_ENV: tg.token, **(env or {})})
    daemon.start()
    assert baselined(daemon, 2, 20), daemon.tail()
    return desk, daemon


def stored(daemon: DaemonProcess, serial: int) -> bool:
    return (
        daemon.db.count("SELECT count(*) FROM item WHERE title LIKE :t", t=f"%(story {serial})") > 0
    )


def alerted(tg: TelegramEmulator, serial: int, chat: int = READER) -> int:
    return tally(tg.messages(chat)).get((chat, serial), 0)


def admin_texts(tg: TelegramEmulator) -> list[str]:
    return [m.text for m in tg.messages(ADMIN)]


def reload_by_signal(daemon: DaemonProcess, text: str, outcome: str) -> float:
    """Write watchlists.yaml, send SIGHUP, wait for ``outcome``; seconds from signal to it."""
    (daemon.config_dir / "watchlists.yaml").write_text(text)
    sent = time.monotonic()
    daemon.hangup()
    line = daemon.wait_for_log(outcome, after=sent, reason="SIGHUP", timeout=15)
    return line.at - sent


def test_sighup_applies_a_valid_change_and_keeps_the_config_on_bad_ones(
    tmp_path: Path, feed_server: FeedServer, tg: TelegramEmulator
) -> None:
    with NotifySupervisor() as systemd:
        desk, daemon = start_reader_daemon(tmp_path, feed_server, tg, env=systemd.env)
        with daemon:
            before = desk.add(watchlists=["Rosatom"])  # nobody watches Rosatom yet
            assert wait_until(lambda: stored(daemon, before.serial), 15), daemon.tail()

            valid_s = reload_by_signal(daemon, TWO_LISTS, "config_reloaded")
            after = desk.add(watchlists=["Rosatom"])
            assert wait_until(lambda: alerted(tg, after.serial), 20), daemon.tail()
            assert alerted(tg, before.serial) == 0  # no retroactive alert

            invalid_s = reload_by_signal(daemon, BAD_KEY, "config_reload_rejected")
            problems = [str(line.fields["problem"]) for line in daemon.logs("config_problem")]
            assert any("watchlists.yaml:7" in p and "termz" in p for p in problems), problems
            assert wait_until(lambda: any("watchlists.yaml:7" in t for t in admin_texts(tg)), 15)
            kept = desk.add(watchlists=["Rosatom"])  # the running configuration still has it
            assert wait_until(lambda: alerted(tg, kept.serial), 20), daemon.tail()

            deep_s = reload_by_signal(daemon, DEEP, "config_reload_rejected")
            deep = [str(line.fields["problem"]) for line in daemon.logs("config_problem")]
            assert any("watchlists.yaml:7" in p for p in deep[len(problems) :]), deep
            assert wait_until(lambda: len(admin_texts(tg)) == 2, 15), admin_texts(tg)
            still = desk.add(watchlists=["Starlink"])
            assert wait_until(lambda: alerted(tg, still.serial), 20), daemon.tail()

            assert daemon.terminate().returncode == 0
        runs, started = len(daemon.runs), len(daemon.logs("daemon_started"))
        sequence = systemd.sequence()
    print(
        f"\nSIGHUP to log line: valid applied {valid_s * 1e3:.0f} ms, invalid rejected "
        f"{invalid_s * 1e3:.0f} ms, 200-deep query rejected {deep_s * 1e3:.0f} ms; "
        f"admin notices {len(admin_texts(tg))}"
    )
    assert runs == 1 and started == 1  # never restarted
    assert deep_s < 2.0
    assert sequence[:1] == ["READY"] and sequence[-1] == "STOPPING"
    assert sequence.count("RELOADING") == 3  # one per SIGHUP, each followed by READY
    assert sequence[1:-1] == ["RELOADING", "READY"] * 3
    assert all(alerted(tg, n.serial) == 1 for n in (after, kept, still))


def test_the_file_watcher_applies_an_edit_without_a_signal(
    tmp_path: Path, feed_server: FeedServer, tg: TelegramEmulator
) -> None:
    desk, daemon = start_reader_daemon(tmp_path, feed_server, tg)
    with daemon:
        edited = time.monotonic()
        (daemon.config_dir / "watchlists.yaml").write_text(TWO_LISTS)
        line = daemon.wait_for_log("config_reloaded", after=edited, timeout=15)
        news = desk.add(watchlists=["Rosatom"])
        assert wait_until(lambda: alerted(tg, news.serial), 20), daemon.tail()
        assert daemon.terminate().returncode == 0
    print(f"\nfile watcher: edit applied {line.at - edited:.2f} s after the write")
    assert line.fields["reason"] == "files changed"
    assert len(daemon.runs) == 1


def test_sigstop_then_sigcont_runs_each_missed_poll_once(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    desk = NewsDesk(feed_server, ("one", "two", "three"), watchlists=TERMS, recipients={})
    config = write_config(
        tmp_path / "config",
        feeds=desk.feeds_config(interval=2, full_text="never"),
        monitor=fast_settings(),
    )
    paths = [desk.path(f) for f in ("one", "two", "three")]

    def polls(path: str, start: float, end: float) -> int:
        return sum(1 for r in feed_server.requests(path) if start <= r.time < end)

    with DaemonProcess(config.directory) as daemon:
        daemon.start()
        time.sleep(4.0)
        stopped = time.monotonic()
        daemon.pause()
        time.sleep(PAUSE_S)  # five poll intervals and five scheduler ticks missed
        resumed = time.monotonic()
        daemon.resume()
        time.sleep(6.5)
        assert daemon.terminate().returncode == 0
    during = [polls(p, stopped + 0.1, resumed) for p in paths]
    burst = [polls(p, resumed, resumed + 1.5) for p in paths]
    after = [polls(p, resumed, resumed + 6.5) for p in paths]
    before = [polls(p, stopped - 4.0, stopped) for p in paths]
    print(
        f"\nSIGSTOP {PAUSE_S:.0f} s: polls per feed in the 4 s before {before}, while "
        f"stopped {during}, in the 1.5 s after SIGCONT {burst}, in the 6.5 s after {after}"
    )
    assert during == [0, 0, 0]
    assert burst == [1, 1, 1]  # each missed poll once: no storm, none dropped
    assert all(2 <= n <= 4 for n in after), after  # polling goes on (ticks every 2 s)
    assert not daemon.logs("poll_cycle_failed")
