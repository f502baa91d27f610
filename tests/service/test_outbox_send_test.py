"""``monitor send-test RECIPIENT``: a sample alert through the outbox and the real channel."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

import pytest

from monitor.commands.send_test import add_arguments, cmd_send_test
from tests.support.configs import write_config


def args_for(directory: Path, recipient: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    parser.add_argument("--log-level")
    parser.add_argument("--log-json", action="store_true", default=None)
    add_arguments(parser)
    return parser.parse_args(["--config", str(directory), "--log-level", "WARNING", recipient])


def test_send_test_delivers_a_sample_through_the_outbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(
        tmp_path,
        feeds=[],
        recipients=[
            {"name": "desk", "channel": "console", "quiet_hours": "00:00-23:59"},
        ],
    )
    assert cmd_send_test(args_for(tmp_path, "desk")) == 0
    out = capsys.readouterr().out
    assert "monitor test alert" in out  # the console channel printed the alert
    assert "send-test to console:desk via console: sent (message console:1)" in out
    with sqlite3.connect(tmp_path / "monitor.db") as conn:
        rows = conn.execute("SELECT state, priority, watchlists FROM delivery").fetchall()
    assert rows == [("sent", "high", '["send-test"]')]
    assert cmd_send_test(args_for(tmp_path, "console:desk")) == 0  # by key, again
    assert "send-test to console:desk via console: sent" in capsys.readouterr().out
    with sqlite3.connect(tmp_path / "monitor.db") as conn:
        assert conn.execute("SELECT count(*) FROM delivery WHERE state = 'sent'").fetchone() == (2,)


def test_send_test_names_the_known_recipients_when_the_name_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(tmp_path, feeds=[])
    assert cmd_send_test(args_for(tmp_path, "nobody")) == 2
    assert "console:desk" in capsys.readouterr().err
