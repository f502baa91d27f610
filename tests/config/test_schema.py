"""The JSON Schema per file matches what the loader accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.config import config_json_schema
from monitor.config.yaml_source import parse_yaml
from tests.config.conftest import EXAMPLE_CONFIG, FULL_CONFIG

jsonschema = pytest.importorskip("jsonschema")


def validator(file_name: str) -> Any:
    schema = config_json_schema()[file_name]
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("directory", [EXAMPLE_CONFIG, FULL_CONFIG])
@pytest.mark.parametrize("file_name", ["monitor.yaml", "feeds.yaml", "watchlists.yaml"])
def test_the_shipped_configurations_validate(directory: Path, file_name: str) -> None:
    # read as editors do (YAML 1.2: `fuzzy: off` is a word, not a boolean)
    doc, problems = parse_yaml((directory / file_name).read_text(encoding="utf-8"), file_name, {})
    assert doc is not None and problems == []
    data = doc.data
    errors = [e.message for e in validator(file_name).iter_errors(data)]
    assert errors == []


def test_schema_is_json_and_names_every_file() -> None:
    schemas = config_json_schema()
    assert set(schemas) == {"monitor.yaml", "feeds.yaml", "watchlists.yaml"}
    assert json.loads(json.dumps(schemas)) == schemas
    assert schemas["monitor.yaml"]["additionalProperties"] is False
    assert "description" in schemas["monitor.yaml"]["properties"]["timezone"]


@pytest.mark.parametrize(
    ("file_name", "data", "valid"),
    [
        ("monitor.yaml", {"fetch": {"default_interval": "10m"}}, True),
        ("monitor.yaml", {"fetch": {"default_interval": 600}}, True),
        ("monitor.yaml", {"fetch": {"default_interval": "10 minutes"}}, False),
        ("monitor.yaml", {"fetch": {"max_bytes": "10MiB"}}, True),
        ("monitor.yaml", {"channels": {"telegram": {"token": "x"}}}, False),
        ("monitor.yaml", {"log_levl": "INFO"}, False),
        (
            "monitor.yaml",
            {"recipients": [{"name": "a", "channel": "telegram", "chat_id": 5}]},
            True,
        ),
        ("monitor.yaml", {"recipients": [{"name": "a", "channel": "telegram"}]}, False),
        ("monitor.yaml", {"recipients": [{"name": "a", "channel": "sms"}]}, False),
        (
            "monitor.yaml",
            {"recipients": [{"name": "a", "channel": "console", "mode": "daily 08:00"}]},
            True,
        ),
        (
            "monitor.yaml",
            {"recipients": [{"name": "a", "channel": "console", "mode": "weekly"}]},
            False,
        ),
        ("feeds.yaml", {"feeds": [{"url": "https://x.org/", "backfill": "all"}]}, True),
        ("feeds.yaml", {"feeds": [{"url": "https://x.org/", "backfill": 5}]}, True),
        ("feeds.yaml", {"feeds": [{"url": "https://x.org/", "backfill": "some"}]}, False),
        ("feeds.yaml", {"feeds": [{"url": "ftp://x.org/"}]}, False),
        ("watchlists.yaml", {"watchlists": [{"name": "a", "terms": ["x"], "fuzzy": "off"}]}, True),
        ("watchlists.yaml", {"watchlists": [{"name": "a", "query": "x", "exclude": ["y"]}]}, True),
        ("watchlists.yaml", {"watchlists": [{"name": "a", "query": "x", "fuzzy": 9}]}, False),
    ],
)
def test_schema_accepts_and_rejects_like_the_loader(file_name: str, data: Any, valid: bool) -> None:
    assert validator(file_name).is_valid(data) is valid
