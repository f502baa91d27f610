"""Load the configuration directory into one frozen ``Config``, or report every problem.

Steps: read each file safely (yaml_source), reject secrets written into YAML, validate
each file with its pydantic model (models), then check references between files and
build the domain objects the rest of monitor uses (build). Every problem found in any
step is collected: ``load_config`` raises one ``ConfigError`` carrying all of them,
``check_config`` returns them.

It reads files and the environment given to it; it never creates directories,
connects to anything or resolves secrets (see monitor.config.secrets).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from monitor.config.build import (
    Collector,
    QueryValidator,
    WatchlistExamples,
    build_feeds,
    build_recipients,
    build_watchlists,
)
from monitor.config.models import FeedsFile, MonitorSettings, WatchlistsFile
from monitor.config.problems import translate
from monitor.config.secrets import find_secret, find_secret_keys, secret_key_message
from monitor.config.yaml_source import Path_, YamlDocument, format_path, parse_yaml, read_yaml
from monitor.core.models import Feed, Recipient, WatchlistSpec
from monitor.errors import ConfigError, ConfigProblem

MONITOR_FILE = "monitor.yaml"
FEEDS_FILE = "feeds.yaml"
WATCHLISTS_FILE = "watchlists.yaml"
FILES = (MONITOR_FILE, FEEDS_FILE, WATCHLISTS_FILE)

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, eq=False)
class Config:
    """The whole validated configuration."""

    directory: Path
    monitor: MonitorSettings
    feeds: tuple[Feed, ...]
    watchlists: tuple[WatchlistSpec, ...]
    recipients: tuple[Recipient, ...]
    examples: Mapping[str, WatchlistExamples]  # by watchlist name
    database_url: str
    documents: Mapping[str, YamlDocument]  # by file name: data and lines, for problem()

    @property
    def monitor_file(self) -> Path:
        return self.directory / MONITOR_FILE

    @property
    def feeds_file(self) -> Path:
        return self.directory / FEEDS_FILE

    @property
    def watchlists_file(self) -> Path:
        return self.directory / WATCHLISTS_FILE

    def problem(self, file_name: str, path: Path_, message: str) -> ConfigProblem:
        """A problem at a key of one file (e.g. a failing watchlist example), with its line."""
        doc = self.documents[file_name]
        return ConfigProblem(doc.file, doc.line_of(path), format_path(path), message)

    def watchlist_path(self, name: str) -> Path_:
        """The key path of a watchlist in watchlists.yaml, for ``problem``."""
        return ("watchlists", [spec.name for spec in self.watchlists].index(name))


def config_directory(
    explicit: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """``--config DIR``, else ``$MONITOR_CONFIG``, else ``./config``."""
    env = os.environ if environ is None else environ
    return Path(explicit or env.get("MONITOR_CONFIG") or "config")


def default_database_url(environ: Mapping[str, str]) -> str:
    """SQLite in systemd's ``$STATE_DIRECTORY`` (the first one), else ``./state``."""
    state = environ.get("STATE_DIRECTORY", "").split(":")[0]
    return f"sqlite:///{Path(state or 'state') / 'monitor.db'}"


def _strip_paths(data: Any, paths: list[Path_]) -> Any:
    """A copy of ``data`` without the keys at ``paths``."""
    if not paths:
        return data
    if isinstance(data, dict):
        return {
            key: _strip_paths(value, [p[1:] for p in paths if p[0] == key and len(p) > 1])
            for key, value in data.items()
            if (key,) not in paths
        }
    if isinstance(data, list):
        return [
            _strip_paths(item, [p[1:] for p in paths if p[0] == index and len(p) > 1])
            for index, item in enumerate(data)
        ]
    return data


def _validate(doc: YamlDocument, model: type[M], found: Collector, reported: set[str]) -> M | None:
    """Validate one document; errors at keys already reported by the reader are dropped."""
    secrets = list(find_secret_keys(doc.data))
    for path in secrets:
        found.at(doc, path, secret_key_message(str(path[-1])))
    try:
        return model.model_validate(_strip_paths(doc.data, secrets))
    except ValidationError as exc:
        found.problems += [p for p in translate(exc, doc, model) if p.key not in reported]
        return None


def _read(
    directory: Path, name: str, model: type[M], environ: Mapping[str, str], found: Collector
) -> tuple[YamlDocument | None, M | None]:
    doc, problems = read_yaml(directory / name, environ)
    if doc is None:
        found.problems += problems
        return None, None
    validation = Collector()
    result = _validate(doc, model, validation, {p.key for p in problems if p.key})
    found.problems += sorted([*problems, *validation.problems], key=lambda p: p.line or 0)
    return doc, result


