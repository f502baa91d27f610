"""Admin notices: told once, delivered through the same outbox, sender and channels.

``admin_recipients`` turns the ``admins:`` settings into recipients; ``notify_admins``
queues a notice for each of them inside the caller's transaction (unique per notice key
and admin, so raising the same notice twice sends it once); ``notice_alert`` dresses a
notice as an ``Alert`` so every channel can send it without a new method. A notice's
delivery id is negative (minus the notice id) so it never collides with an alert's
(email derives its Message-ID from it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from monitor.config.models import AdminSettings
from monitor.core.models import Alert, AlertMatch, Recipient
from monitor.store import delivery_tables as notice_store
from monitor.store.delivery_tables import Notice

ADMIN_WATCHLIST = "monitor admin"


def admin_recipients(admins: AdminSettings) -> tuple[Recipient, ...]:
    """Telegram chats and email addresses of the administrators, as recipients."""
    found = [
        Recipient(key=f"telegram:{chat}", channel="telegram", address=str(chat))
        for chat in admins.telegram
    ]
    found += [
        Recipient(key=f"email:{address}", channel="email", address=str(address))
        for address in admins.email
    ]
    return tuple(found)


def notify_admins(
    conn: Connection,
    admins: Sequence[Recipient],
    key: str,
    title: str,
    text: str,
    now: datetime,
) -> int:
    """Queue a notice for every admin, once per ``key``; returns how many rows are new."""
    return notice_store.add_notice(conn, key, admins, title, text, now)


def recipient_stopped_notice(recipient: str, error: str) -> tuple[str, str]:
    """(title, text) of the notice sent when a recipient's deliveries stop for good."""
    title = f"monitor: alerts to {recipient} stopped"
    text = (
        f"Delivery to {recipient} failed permanently: {error}. Its alerts are kept "
        "(state 'stopped') and go out again when the recipient is resumed."
    )
    return title, text


def notice_alert(notice: Notice) -> Alert:
    """A notice in the shape every channel can render and send."""
    return Alert(
        delivery_id=-notice.id,
        recipient=notice.recipient,
        channel=notice.channel,
        story_id=0,
        title=notice.title,
        url=None,
        source="monitor",
        published=notice.created_at,
        matches=(AlertMatch(ADMIN_WATCHLIST, (), notice.text),),
        attempts=notice.attempts,
    )


def notice_recipient(notice: Notice, address: str | None = None) -> Recipient:
    return Recipient(
        key=notice.recipient, channel=notice.channel, address=address or notice.address
    )
