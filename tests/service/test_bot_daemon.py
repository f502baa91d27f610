"""`monitor run` as a real process with the bot on, against the Bot API emulator and a
local feed server: a new user subscribes from the chat, receives an alert with its
buttons, mutes the story, and hears no more of it; two daemons on one token answer
every command once. Everything is counted at the emulator.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bot.conftest import buttons, serve
from tests.bot.conftest import tg as tg
from tests.support.configs import item, rss, write_config
from tests.support.daemon_runner import wait_until
from tests.support.feed_server import FeedServer, Response
from tests.support.telegram_emulator import ReceivedMessage, TelegramEmulator

USER, WITNESS, ADMIN = 4242, 4343, 9001
TOKEN_ENV = "MONITOR_TEST_BOT_TOKEN"
STORY = {
    "title": "Starlink terminals reach the outer islands",
    "description": (
        "Fishing cooperatives on the outer islands received Starlink terminals on Tuesday, "
        "bringing the first steady internet link to the harbour offices and the school."
    ),
    "date": "Wed, 25 Nov 2026 10:00:00 +0000",
}


def daemon_config(tmp: Path, tg: TelegramEmulator, feeds: FeedServer) -> Path:
    config = write_config(
        tmp / "config",
        feeds=[
            {
                "url": feeds.url("/a.xml"),
                "name": "Coast Times",
                "interval": 1,
                "full_text": "never",
            },
            {
                "url": feeds.url("/b.xml"),
                "name": "Island Post",
                "interval": 1,
                "full_text": "never",
            },
        ],
        recipients=[{"name": "desk", "channel": "console", "watchlists": ["Kiriyenko"]}],
        monitor={
            "fetch": {"min_interval": 1},
            "channels": {"telegram": {"token_env": TOKEN_ENV, "api_base_url": tg.base_url}},
            "admins": {"telegram": [ADMIN]},
            "bot": {"enabled": True, "access": "open", "poll_timeout": 2},
            "delivery": {"update_interval": 1, "telegram": {"per_chat_per_second": 30}},
        },
    )
    return config.directory


def start_daemon(directory: Path, tg: TelegramEmulator) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "run", "--config", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", TOKEN_ENV: tg.token},
    )


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
    return proc.returncode, err


def texts(tg: TelegramEmulator, chat: int) -> list[str]:
    return [m.text for m in tg.messages(chat)]


def alerts(tg: TelegramEmulator, chat: int) -> list[ReceivedMessage]:
    return [m for m in tg.messages(chat) if buttons(m)]


def test_a_new_user_subscribes_gets_an_alert_and_mutes_its_story(
    tg: TelegramEmulator, feed_server: FeedServer, tmp_path: Path
) -> None:
    feeds: dict[str, list[dict[str, str]]] = {"a": [item(1)], "b": [item(2)]}
    for name, listed in feeds.items():
        feed_server.route(f"/{name}.xml", serve(listed))
    proc = start_daemon(daemon_config(tmp_path, tg, feed_server), tg)
    try:
        baseline = lambda: len(feed_server.requests("/a.xml")) >= 1  # noqa: E731
        assert wait_until(baseline, 30), "the daemon did not poll"
        tg.user_message(USER, "/start")
        assert wait_until(lambda: any(t.startswith("Welcome") for t in texts(tg, USER)), 30)
        tg.user_message(USER, "/subscribe Starlink")
        tg.user_message(WITNESS, "/subscribe Starlink")  # a second reader, who mutes nothing
        subscribed = "Subscribed: alerts of Starlink come to this chat."
        assert wait_until(
            lambda: subscribed in texts(tg, USER) and subscribed in texts(tg, WITNESS), 30
        )

        feeds["a"].append({**STORY, "link": "http://example.test/coast/islands", "guid": "c1"})
        assert wait_until(lambda: len(alerts(tg, USER)) == 1 and len(alerts(tg, WITNESS)) == 1, 30)
        (alert,) = alerts(tg, USER)
        assert alert.text.startswith("🔔 Starlink\nStarlink terminals reach the outer islands")
        assert list(buttons(alert)) == [
            "🔕 Mute this story", "🔇 Mute this outlet", "👎 Not relevant", "📰 All sources",
        ]  # fmt: skip

        tg.press_button(USER, alert.message_id, buttons(alert)["🔕 Mute this story"])
        muted = "Muted: no more alerts or updates about this story here."
        assert wait_until(lambda: [a.text for a in tg.callback_answers()] == [muted], 30)

        feeds["b"].append({**STORY, "link": "http://example.test/island/islands", "guid": "i1"})
        witness = alerts(tg, WITNESS)[0]
        updated = lambda: "Island Post" in tg.messages(WITNESS)[-1].current_text  # noqa: E731
        assert wait_until(updated, 30), "the witness's alert was not updated with the new outlet"
        assert witness.message_id == tg.messages(WITNESS)[-1].message_id
        time.sleep(2.5)  # more poll ticks and send rounds: still nothing for the muted chat
        assert tg.edits(USER) == []
        assert len(alerts(tg, USER)) == 1
        assert proc.poll() is None, "the daemon died"
    finally:
        code, err = stop(proc)
    assert code == 0, err[-3000:]
    assert "bot_ready" in err and "daemon_stopped" in err
    assert tg.token not in err  # T11: the token never reaches the log


@pytest.mark.slow
def test_two_daemons_on_one_token_answer_every_command_once(
    tg: TelegramEmulator, feed_server: FeedServer, tmp_path: Path
) -> None:
    """T10: two daemons on one database and token: only the elected leader polls
    updates (no 409 at all), every command is handled once, and when the leader dies
    the other instance takes over polling."""
    feed_server.route("/a.xml", Response(rss([item(1)])))
    feed_server.route("/b.xml", Response(rss([item(2)])))
    directory = daemon_config(tmp_path, tg, feed_server)
    first = start_daemon(directory, tg)
    assert wait_until(lambda: len(tg.requests("getUpdates")) >= 1, 30), "nobody polls"
    second = start_daemon(directory, tg)
    users = [5000 + n for n in range(12)]
    try:
        for n, user in enumerate(users):
            tg.user_message(user, "/subscribe Starlink" if n % 2 else "/start")
            time.sleep(0.2)
        answered = lambda: all(len(tg.messages(u)) >= 1 for u in users)  # noqa: E731
        assert wait_until(answered, 60), [len(tg.messages(u)) for u in users]
        time.sleep(3)  # any duplicate would have arrived by now
        assert [len(tg.messages(u)) for u in users] == [1] * len(users)
        assert first.poll() is None and second.poll() is None
        assert len(tg.requests("getUpdates", status=409)) == 0
        first.kill()  # the leader dies: its lock goes with it
        first.wait(10)
        late = 6000
        tg.user_message(late, "/start")
        assert wait_until(lambda: len(tg.messages(late)) == 1, 60), "no failover"
    finally:
        codes = [stop(second)]
        if first.poll() is None:
            codes.append(stop(first))
    assert [c for c, _ in codes] == [0] * len(codes), [e[-2000:] for _, e in codes]
    conflicts = len(tg.requests("getUpdates", status=409))
    print(
        f"T10: {len(users)} commands, answered once each; 409 conflicts: {conflicts}; failover ok"
    )
