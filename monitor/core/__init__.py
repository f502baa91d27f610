"""The pure core: no network, no database, no clock, no asyncio.

Frozen dataclasses and functions that take data (and ``now``) and return decisions.
"""
