"""Secrets: never read from YAML, resolved by name at use time.

The configuration stores the *name* of a secret (``token_env: TELEGRAM_BOT_TOKEN``).
``resolve_secret`` looks it up when a channel starts:

1. ``$CREDENTIALS_DIRECTORY/<name>`` when systemd passes credentials
   (``LoadCredential=TELEGRAM_BOT_TOKEN:/etc/monitor/telegram-token``), else
2. the environment variable ``<name>``.

Resolved values are pydantic ``SecretStr`` (shown as ``**********`` in reprs and logs).
``find_secret_keys`` spots secret-looking keys in YAML data so the loader can reject
them with a message naming the ``*_env`` key to use instead. Nothing here logs a value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from monitor.errors import ConfigError, ConfigProblem

_SECRET_KEY = re.compile(
    r"(?:^|_)(token|password|passwd|secret|api_?key|private_key|credentials?)$", re.IGNORECASE
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_secret_key(key: str) -> bool:
    """True for keys such as ``token``, ``password``, ``bot_token``, ``api_key``."""
    return bool(_SECRET_KEY.search(key)) and not key.lower().endswith("_env")


def find_secret_keys(
    data: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[str | int, ...]]:
    """Paths of every secret-looking key in plain YAML data."""
    if isinstance(data, dict):
        for key, value in data.items():
            if is_secret_key(key):
                yield (*path, key)
            else:
                yield from find_secret_keys(value, (*path, key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from find_secret_keys(item, (*path, index))


def secret_key_message(key: str) -> str:
    """What to tell a user who wrote a secret into YAML (the value is never repeated)."""
    return (
        "secrets are never read from YAML: remove this value, put it in an environment "
        f"variable or a systemd credential, and give its name with {key}_env: NAME"
    )


def find_secret(name: str, *, environ: Mapping[str, str] | None = None) -> SecretStr | None:
    """The secret called ``name`` (credentials directory first, then environment) or None."""
    env = os.environ if environ is None else environ
    if not _NAME.fullmatch(name):
        return None
    directory = env.get("CREDENTIALS_DIRECTORY")
    if directory:
        path = Path(directory) / name
        if path.is_file():
            credential = path.read_text(encoding="utf-8").rstrip("\r\n")
            return SecretStr(credential) if credential else None
    value = env.get(name)
    return SecretStr(value) if value else None


def resolve_secret(name: str, *, environ: Mapping[str, str] | None = None) -> SecretStr:
    """Like ``find_secret`` but a missing secret raises ``ConfigError`` saying where we looked."""
    secret = find_secret(name, environ=environ)
    if secret is None:
        env = os.environ if environ is None else environ
        where = f"environment variable {name} is not set"
        if env.get("CREDENTIALS_DIRECTORY"):
            where = f"no credential $CREDENTIALS_DIRECTORY/{name} and {where}"
        raise ConfigError([ConfigProblem("secrets", None, name, f"secret missing: {where}")])
    return secret