def _load(
    directory: Path, query_validator: QueryValidator | None, environ: Mapping[str, str] | None
) -> tuple[Config | None, list[ConfigProblem]]:
    env = os.environ if environ is None else environ
    found = Collector()
    if not directory.is_dir():
        found.problems.append(
            ConfigProblem(str(directory), None, "", "configuration directory not found")
        )
        return None, found.problems
    monitor_doc, settings = _read(directory, MONITOR_FILE, MonitorSettings, env, found)
    feeds_doc, feeds_file = _read(directory, FEEDS_FILE, FeedsFile, env, found)
    lists_doc, lists_file = _read(directory, WATCHLISTS_FILE, WatchlistsFile, env, found)

    feeds = None
    if feeds_doc and feeds_file:
        fetch = settings.fetch if settings else None
        feeds = build_feeds(feeds_doc, feeds_file, fetch, found)
    watchlists: tuple[WatchlistSpec, ...] | None = None
    examples: dict[str, WatchlistExamples] = {}
    if lists_doc and lists_file:
        watchlists, examples = build_watchlists(
            lists_doc, lists_file, feeds, query_validator, found
        )
    recipients = None
    if monitor_doc and settings:
        names = {spec.name for spec in watchlists} if watchlists is not None else None
        recipients = build_recipients(monitor_doc, settings, names, found)

    if found.problems or settings is None or feeds is None or watchlists is None:
        order = {str(directory / name): n for n, name in enumerate(FILES)}
        return None, sorted(found.problems, key=lambda p: (order.get(p.file, -1), p.line or 0))
    assert monitor_doc and feeds_doc and lists_doc and recipients is not None
    config = Config(
        directory=directory,
        monitor=settings,
        feeds=feeds,
        watchlists=watchlists,
        recipients=recipients,
        examples=MappingProxyType(examples),
        database_url=settings.database_url or default_database_url(env),
        documents=MappingProxyType(
            {MONITOR_FILE: monitor_doc, FEEDS_FILE: feeds_doc, WATCHLISTS_FILE: lists_doc}
        ),
    )
    return config, []


def load_config(
    directory: Path,
    *,
    query_validator: QueryValidator | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Load and validate ``directory``; raise ``ConfigError`` listing every problem.

    ``query_validator`` checks query syntax (the matching engine's ``validate_query``);
    ``environ`` replaces ``os.environ`` for ``${NAME}`` expansion and STATE_DIRECTORY.
    """
    config, problems = _load(Path(directory), query_validator, environ)
    if config is None:
        raise ConfigError(problems)
    return config


def check_config(
    directory: Path,
    *,
    query_validator: QueryValidator | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[ConfigProblem]:
    """Every problem of the configuration in ``directory`` (empty when valid); never raises
    for bad input."""
    return _load(Path(directory), query_validator, environ)[1]


def validate_text(
    text: str, file: str, model: type[M], *, environ: Mapping[str, str] | None = None
) -> tuple[M | None, list[ConfigProblem]]:
    """Parse and validate one file's text on its own (to verify an edit before saving it)."""
    env = os.environ if environ is None else environ
    doc, problems = parse_yaml(text, file, env)
    if doc is None:
        return None, problems
    found = Collector()
    result = _validate(doc, model, found, {p.key for p in problems if p.key})
    return (result if not problems else None), [*problems, *found.problems]


def missing_secrets(
    config: Config, *, environ: Mapping[str, str] | None = None
) -> list[ConfigProblem]:
    """Secrets the configuration names that cannot be found now (for ``monitor check``)."""
    settings = config.monitor
    channels = settings.channels
    named: list[tuple[Path_, str | None]] = [
        (("database_password_env",), settings.database_password_env)
    ]
    if channels.telegram:
        named.append((("channels", "telegram", "token_env"), channels.telegram.token_env))
    if channels.email:
        named.append((("channels", "email", "username_env"), channels.email.username_env))
        named.append((("channels", "email", "password_env"), channels.email.password_env))
    if channels.webhook:
        named.append((("channels", "webhook", "secret_env"), channels.webhook.secret_env))
    return [
        config.problem(
            MONITOR_FILE,
            path,
            f"secret {name} not found (no $CREDENTIALS_DIRECTORY/{name}, "
            f"no environment variable {name})",
        )
        for path, name in named
        if name and find_secret(name, environ=environ) is None
    ]
