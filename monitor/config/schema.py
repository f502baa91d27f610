"""JSON Schema of each configuration file, for ``monitor schema`` and editors.

Generated from the pydantic models, so it cannot drift from what the loader accepts.
It describes the YAML as written (durations as seconds or "10m", backfill as
none/all/N ...). Two things it cannot express: ``${NAME}`` expansion in non-string
values, and references between files (checked by ``monitor check``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from monitor.config.models import FeedsFile, MonitorSettings, WatchlistsFile

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_FILES: dict[str, type[BaseModel]] = {
    "monitor.yaml": MonitorSettings,
    "feeds.yaml": FeedsFile,
    "watchlists.yaml": WatchlistsFile,
}


def config_json_schema() -> dict[str, dict[str, Any]]:
    """``{"monitor.yaml": schema, "feeds.yaml": schema, "watchlists.yaml": schema}``."""
    schemas = {}
    for file_name, model in _FILES.items():
        schema = model.model_json_schema(by_alias=True, mode="validation")
        schemas[file_name] = {
            "$schema": SCHEMA_DIALECT,
            "title": file_name,
            **{k: v for k, v in schema.items() if k != "title"},
        }
    return schemas
