"""The real sender and the real email channel against aiosmtpd on 127.0.0.1.

Counted at the SMTP server: accepted messages, their Message-IDs, every RCPT/DATA attempt.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitor.channels.email import EmailChannel
from monitor.core.models import Recipient
from monitor.store.database import Database
from tests.service.test_outbox_support import Newsroom, make_sender, run_until, settle
from tests.service.test_outbox_support import sqlite_db as sqlite_db
from tests.support.smtp_server import LocalSMTPServer

ALICE, BOB, ADMIN = "alice@news.test", "bob@news.test", "admin@news.test"


def mailbox(address: str) -> Recipient:
    return Recipient(f"email:{address}", "email", address, timezone="Europe/Berlin")


@pytest.fixture
def smtp() -> Iterator[LocalSMTPServer]:
    with LocalSMTPServer() as server:
        yield server


@pytest.fixture
def email(smtp: LocalSMTPServer) -> EmailChannel:
    return EmailChannel(
        host=smtp.host,
        port=smtp.port,
        sender="Monitor <alerts@monitor.test>",
        starttls=False,
        timeout_s=1.0,
        local_hostname="monitor.test",
    )


async def test_a_tempfail_is_retried_and_delivered_once_with_the_same_message_id(
    sqlite_db: Database, smtp: LocalSMTPServer, email: EmailChannel
) -> None:
    people = [mailbox(ALICE), mailbox(BOB)]
    Newsroom(sqlite_db).story("Ferry line opens", people)
    smtp.tempfail(ALICE, times=2, stage="DATA")
    sender = make_sender(sqlite_db, {"email": email}, people)
    await run_until(sender, lambda: len(smtp.messages_to(ALICE)) == 1)
    await settle(sender, 0.3)
    assert [a.code for a in smtp.attempts("DATA", ALICE)] == [451, 451, 250]
    assert len(smtp.messages_to(ALICE)) == 1 and len(smtp.messages_to(BOB)) == 1
    mail = smtp.messages_to(ALICE)[0]
    assert mail.rcpt_tos == (ALICE,)


async def test_a_refused_recipient_stops_without_retries_and_the_admin_is_told(
    sqlite_db: Database, smtp: LocalSMTPServer, email: EmailChannel
) -> None:
    people = [mailbox(ALICE), mailbox(BOB)]
    news = Newsroom(sqlite_db)
    news.story("Ferry line opens", people)
    news.story("Ferry fares rise", people)
    smtp.permfail(ALICE)
    sender = make_sender(sqlite_db, {"email": email}, people, admins=[mailbox(ADMIN)])
    await run_until(
        sender, lambda: len(smtp.messages_to(BOB)) == 2 and len(smtp.messages_to(ADMIN)) == 1
    )
    await settle(sender, 0.3)
    assert len(smtp.attempts("RCPT", ALICE)) == 1  # no retry after a 550
    assert smtp.messages_to(ALICE) == []
    notice = smtp.messages_to(ADMIN)[0].message
    assert ALICE in str(notice.get("Subject")) or ALICE in notice.get_body().get_content()  # type: ignore[union-attr]
    assert news.scalar("SELECT count(*) FROM delivery WHERE state = 'stopped'") == 2


async def test_a_timeout_after_data_is_resent_with_the_same_message_id(
    sqlite_db: Database, smtp: LocalSMTPServer, email: EmailChannel
) -> None:
    people = [mailbox(ALICE)]
    Newsroom(sqlite_db).story("Ferry line opens", people)
    smtp.hang(ALICE, times=1, seconds=3.0)
    sender = make_sender(sqlite_db, {"email": email}, people)
    await run_until(sender, lambda: len(smtp.messages_to(ALICE)) == 2, timeout=20)
    await settle(sender, 0.3)
    ids = [m.message["Message-ID"] for m in smtp.messages_to(ALICE)]
    assert len(ids) == 2 and ids[0] == ids[1]  # one ambiguous send, one duplicate at most
