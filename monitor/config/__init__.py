"""Configuration: three YAML files in one directory, validated once, loudly.

``--config DIR``, else ``$MONITOR_CONFIG``, else ``./config`` holds:

- ``monitor.yaml``    the daemon: database, fetching, channels, recipients, admins
- ``feeds.yaml``      the feeds to poll (``monitor import-opml`` appends to it)
- ``watchlists.yaml`` what to look for, with examples that ``monitor check`` runs

``load_config`` returns a frozen ``Config`` or raises ``ConfigError`` carrying every
problem as ``file:line: key.path: message``; ``check_config`` returns the problems.
Secrets are never read from YAML: ``resolve_secret`` finds them by name at use time.
Modules: yaml_source (safe reading, lines, ``${NAME}``), types (value types), models
(pydantic), problems (error translation), build (domain objects, cross-file checks),
loader (the entry points), secrets, schema (JSON Schema).
"""

from monitor.config.build import QueryValidator, WatchlistExamples, terms_query
from monitor.config.loader import (
    FEEDS_FILE,
    MONITOR_FILE,
    WATCHLISTS_FILE,
    Config,
    check_config,
    config_directory,
    default_database_url,
    load_config,
    missing_secrets,
    validate_text,
)
from monitor.config.models import FeedsFile, MonitorSettings, WatchlistsFile
from monitor.config.schema import config_json_schema
from monitor.config.secrets import find_secret, resolve_secret
from monitor.config.types import feed_url_key

__all__ = [
    "FEEDS_FILE",
    "MONITOR_FILE",
    "WATCHLISTS_FILE",
    "Config",
    "FeedsFile",
    "MonitorSettings",
    "QueryValidator",
    "WatchlistExamples",
    "WatchlistsFile",
    "check_config",
    "config_directory",
    "config_json_schema",
    "default_database_url",
    "feed_url_key",
    "find_secret",
    "load_config",
    "missing_secrets",
    "resolve_secret",
    "terms_query",
    "validate_text",
]
