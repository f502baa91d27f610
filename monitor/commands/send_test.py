"""``monitor send-test RECIPIENT``: a sample alert through the real path, outbox and all.

The sample is stored like any alert (a story of the built-in feed "monitor send-test",
never polled, and one delivery with high priority, so quiet hours and digest modes let
it through), then the configured sender delivers that one delivery through the
recipient's channel. The outcome is read back from the outbox and printed: the
channel's message reference, or why it was not sent (refused, paused, stopped).
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from monitor.config import Config
from monitor.core.models import Entry, Match, PlannedDelivery, Recipient
from monitor.store import delivery_tables as state_store
from monitor.store import items as item_store
from monitor.store import outbox as outbox_store
from monitor.store.items import upsert_insert
from monitor.store.tables import DeliveryRow, FeedRow

SAMPLE_FEED_URL = "urn:monitor:send-test"
SAMPLE_FEED_NAME = "monitor send-test"
SAMPLE_WATCHLIST = "send-test"
SAMPLE_TEXT = (
    "This is a test alert from monitor. If you can read it, alerts reach you through this channel."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments (for monitor.cli)."""
    parser.add_argument(
        "recipient",
        metavar="RECIPIENT",
        help="a recipient's name from monitor.yaml, or its key (telegram:ID, email:ADDRESS)",
    )


def find_recipient(config: Config, wanted: str) -> Recipient | None:
    """A configured recipient by key (``telegram:123``), address, or YAML name."""
    for recipient in config.recipients:
        if wanted in (recipient.key, recipient.address):
            return recipient
    keys = {r.key for r in config.recipients}
    for entry in config.monitor.recipients:
        if entry.name == wanted:
            for key in _keys_of(entry):
                if key in keys:
                    return next(r for r in config.recipients if r.key == key)
    return None


def _keys_of(entry: Any) -> list[str]:
    """The keys monitor.config gives a recipient entry (see build._recipient_address)."""
    return [
        f"telegram:{getattr(entry, 'chat_id', '')}",
        f"email:{getattr(entry, 'email', '')}",
        f"webhook:{entry.name}",
        f"console:{entry.name}",
    ]


def plan_sample(conn: Connection, recipient: Recipient, now: datetime) -> int:
    """Store a sample story and one high-priority delivery of it; the delivery id."""
    feed = FeedRow.__table__  # type: ignore[attr-defined]
    conn.execute(
        upsert_insert(conn, feed)
        .values(url=SAMPLE_FEED_URL, name=SAMPLE_FEED_NAME, active=False, baseline_done=True)
        .on_conflict_do_nothing(index_elements=["url"])
    )
    feed_id = conn.execute(select(feed.c.id).where(feed.c.url == SAMPLE_FEED_URL)).scalar_one()
    token = uuid.uuid4().hex[:12]
    entry = Entry(
        guid=f"send-test-{token}",
        url=None,
        link="https://example.org/monitor-send-test",
        title=f"monitor test alert {token} for {recipient.key}",
        text=SAMPLE_TEXT,
        published=now,
        content_hash=f"send-test-{token}",
    )
    item_id = item_store.insert_items(conn, feed_id, [entry], now)[entry.key]
    story_id = item_store.start_story(conn, item_id, entry, now)
    hit = SAMPLE_TEXT.index("test alert")
    match = Match(
        SAMPLE_WATCHLIST,
        ("test alert",),
        SAMPLE_TEXT,
        priority="high",
        highlights=((hit, hit + len("test alert")),),
    )
    item_store.insert_matches(conn, story_id, item_id, [match], now)
    planned = PlannedDelivery(recipient.key, recipient.channel, (SAMPLE_WATCHLIST,), "high")
    outbox_store.add_deliveries(conn, story_id, [planned], now)
    delivery = DeliveryRow.__table__  # type: ignore[attr-defined]
    return int(
        conn.execute(select(delivery.c.id).where(delivery.c.story_id == story_id)).scalar_one()
    )


def outcome(conn: Connection, delivery_id: int, recipient: str) -> tuple[bool, str]:
    """(sent?, a sentence saying what happened) for the sample delivery."""
    rows = [r for r in outbox_store.delivery_rows(conn) if r["id"] == delivery_id]
    row = rows[0]
    if row["state"] == "sent":
        return True, f"sent (message {row['message_ref']})"
    state = state_store.recipient_states(conn, [recipient]).get(recipient)
    if state is not None and state.status != "active":
        return False, f"not sent: the recipient is {state.status} ({state.last_error})"
    if state is not None and state.next_attempt_at is not None:
        when = state.next_attempt_at.isoformat(timespec="seconds")
        return False, f"not sent: the recipient is paused until {when} ({state.last_error})"
    error = f" ({row['last_error']})" if row["last_error"] else ""
    return False, f"not sent: {row['state']}{error}"


def cmd_send_test(args: argparse.Namespace) -> int:
    """Send a sample alert to RECIPIENT through the outbox and its channel."""
    from monitor.commands.common import load
    from monitor.commands.run_cmds import with_runtime
    from monitor.service.runtime import Runtime

    config = load(args)
    recipient = find_recipient(config, args.recipient)
    if recipient is None:
        known = ", ".join(r.key for r in config.recipients) or "none configured"
        print(f"error: no recipient {args.recipient!r} (known: {known})", file=sys.stderr)
        return 2
    result: list[bool] = []

    async def send(runtime: Runtime) -> None:
        if recipient.channel not in runtime.channels:
            print(f"error: channel {recipient.channel!r} is not enabled", file=sys.stderr)
            result.append(False)
            return
        now = runtime.clock.now()
        delivery_id = await runtime.db.write(plan_sample, recipient, now)
        await runtime.sender.send_due(only=[delivery_id])
        sent, sentence = await runtime.db.read(outcome, delivery_id, recipient.key)
        print(f"send-test to {recipient.key} via {recipient.channel}: {sentence}")
        result.append(sent)

    code = with_runtime(args, send)
    return code if code else (0 if result and result[0] else 1)


__all__: Sequence[str] = ["add_arguments", "cmd_send_test", "find_recipient", "plan_sample"]
