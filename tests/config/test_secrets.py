"""Secrets are resolved by name at use time: systemd credentials first, then the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from monitor.config import find_secret, load_config, missing_secrets, resolve_secret
from monitor.config.secrets import is_secret_key
from monitor.errors import ConfigError
from tests.config.conftest import FULL_CONFIG


def test_from_the_environment() -> None:
    secret = resolve_secret("BOT_TOKEN", environ={"BOT_TOKEN": "123:abc"})
    assert isinstance(secret, SecretStr)
    assert secret.get_secret_value() == "123:abc"
    assert "123:abc" not in repr(secret) and "123:abc" not in str(secret)


def test_credentials_directory_wins_and_trailing_newline_is_dropped(tmp_path: Path) -> None:
    (tmp_path / "BOT_TOKEN").write_text("from-credential\n", encoding="utf-8")
    environ = {"CREDENTIALS_DIRECTORY": str(tmp_path), "BOT_TOKEN": "from-env"}
    assert resolve_secret("BOT_TOKEN", environ=environ).get_secret_value() == "from-credential"
    environ = {"CREDENTIALS_DIRECTORY": str(tmp_path), "OTHER": "from-env"}
    assert resolve_secret("OTHER", environ=environ).get_secret_value() == "from-env"


def test_missing_secret_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="environment variable NOPE is not set"):
        resolve_secret("NOPE", environ={})
    with pytest.raises(ConfigError, match=r"no credential \$CREDENTIALS_DIRECTORY/NOPE"):
        resolve_secret("NOPE", environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert find_secret("EMPTY", environ={"EMPTY": ""}) is None


def test_names_cannot_escape_the_credentials_directory(tmp_path: Path) -> None:
    (tmp_path / "outside").write_text("x", encoding="utf-8")
    credentials = tmp_path / "creds"
    credentials.mkdir()
    environ = {"CREDENTIALS_DIRECTORY": str(credentials)}
    assert find_secret("../outside", environ=environ) is None


def test_missing_secrets_of_a_config_point_at_their_keys(tmp_path: Path) -> None:
    config = load_config(FULL_CONFIG, environ={})
    environ = {"TEST_BOT_TOKEN": "t", "SMTP_USER": "u", "CREDENTIALS_DIRECTORY": str(tmp_path)}
    (tmp_path / "SMTP_PASSWORD").write_text("p", encoding="utf-8")
    problems = missing_secrets(config, environ=environ)
    lines = (FULL_CONFIG / "monitor.yaml").read_text(encoding="utf-8").splitlines()
    assert [(p.key, lines[(p.line or 0) - 1].split(":")[0].strip()) for p in problems] == [
        ("database_password_env", "database_password_env"),
        ("channels.webhook.secret_env", "secret_env"),
    ]
    assert "WEBHOOK_SECRET" in problems[1].message


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("token", True),
        ("bot_token", True),
        ("password", True),
        ("smtp_password", True),
        ("api_key", True),
        ("apikey", True),
        ("secret", True),
        ("token_env", False),
        ("password_env", False),
        ("tokens_seen", False),
        ("name", False),
    ],
)
def test_secret_looking_keys(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret
