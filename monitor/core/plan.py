"""Alert planning: which new items may alert, and who receives which story.

Pure functions. A feed's first poll is a baseline (``backfill`` decides how many of
its existing items may alert); every recipient gets one delivery per story naming
all of their watchlists that matched it.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.core.models import Entry, Match, PlannedDelivery, Recipient


def alerting_keys(
    entries: Sequence[Entry], *, baseline_done: bool, backfill: int | None
) -> set[str]:
    """Keys of the new entries allowed to alert.

    After the baseline every new entry may alert. On the first poll, ``backfill`` says
    how many of the newest entries may: 0 = none, None = all, N = the newest N.
    """
    if baseline_done or backfill is None:
        return {e.key for e in entries}
    if backfill <= 0:
        return set()
    newest = sorted(entries, key=lambda e: (e.published, -e.position), reverse=True)
    return {e.key for e in newest[:backfill]}


def plan_deliveries(
    matches: Sequence[Match], recipients: Sequence[Recipient]
) -> list[PlannedDelivery]:
    """One delivery per recipient who follows at least one matched watchlist."""
    planned = []
    for recipient in recipients:
        mine = [
            m
            for m in matches
            if recipient.watchlists is None or m.watchlist in recipient.watchlists
        ]
        if not mine:
            continue
        names = tuple(dict.fromkeys(m.watchlist for m in mine))
        high = any(m.priority == "high" for m in mine)
        planned.append(
            PlannedDelivery(recipient.key, recipient.channel, names, "high" if high else "normal")
        )
    return planned
