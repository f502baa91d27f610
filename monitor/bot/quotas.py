"""Limits on what users may do: commands per minute, stored rows, personal watchlists.

``CommandRate`` is a token bucket per principal (``commands_per_minute`` tokens,
refilled continuously): a flood is dropped in memory before any database or API work,
and the flooder is told once per bucket refill, not once per message. Buckets of idle
users are forgotten, so a flood of distinct ids does not grow memory for ever.

``personal_limits`` are the query limits of a personal watchlist: the bot's tighter
``BOT_LIMITS`` with the configured length and size quotas. ``check_personal`` validates
a /watch: its name, its query (the language of watchlists.yaml, nothing run as a regular
expression) and that it compiles. Pure, except for the time the rate is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from monitor.config.operations import BotQuotas
from monitor.core.matcher import compile_watchlists
from monitor.core.models import WatchlistSpec
from monitor.core.query import BOT_LIMITS, QueryLimits, QuerySyntaxError, parse_query

PERSONAL_NAME = re.compile(r"[^\W_][\w.-]{0,31}")
_IDLE_S = 600.0


@dataclass
class _Bucket:
    tokens: float
    at: float
    warned: bool = False


class CommandRate:
    """At most ``per_minute`` commands per principal, with bursts up to ``per_minute``."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[int, _Bucket] = {}
        self.dropped = 0

    def allow(self, principal: int, now: float) -> tuple[bool, bool]:
        """(allowed, warn): ``warn`` is True for the first refusal of a burst."""
        bucket = self._buckets.get(principal)
        if bucket is None:
            if len(self._buckets) > 50_000:
                self._forget_idle(now)
            bucket = self._buckets[principal] = _Bucket(float(self.per_minute), now)
        rate = self.per_minute / 60.0
        bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.warned = False
            return True, False
        self.dropped += 1
        warn = not bucket.warned
        bucket.warned = True
        return False, warn

    def wait_s(self, principal: int) -> float:
        """Seconds until the principal may send one more command."""
        bucket = self._buckets.get(principal)
        if bucket is None or bucket.tokens >= 1.0:
            return 0.0
        return (1.0 - bucket.tokens) * 60.0 / self.per_minute

    def _forget_idle(self, now: float) -> None:
        self._buckets = {k: b for k, b in self._buckets.items() if now - b.at < _IDLE_S}


def personal_limits(quotas: BotQuotas) -> QueryLimits:
    """The query limits of personal watchlists: BOT_LIMITS, with the configured quotas."""
    return replace(BOT_LIMITS, max_length=quotas.query_length, max_nodes=quotas.query_parts)


def check_personal(name: str, query: str, limits: QueryLimits) -> str | None:
    """Why a personal watchlist cannot be saved, or None when it can."""
    if not PERSONAL_NAME.fullmatch(name):
        return (
            "A watchlist name is one word of up to 32 letters, digits, '.', '-' or '_' "
            "(e.g. floods)."
        )
    if not query.strip():
        return "Give a query after the name, e.g. /watch floods flood* NEAR/5 Jakarta"
    try:
        parse_query(query, limits=limits)
        compile_watchlists([WatchlistSpec(name=name, query=query)], limits=limits)
    except QuerySyntaxError as exc:
        return f"The query cannot be used: {exc}"
    return None


def over_quota(count: int, quota: int, what: str) -> str | None:
    """The refusal when ``count`` rows already reach ``quota``, else None."""
    if count >= quota:
        return f"This chat already has {count} {what} (the limit is {quota})."
    return None
