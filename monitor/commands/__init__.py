"""Handlers of the ``monitor`` sub-commands; ``monitor/cli.py`` builds the parser.

Each handler takes the parsed ``argparse.Namespace`` and returns the exit code.
"""
