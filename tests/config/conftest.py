"""Fixtures for configuration tests: write a config directory from YAML snippets."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO / "config"
FULL_CONFIG = REPO / "tests" / "fixtures" / "config" / "full"

MINIMAL_MONITOR = """\
recipients:
  - name: demo
    channel: console
"""
MINIMAL_FEEDS = """\
feeds:
  - url: https://news.example.org/rss
    name: News
    tags: [en]
"""
MINIMAL_WATCHLISTS = """\
watchlists:
  - name: Starlink
    terms: [Starlink]
"""

ConfigDir = Callable[..., Path]


@pytest.fixture
def config_dir(tmp_path: Path) -> ConfigDir:
    """``config_dir(monitor=..., feeds=..., watchlists=...)`` writes the files (dedented);
    a file not given gets a small valid default; ``None`` leaves it out."""

    def write(
        monitor: str | None = MINIMAL_MONITOR,
        feeds: str | None = MINIMAL_FEEDS,
        watchlists: str | None = MINIMAL_WATCHLISTS,
    ) -> Path:
        directory = tmp_path / "config"
        directory.mkdir(exist_ok=True)
        for name, text in (
            ("monitor.yaml", monitor),
            ("feeds.yaml", feeds),
            ("watchlists.yaml", watchlists),
        ):
            if text is not None:
                (directory / name).write_text(textwrap.dedent(text), encoding="utf-8")
        return directory

    return write


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    """A writable copy of the example configuration."""
    target = tmp_path / "example"
    shutil.copytree(EXAMPLE_CONFIG, target)
    return target
