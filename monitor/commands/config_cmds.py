"""``monitor check``, ``monitor schema`` and ``monitor feeds import|export``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from monitor.config import (
    FEEDS_FILE,
    check_config,
    config_directory,
    config_json_schema,
    load_config,
    missing_secrets,
)
from monitor.core.matcher import run_examples
from monitor.core.query import validate_query
from monitor.errors import ConfigError
from monitor.sources.opml import merge_into_feeds_yaml, read_opml, write_opml


def cmd_check(args: argparse.Namespace) -> int:
    """Validate every file, run the watchlist examples; print every problem."""
    directory = config_directory(args.config)
    problems = check_config(directory, query_validator=validate_query)
    lines = [f"error: {p}" for p in problems]
    failed_examples = 0
    if not problems:
        config = load_config(directory, query_validator=validate_query)
        lines += [f"error: {p}" for p in missing_secrets(config)]
        for spec in config.watchlists:
            examples = config.examples.get(spec.name)
            if examples is None:
                continue
            for failure in run_examples(spec, examples):
                failed_examples += 1
                where = config.problem("watchlists.yaml", config.watchlist_path(spec.name), "")
                lines.append(f"FAIL {where.file}:{where.line}: watchlist {spec.name!r}: {failure}")
        summary = (
            f"ok: {len(config.feeds)} feeds, {len(config.watchlists)} watchlists, "
            f"{len(config.recipients)} recipients in {directory}"
        )
    for line in lines:
        print(line, file=sys.stderr)
    if lines:
        print(f"{len(lines)} problem(s) in {directory}", file=sys.stderr)
        return 1
    print(summary)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema of one file (or all, keyed by file name)."""
    schemas = config_json_schema()
    out = schemas[args.file] if args.file else schemas
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


def cmd_feeds_import(args: argparse.Namespace) -> int:
    """Append the feeds of an OPML file to feeds.yaml (existing text and comments kept)."""
    directory = config_directory(args.config)
    data = Path(args.file).read_bytes()
    try:
        feeds = read_opml(data, source=args.file)
        added, skipped = merge_into_feeds_yaml(directory / FEEDS_FILE, feeds)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    for feed in added:
        print(f"added: {feed.name} <{feed.url}>")
    print(
        f"added {len(added)} feed(s), skipped {len(skipped)} already present, "
        f"in {directory / FEEDS_FILE}"
    )
    return 0


def cmd_feeds_export(args: argparse.Namespace) -> int:
    """Print the configured feeds as OPML."""
    directory = config_directory(args.config)
    try:
        config = load_config(directory, query_validator=validate_query)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(write_opml(config.feeds))
    return 0
