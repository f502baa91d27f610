"""Alert planning: which new items may alert, and who receives which story.

Pure functions. A feed's first poll is a baseline (``backfill`` decides how many of
its existing items may alert); every recipient gets one delivery per story naming
all of their watchlists that matched it.

Personal watchlists (typed into the bot with /watch) are compiled with the configured
ones under a namespaced name, ``~<owner recipient key>/<name>``: only their owner
receives their alerts, whatever the owner's subscriptions. ``Muting`` says what a
recipient silenced for the item being planned (the story, its outlet, a watchlist for a
while): a muted recipient gets no delivery, a muted watchlist does not count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.core.models import Entry, Match, PlannedDelivery, Recipient

PERSONAL_PREFIX = "~"


def personal_watchlist(owner: str, name: str) -> str:
    """The compiled name of ``owner``'s personal watchlist ``name``: ``~telegram:42/floods``."""
    return f"{PERSONAL_PREFIX}{owner}/{name}"


def split_personal(watchlist: str) -> tuple[str, str] | None:
    """(owner recipient key, name) of a personal watchlist's compiled name, else None."""
    if not watchlist.startswith(PERSONAL_PREFIX):
        return None
    owner, slash, name = watchlist[len(PERSONAL_PREFIX) :].partition("/")
    if not slash or not owner or not name:
        return None
    return owner, name


def display_watchlist(watchlist: str) -> str:
    """The name people see: a personal watchlist without its owner prefix."""
    personal = split_personal(watchlist)
    return personal[1] if personal else watchlist


@dataclass(frozen=True, slots=True)
class Muting:
    """What recipients silenced for one item: every alert (its story or its outlet is
    muted), or some watchlists (muted for a while)."""

    recipients: frozenset[str] = frozenset()
    watchlists: frozenset[tuple[str, str]] = frozenset()  # (recipient key, watchlist)

    def __bool__(self) -> bool:
        return bool(self.recipients or self.watchlists)


NO_MUTING = Muting()


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


def follows(recipient: Recipient, watchlist: str) -> bool:
    """Whether ``recipient`` receives ``watchlist``: its own personal watchlists, and the
    configured ones it subscribes to (all of them when ``watchlists`` is None)."""
    personal = split_personal(watchlist)
    if personal is not None:
        return personal[0] == recipient.key
    return recipient.watchlists is None or watchlist in recipient.watchlists


def plan_deliveries(
    matches: Sequence[Match], recipients: Sequence[Recipient], muting: Muting = NO_MUTING
) -> list[PlannedDelivery]:
    """One delivery per recipient who follows at least one matched, unmuted watchlist."""
    planned = []
    for recipient in recipients:
        if recipient.key in muting.recipients:
            continue
        mine = [
            m
            for m in matches
            if follows(recipient, m.watchlist)
            and (recipient.key, m.watchlist) not in muting.watchlists
        ]
        if not mine:
            continue
        names = tuple(dict.fromkeys(m.watchlist for m in mine))
        high = any(m.priority == "high" for m in mine)
        planned.append(
            PlannedDelivery(recipient.key, recipient.channel, names, "high" if high else "normal")
        )
    return planned
