"""Several ``monitor run`` instances on one PostgreSQL database: start them, see who did what.

Used by tests/service/test_scale_out.py:

- ``monitor_command``: a one-shot ``monitor`` command (``db upgrade``, ``run``);
- ``start_all``: the first instance, then the others at once;
- ``leaders`` / ``leader_holders``: ``leader_elected`` lines, sessions holding the lock;
- ``ClaimSampler``: which instance holds which delivery claims and feed leases, sampled
  from the database in the background;
- ``shares`` / ``stored_across`` / ``split_stories``: how polls, copies of one story and
  clustering went, from the instances' ``poll`` log lines and the stored items.

Test support only: reads logs and the database, never changes the daemon's state.
"""

from __future__ import annotations

import bisect
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from monitor.service.leader import LEADER_LOCK
from monitor.store.feeds import owner_pid
from tests.support.daemon_runner import REPOSITORY, DaemonProcess, DatabaseReader, Ticker
from tests.support.news_desk import NewsItem


def monitor_command(
    *args: str, config_dir: Path, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """``python -m monitor.cli ARGS --config DIR``, run to completion."""
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args, "--config", str(config_dir)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPOSITORY,
    )


def start_all(instances: Sequence[DaemonProcess]) -> None:
    """Start the first instance, then the others at once, and wait until all run.

    The first start inserts the configured feeds; instances started together on a
    database without them race to insert the same rows (see
    ``test_instances_started_together_all_come_up``).
    """
    instances[0].start(timeout=60)
    for instance in instances[1:]:
        instance.start(wait_ready=False)
    for instance in instances[1:]:
        instance.wait_ready(timeout=60)


def leaders(instances: Sequence[DaemonProcess]) -> list[tuple[float, str, int]]:
    """Every ``leader_elected`` line: (when, instance, run), in time order."""
    found = [
        (line.at, instance.name, line.run)
        for instance in instances
        for line in instance.logs("leader_elected")
    ]
    return sorted(found)


def leader_holders(db: DatabaseReader) -> int:
    """Sessions holding the leader's advisory lock in this database."""
    return db.count(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND objid = :k AND database = (SELECT oid FROM pg_database "
        "WHERE datname = current_database())",
        k=LEADER_LOCK,
    )


class ClaimSampler(Ticker):
    """Samples the database every ``every_s``: which instance holds which delivery claims
    and feed leases (owners name a pid), and whether clustering writers wait on the lock."""

    join_s = 10.0

    def __init__(self, url: str, instances: Sequence[DaemonProcess], every_s: float = 0.5):
        super().__init__(every_s)
        self.db = DatabaseReader(url)
        self.instances = instances
        self.deliveries: dict[int, set[str]] = {}  # delivery id -> instances seen claiming it
        self.lease_samples: Counter[str] = Counter()  # instance -> feeds leased, summed
        self.lock_waits = 0  # backends seen waiting on an advisory lock
        self.samples = 0

    def tick(self) -> None:
        try:
            self._sample()
        except Exception:  # the server may be restarting: skip this sample
            return

    def _sample(self) -> None:
        claims = self.db.rows("SELECT id, claimed_by FROM delivery WHERE claimed_by IS NOT NULL")
        leases = self.db.rows(
            "SELECT lease_owner, count(*) FROM feed WHERE lease_owner IS NOT NULL "
            "GROUP BY lease_owner"
        )
        waits = self.db.count(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
        )
        names: dict[int | None, str] = {r.pid: i.name for i in self.instances for r in i.runs}
        for delivery_id, owner in claims:
            name = names.get(owner_pid(owner))
            if name is not None:
                self.deliveries.setdefault(int(delivery_id), set()).add(name)
        for owner, n in leases:
            name = names.get(owner_pid(owner))
            if name is not None:
                self.lease_samples[name] += int(n)
        self.lock_waits += waits
        self.samples += 1

    def claimed_by(self) -> Counter[str]:
        """Deliveries each instance was seen claiming."""
        return Counter(name for names in self.deliveries.values() for name in names)

    def __exit__(self, *exc_info: object) -> None:
        super().__exit__(*exc_info)
        self.db.close()


@dataclass
class Share:
    """What one instance did, from its ``poll`` log lines."""

    polls: int = 0
    new_items: int = 0
    alerts: int = 0
    errors: int = 0


def shares(instances: Sequence[DaemonProcess], since: float = 0.0) -> dict[str, Share]:
    found = {}
    for instance in instances:
        share = Share()
        for line in instance.logs("poll"):
            if line.at < since:
                continue
            share.polls += 1
            share.new_items += int(line.fields.get("new_items") or 0)
            share.alerts += int(line.fields.get("alerts") or 0)
            share.errors += line.fields.get("status") == "error"
        found[instance.name] = share
    return found


def stored_across(instances: Sequence[DaemonProcess], stories: Sequence[NewsItem]) -> int:
    """How many of ``stories`` had copies stored by more than one instance: for each feed
    carrying a story, the instance whose poll first found new items on it after
    publication stored that copy."""
    finds: dict[str, list[tuple[float, str]]] = {}  # feed -> (when, instance), polls with news
    for instance in instances:
        for line in instance.logs("poll"):
            if line.fields.get("new_items"):
                finds.setdefault(str(line.fields.get("feed")), []).append((line.at, instance.name))
    for found in finds.values():
        found.sort()

    def storers(news: NewsItem) -> set[str]:
        names = set()
        for feed in news.feeds:
            found = finds.get(feed, [])
            first = bisect.bisect_left(found, (news.at,))
            if first < len(found):
                names.add(found[first][1])
        return names

    return sum(1 for news in stories if len(storers(news)) > 1)


def split_stories(db: DatabaseReader) -> tuple[int, int, int]:
    """(published serials stored, items, serials whose copies ended in >1 story)."""
    rows = db.rows(
        "SELECT (regexp_match(title, '\\(story (\\d+)\\)'))[1] AS serial, "
        "count(DISTINCT story_id), count(*) FROM item GROUP BY 1"
    )
    stored = [r for r in rows if r[0] is not None]
    return len(stored), sum(int(r[2]) for r in stored), sum(1 for r in stored if r[1] > 1)
