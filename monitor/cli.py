"""The ``monitor`` command: argument parsing and dispatch to monitor/commands/.

Every sub-command has ``--help``. Global options: ``--config DIR`` (else
``$MONITOR_CONFIG``, else ./config), ``--log-level``, ``--log-json``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from monitor import __version__

Handler = Callable[[argparse.Namespace], int]


def _cmd_demo(args: argparse.Namespace) -> int:
    from monitor.commands.common import run
    from monitor.config import config_directory
    from monitor.demo.runner import fresh_database, run_demo, serve_demo
    from monitor.logs import setup_logging

    setup_logging(args.log_level or "WARNING", json=args.log_json)
    if args.serve:
        return serve_demo(args.port or 8089, cycle=args.cycle)
    database = fresh_database(Path(args.state))
    return run(run_demo(config_directory(args.config), database=database, port=args.port))


def _lazy(module: str, name: str) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        import importlib

        fn: Handler = getattr(importlib.import_module(f"monitor.commands.{module}"), name)
        return fn(args)

    return handler


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="DIR",
        help="configuration directory (default: $MONITOR_CONFIG or ./config)",
    )
    common.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    common.add_argument(
        "--log-json", action="store_true", default=None, help="JSON log lines even on a terminal"
    )

    parser = argparse.ArgumentParser(
        prog="monitor",
        description="Media-monitoring alert daemon: feeds, stories, watchlist matches, alerts.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    add(
        "check",
        _lazy("config_cmds", "cmd_check"),
        "validate the configuration and run the watchlist examples",
    )
    schema = add(
        "schema", _lazy("config_cmds", "cmd_schema"), "print the JSON Schema of the YAML files"
    )
    schema.add_argument(
        "file", nargs="?", choices=["monitor.yaml", "feeds.yaml", "watchlists.yaml"]
    )

    poll = add(
        "poll",
        _lazy("run_cmds", "cmd_poll"),
        "poll every feed once, deliver alerts, print a summary",
    )
    poll.add_argument(
        "--once", action="store_true", required=True, help="one cycle of every feed (required)"
    )
    add("run", _lazy("run_cmds", "cmd_run"), "run the daemon until SIGTERM/SIGINT")

    match = add(
        "match",
        _lazy("tools", "cmd_match"),
        "test the watchlists against a text or HTML file (exit 0 if any matched)",
    )
    match.add_argument("file", metavar="FILE", help="a text or HTML file, or - for standard input")
    match.add_argument("--watchlist", metavar="NAME", help="only this watchlist")
    match.add_argument("--json", action="store_true", help="one JSON object per watchlist")
    replay = add(
        "replay",
        _lazy("tools", "cmd_replay"),
        "run a watchlist over stored items: how many stories would have alerted",
    )
    replay.add_argument("--watchlist", metavar="NAME", required=True)
    replay.add_argument("--since", default="30d", help="how far back (default 30d)")
    replay.add_argument("--query", help="try this query instead of the saved one")
    replay.add_argument("--samples", type=int, default=10, help="stories to show (default 10)")

    extract = add(
        "extract", _lazy("tools", "cmd_extract"), "print the main text of a saved article page"
    )
    extract.add_argument("file", metavar="FILE.html")
    extract.add_argument("--url", help="the page's address (helps the extractor)")
    compare = add(
        "compare",
        _lazy("tools", "cmd_compare"),
        "same-story decision for two text or HTML files (exit 0 = same story)",
    )
    compare.add_argument("a", metavar="A")
    compare.add_argument("b", metavar="B")
    compare.add_argument("--json", action="store_true", help='{"same_story", "score", "signal"}')

    send_test = add(
        "send-test",
        _lazy("send_test", "cmd_send_test"),
        "send a sample alert to RECIPIENT through the outbox and its channel",
    )
    send_test.add_argument(
        "recipient",
        metavar="RECIPIENT",
        help="a recipient's name from monitor.yaml, or its key (telegram:ID, email:ADDRESS)",
    )
    status = add("status", _lazy("status", "cmd_status"), "feeds' health and the outbox state")
    status.add_argument("--json", action="store_true", help="one JSON document, for scripts")

    demo = add("demo", _cmd_demo, "serve sample feeds locally, poll them, show the alerts")
    demo.add_argument(
        "--port", type=int, default=0, help="port of the sample server (default: any free)"
    )
    demo.add_argument(
        "--serve",
        action="store_true",
        help="only serve the sample feeds (port 8089 unless --port) until Ctrl-C, "
        "for `monitor poll --once` or `monitor run` with the example config",
    )
    demo.add_argument(
        "--cycle",
        type=int,
        choices=[1, 2],
        default=2,
        help="with --serve: 1 = before the news, 2 = after",
    )
    demo.add_argument(
        "--state", default="state/demo", help="directory of the demo database (default: state/demo)"
    )

    feeds = sub.add_parser(
        "feeds",
        help="import or export the feed list as OPML",
        description="import or export the feed list as OPML",
    )
    feeds_sub = feeds.add_subparsers(dest="feeds_command", metavar="ACTION", required=True)
    imp = feeds_sub.add_parser(
        "import", parents=[common], help="append the feeds of an OPML file to feeds.yaml"
    )
    imp.add_argument("file", metavar="FILE.opml")
    imp.set_defaults(handler=_lazy("config_cmds", "cmd_feeds_import"))
    exp = feeds_sub.add_parser(
        "export", parents=[common], help="print the configured feeds as OPML"
    )
    exp.set_defaults(handler=_lazy("config_cmds", "cmd_feeds_export"))

    db = sub.add_parser(
        "db", help="database schema management", description="database schema management"
    )
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = db_sub.add_parser(
        "upgrade", parents=[common], help="create or upgrade the schema (migrations)"
    )
    up.set_defaults(handler=_lazy("run_cmds", "cmd_db_upgrade"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
