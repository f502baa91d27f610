"""Health of the real daemon: systemd notify and watchdog, /metrics, feed-health notices (issue 7).

RELIABILITY.md D03 and the "seeing inside" part of issue 7, against ``monitor run`` as
a subprocess:

- a fake ``NOTIFY_SOCKET`` supervisor (tests/support/notify_socket.py) receives READY
  (after start-up), WATCHDOG pings and STOPPING, in that order;
- a wedged daemon stops the pings and the supervisor kills it within WatchdogSec: once
  by SIGSTOP, once by a database the daemon cannot get (the test holds an exclusive
  SQLite lock); a restart is READY again;
- ``/metrics`` is scraped from the daemon and parsed with ``prometheus_client.parser``;
  its figures agree with the database and with what the emulator received;
- feed health as the admins see it at the emulator: a feed failing N polls is one
  notice, its recovery one notice; every feed down is one outage notice (and no
  per-feed notices), the end of it one more.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.configs import item, rss, write_config
from tests.support.daemon_runner import DaemonProcess, wait_until
from tests.support.feed_server import FeedServer, Request, Response, closed_port
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

WATCHDOG_S = 6.0  # WatchdogSec: pings every 3 s, the scheduler ticks every 2 s
TERMS = {"Starlink": "Starlink"}


def quiet_daemon(tmp_path: Path, server: FeedServer, env: dict[str, str]) -> DaemonProcess:
    desk = NewsDesk(server, ("a", "b"), watchlists=TERMS, recipients={})
    config = write_config(
        tmp_path / "config",
        feeds=desk.feeds_config(interval=1, full_text="never"),
        monitor=fast_settings(),
    )
    return DaemonProcess(config.directory, env=env)


@contextlib.contextmanager
def pinging_daemon(
    tmp_path: Path, server: FeedServer
) -> Iterator[tuple[NotifySupervisor, DaemonProcess]]:
    """A quiet daemon started under a supervisor enforcing ``WATCHDOG_S``, once it pinged."""
    with (
        NotifySupervisor(watchdog_s=WATCHDOG_S) as systemd,
        quiet_daemon(tmp_path, server, systemd.env) as daemon,
    ):
        daemon.start()
        systemd.watch(daemon.pid)
        systemd.wait_for("WATCHDOG")
        yield systemd, daemon


def test_ready_watchdog_and_stopping_arrive_in_order(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    with NotifySupervisor(watchdog_s=WATCHDOG_S) as systemd:
        with quiet_daemon(tmp_path, feed_server, systemd.env) as daemon:
            daemon.start(wait_ready=False)
            systemd.watch(daemon.pid)
            ready = systemd.wait_for("READY", timeout=30)
            synced = daemon.db.count("SELECT count(*) FROM feed")  # READY after start-up
            time.sleep(2.5 * WATCHDOG_S / 2)
            stop = daemon.terminate()
            stopping = systemd.wait_for("STOPPING", timeout=5)
        gaps = systemd.gaps(after=ready)
        pings = systemd.times("WATCHDOG")
        print(
            f"\nnotify: READY {ready - daemon.runs[0].started:.2f} s after exec, "
            f"{len(pings)} pings, gaps {[round(g, 2) for g in gaps]}, "
            f"stop {stop.seconds:.2f} s"
        )
        assert synced == 2
        assert systemd.sequence() == ["READY", "STOPPING"]
        assert pings and min(pings) > ready and max(pings) < stopping
        assert max(gaps) <= WATCHDOG_S / 2 + 1.0
        assert any(s.startswith("polling 2 feeds") for s in systemd.statuses())
        assert stop.returncode == 0 and not systemd.kills


def test_the_watchdog_kills_a_stopped_daemon_and_a_restart_is_ready_again(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    with pinging_daemon(tmp_path, feed_server) as (systemd, daemon):
        wedged = time.monotonic()
        daemon.pause()
        kill = systemd.wait_for_kill(timeout=3 * WATCHDOG_S)
        assert daemon.wait(5) == -9
        daemon.start(wait_ready=False)  # Restart=on-failure
        systemd.watch(daemon.pid)
        again = systemd.wait_for("READY", after=kill.at, timeout=30)
        assert daemon.terminate().returncode == 0
    print(
        f"\nwatchdog (SIGSTOP): killed {kill.at - wedged:.2f} s after the wedge "
        f"(silent {kill.silent_s:.2f} s, WatchdogSec {WATCHDOG_S:.0f}); READY again "
        f"{again - kill.at:.2f} s after the kill (RestartSec 0)"
    )
    assert kill.silent_s <= WATCHDOG_S + 0.3
    assert kill.at - wedged <= WATCHDOG_S + 0.3  # the last ping came before the wedge


def test_a_database_the_daemon_cannot_get_stops_the_pings(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    with pinging_daemon(tmp_path, feed_server) as (systemd, daemon):
        lock = sqlite3.connect(daemon.config_dir / "monitor.db", isolation_level=None)
        try:
            lock.execute("BEGIN EXCLUSIVE")  # every reader and writer of the daemon waits
            wedged = time.monotonic()
            kill = systemd.wait_for_kill(timeout=4 * WATCHDOG_S)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        withheld = [line.fields.get("reason") for line in daemon.logs("watchdog_withheld")]
    print(
        f"\nwatchdog (database locked): killed {kill.at - wedged:.2f} s after the lock "
        f"(silent {kill.silent_s:.2f} s, WatchdogSec {WATCHDOG_S:.0f}); withheld: {withheld}"
    )
    assert kill.silent_s <= WATCHDOG_S + 0.3
    # Writes waiting for the lock fill the worker threads within a few ticks; then the
    # probe (it needs a thread too) times out, and WatchdogSec later the kill comes.
    assert kill.at - wedged <= 3 * WATCHDOG_S
    assert any("database" in str(reason) for reason in withheld)


def scrape(port: int, path: str = "/metrics") -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, keyed by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_are_scraped_from_the_daemon_and_agree_with_the_fakes(
    tmp_path: Path, feed_server: FeedServer, tg: TelegramEmulator
) -> None:
    chats = {201: ["Starlink"], 202: ["Starlink"]}
    desk = NewsDesk(feed_server, ("m1", "m2", "m3"), watchlists=TERMS, recipients=chats)
    feed_server.route("/broken.xml", Response("<html>no feed</html>", content_type="text/html"))
    port = closed_port()
    feeds = [*desk.feeds_config(interval=1, full_text="never")]
    feeds.append({"url": feed_server.url("/broken.xml"), "name": "broken", "interval": 1})
    config = write_config(
        tmp_path / "config",
        feeds=feeds,
        monitor=fast_settings(tg.base_url, http={"port": port}),
        recipients=telegram_recipients(chats),
    )
    with DaemonProcess(config.directory, env={TOKEN_ENV: tg.token}) as daemon:
        daemon.start()
        assert baselined(daemon, 3)
        desk.publish(6)
        expected = desk.expected()
        assert wait_until(lambda: set(tally(tg.all_messages())) >= expected, 30), daemon.tail()
        items = daemon.db.count("SELECT count(*) FROM item")

        def agreed() -> bool:
            found = samples(scrape(port)[1])
            return found.get(("monitor_deliveries", (("state", "sent"),))) == len(expected)

        assert wait_until(agreed, 15, step=0.5)  # gauges are refreshed at most every 5 s
        status, text = scrape(port)
        health_status, health = scrape(port, "/healthz")
        assert daemon.terminate().returncode == 0
    found = samples(text)
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    print(
        f"\nmetrics: {len(families)} families, {len(found)} samples; polls ok "
        f"{found[('monitor_polls_total', (('status', 'ok'),))]:.0f}, error "
        f"{found[('monitor_polls_total', (('status', 'error'),))]:.0f}; items ingested "
        f"{found[('monitor_items_ingested_total', ())]:.0f}; healthz {health_status} "
        f"{json.dumps(json.loads(health)['checks'])}"
    )
    assert status == 200 and health_status == 200
    assert json.loads(health)["status"] == "ok"
    assert families["monitor_polls"] == "counter"
    assert families["monitor_poll_duration_seconds"] == "histogram"
    assert families["monitor_send_duration_seconds"] == "histogram"
    assert found[("monitor_feeds", ())] == 4
    assert found[("monitor_feeds_erroring", ())] == 1
    assert found[("monitor_database_up", ())] == 1
    assert items == 6
    assert found[("monitor_items", ())] == found[("monitor_items_ingested_total", ())] == items
    assert found[("monitor_stories", ())] == items  # each item its own story
    assert found[("monitor_polls_total", (("status", "error"),))] >= 1
    assert found[("monitor_deliveries", (("state", "pending"),))] == 0
    assert found[("monitor_oldest_pending_delivery_seconds", ())] == 0


def test_send_metrics_count_what_the_emulator_received(
    tmp_path: Path, feed_server: FeedServer, tg: TelegramEmulator
) -> None:
    desk = NewsDesk(feed_server, ("s1",), watchlists=TERMS, recipients={301: ["Starlink"]})
    port = closed_port()
    config = write_config(
        tmp_path / "config",
        feeds=desk.feeds_config(interval=1, full_text="never"),
        monitor=fast_settings(tg.base_url, http={"port": port}),
        recipients=telegram_recipients({301: None}),
    )
    with DaemonProcess(config.directory, env={TOKEN_ENV: tg.token}) as daemon:
        daemon.start()
        assert baselined(daemon, 1)
        desk.publish(2)
        assert wait_until(lambda: len(tg.messages(301)) == 2, 20), daemon.tail()
        found = samples(scrape(port)[1])
        assert daemon.terminate().returncode == 0
    sent = (("channel", "telegram"), ("outcome", "sent"))
    assert found.get(("monitor_sends_total", sent)) == 2
    assert found.get(("monitor_send_duration_seconds_count", (("channel", "telegram"),))) == 2


def switchable(server: FeedServer, n: int, down: set[str]) -> str:
    """Feed ``n`` with one steady item; it answers 503 while its path is in ``down``."""
    path = f"/health/{n}.xml"
    body = rss([item(n)], title=path)

    def answer(request: Request) -> Response:
        return Response(status=503, body="down") if request.path in down else Response(body)

    return server.route(path, answer)


def test_feed_health_is_one_notice_per_incident_and_one_recovery(
    tmp_path: Path, feed_server: FeedServer, tg: TelegramEmulator
) -> None:
    admin = 900
    down: set[str] = set()
    paths = [f"/health/{n}.xml" for n in range(10)]
    feeds = [
        {"url": switchable(feed_server, n, down), "name": f"feed{n}", "interval": 1}
        for n in range(10)
    ]
    config = write_config(
        tmp_path / "config",
        feeds=feeds,
        monitor=fast_settings(
            tg.base_url, admins={"telegram": [admin]}, health={"failures_before_alert": 3}
        ),
        recipients=telegram_recipients({101: None}),
    )
    timeline: list[str] = []

    def notices() -> list[str]:  # the subject line of each notice
        found = [m.text.splitlines() for m in tg.messages(admin)]
        return [next((x for x in lines if x.startswith("monitor:")), lines[0]) for lines in found]

    def phase(name: str, now_down: set[str], expect: int, hold_s: float = 3.0) -> None:
        down.clear()
        down.update(now_down)
        assert wait_until(lambda: len(tg.messages(admin)) >= expect, 40), (name, notices())
        time.sleep(hold_s)  # several more health checks: nothing repeated
        assert len(tg.messages(admin)) == expect, (name, notices())
        timeline.append(f"{name}: {notices()[expect - 1]}")

    with DaemonProcess(
        config.directory, env={TOKEN_ENV: tg.token}, daemon_settings={"health_every_s": 1.0}
    ) as daemon:
        daemon.start()
        phase("one feed down", {paths[0]}, 1)
        phase("it recovers", set(), 2)
        phase("every feed down", set(paths), 3)
        phase("all back", set(), 4)
        assert daemon.terminate().returncode == 0
    texts = [m.text for m in tg.messages(admin)]
    print("\nfeed health notices at the emulator:\n  " + "\n  ".join(timeline))
    assert "feed0 failing" in texts[0]
    assert "feed0 recovered" in texts[1]
    assert "failing everywhere" in texts[2]
    assert "polling again" in texts[3]
    assert all("feed" in t for t in texts)
