"""The email channel against a real SMTP server (aiosmtpd on 127.0.0.1): what arrives, and how.

Counts are read at the server: accepted mail with its envelope and parsed message, and
every RCPT/DATA attempt with the reply it got.
"""

from __future__ import annotations

import shutil
import ssl
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr

from monitor.channels.base import Digest
from monitor.channels.email import EmailChannel
from monitor.clock import FixedClock
from monitor.errors import MessageRejectedError, PermanentDeliveryError, TransientDeliveryError
from tests.channels.conftest import (
    PUBLISHED,
    SENDER,
    MakeAlert,
    build_alert,
    email_channel_for,
    email_recipient,
)
from tests.support.feed_server import closed_port
from tests.support.smtp_server import LocalSMTPServer, make_test_certificates

ANA = "ana@readers.test"
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")


async def test_an_alert_arrives_as_valid_mime_with_both_parts(
    smtp: LocalSMTPServer, email: EmailChannel, make_alert: MakeAlert
):
    alert = make_alert(title="Überschwemmung in Köln: Fähre fällt aus")
    ref = await email.send(alert, email_recipient(ANA))

    [mail] = smtp.messages()
    message = mail.message
    assert mail.mail_from == "alerts@monitor.test"
    assert mail.rcpt_tos == (ANA,)
    assert ref == message["Message-ID"] == "<monitor.d42@monitor.test>"
    assert message["Subject"] == "[Ferries, Batam] Überschwemmung in Köln: Fähre fällt aus"
    assert b"Subject: [Ferries, Batam] =?utf-8?" in mail.data
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert not message.defects and not any(p.defects for p in message.walk())
    text = message.get_body(("plain",))
    assert text is not None and "Harbour Daily · 2026-11-26 05:47 CET" in text.get_content()
    assert email.counters.sent == 1


async def test_the_date_comes_from_the_clock(smtp: LocalSMTPServer, make_alert: MakeAlert):
    channel = email_channel_for(smtp, clock=FixedClock(PUBLISHED + timedelta(minutes=3)))
    await channel.send(make_alert(), email_recipient(ANA))
    assert smtp.messages()[0].message["Date"] == "Thu, 26 Nov 2026 04:50:00 +0000"


async def test_451_at_data_is_transient_and_the_retry_carries_the_same_message_id(
    smtp: LocalSMTPServer, email: EmailChannel, make_alert: MakeAlert
):
    smtp.tempfail(ANA, times=1)

    with pytest.raises(TransientDeliveryError, match="451"):
        await email.send(make_alert(), email_recipient(ANA))
    ref = await email.send(make_alert(), email_recipient(ANA))

    assert [a.code for a in smtp.attempts("DATA")] == [451, 250]
    [mail] = smtp.messages()
    assert mail.message["Message-ID"] == ref == "<monitor.d42@monitor.test>"


async def test_451_at_rcpt_is_transient(
    smtp: LocalSMTPServer, email: EmailChannel, make_alert: MakeAlert
):
    smtp.tempfail(ANA, stage="RCPT")
    with pytest.raises(TransientDeliveryError):
        await email.send(make_alert(), email_recipient(ANA))
    await email.send(make_alert(), email_recipient(ANA))
    assert len(smtp.messages_to(ANA)) == 1


async def test_550_at_rcpt_is_permanent_for_that_recipient_only(
    smtp: LocalSMTPServer, email: EmailChannel, make_alert: MakeAlert
):
    smtp.permfail("gone@readers.test")

    with pytest.raises(PermanentDeliveryError, match="550"):
        await email.send(make_alert(), email_recipient("gone@readers.test"))
    await email.send(make_alert(), email_recipient(ANA))

    assert len(smtp.attempts("RCPT", "gone@readers.test")) == 1
    assert [m.rcpt_tos for m in smtp.messages()] == [(ANA,)]


async def test_554_at_data_rejects_the_message_and_says_why(
    smtp: LocalSMTPServer, email: EmailChannel, make_alert: MakeAlert
):
    smtp.permfail(ANA, stage="DATA", times=1)
    with pytest.raises(MessageRejectedError, match=r"at DATA: 554 5\.7\.1 Error: message rejected"):
        await email.send(make_alert(), email_recipient(ANA))


async def test_a_hang_after_data_is_transient_and_the_retry_has_the_same_message_id(
    smtp: LocalSMTPServer, make_alert: MakeAlert
):
    channel = email_channel_for(smtp, timeout_s=0.4)
    smtp.hang(ANA, seconds=1.5)

    with pytest.raises(TransientDeliveryError, match="timed out"):
        await channel.send(make_alert(), email_recipient(ANA))
    await channel.send(make_alert(), email_recipient(ANA))

    first, second = smtp.messages_to(ANA)
    assert (first.hung, second.hung) == (True, False)
    assert first.message["Message-ID"] == second.message["Message-ID"]  # receivers can dedupe


async def test_server_down_is_transient(
    smtp: LocalSMTPServer, email: EmailChannel, make_alert: MakeAlert
):
    with smtp.down(), pytest.raises(TransientDeliveryError):
        await email.send(make_alert(), email_recipient(ANA))
    await email.send(make_alert(), email_recipient(ANA))
    assert len(smtp.messages()) == 1


async def test_header_injection_adds_no_recipient_and_no_header(
    smtp: LocalSMTPServer, make_alert: MakeAlert
):
    channel = email_channel_for(smtp, sender="Desk\r\nBcc: spy@attacker.test <alerts@monitor.test>")
    alert = make_alert(
        title="Flood\r\nBcc: evil@attacker.test\r\nX-Injected: yes\r\n\r\nfake body",
        source="Outlet\nCc: cc@attacker.test",
    )

    await channel.send(alert, email_recipient(ANA))

    [mail] = smtp.messages()
    assert mail.rcpt_tos == (ANA,)
    assert sorted(mail.message.keys()) == sorted(
        [
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "Auto-Submitted",
            "MIME-Version",
            "Content-Type",
        ]
    )
    assert "evil@attacker.test" in mail.message["Subject"]  # shown as text, not obeyed
    assert b"\r\nBcc:" not in mail.data and b"\r\nX-Injected:" not in mail.data
    assert smtp.attempts("RCPT") and all(a.addresses == (ANA,) for a in smtp.attempts("RCPT"))


async def test_a_bad_address_is_permanent_before_any_connection(
    smtp: LocalSMTPServer, email: EmailChannel, make_alert: MakeAlert
):
    with pytest.raises(PermanentDeliveryError):
        await email.send(make_alert(), email_recipient("ana@readers.test\r\nRCPT TO:<x@y>"))
    assert smtp.attempts() == []


async def test_an_update_is_a_reply_in_the_same_thread(
    smtp: LocalSMTPServer, email: EmailChannel, make_alert: MakeAlert
):
    recipient = email_recipient(ANA)
    ref = await email.send(make_alert(), recipient)
    more = make_alert(also_reported_by=("Coast Times", "Island Post", "Ferry Weekly"))

    assert await email.update(ref, more, recipient) == ref
    await email.update(ref, more, recipient)  # a retry of the same update

    original, update, retried = (m.message for m in smtp.messages())
    assert update["In-Reply-To"] == update["References"] == original["Message-ID"]
    assert update["Message-ID"] != original["Message-ID"]
    assert update["Message-ID"] == retried["Message-ID"]
    assert str(update["Subject"]).startswith("Re: [Ferries, Batam]")
    body = update.get_body(("plain",))
    assert body is not None and "Ferry Weekly" in body.get_content()


async def test_a_digest_is_one_email(smtp: LocalSMTPServer, email: EmailChannel):
    alerts = tuple(build_alert(delivery_id=n, title=f"Story {n}") for n in range(30))
    digest = Digest(f"email:{ANA}", alerts, PUBLISHED, PUBLISHED + timedelta(hours=1), "hourly")

    refs = await email.send_digest(digest, email_recipient(ANA))

    [mail] = smtp.messages()
    assert list(refs) == [mail.message["Message-ID"]]
    assert mail.message["Subject"] == "hourly: 30 stories"
    html_part = mail.message.get_body(("html",))
    assert html_part is not None and html_part.get_content().count("<li ") == 30


async def test_a_refused_login_waits_for_the_operator():
    with LocalSMTPServer(credentials=("monitor", "s3cret")) as smtp:
        channel = email_channel_for(smtp, username="monitor", password=SecretStr("wrong"))
        with pytest.raises(TransientDeliveryError) as refused:
            await channel.send(build_alert(), email_recipient(ANA))
        assert refused.value.retry_after == 600.0
        assert "wrong" not in str(refused.value)
        assert smtp.messages() == []


@needs_openssl
async def test_starttls_and_auth():
    with LocalSMTPServer(
        starttls=True,
        require_starttls=True,
        credentials=("monitor", "s3cret"),
        auth_require_tls=True,
    ) as smtp:
        untrusted = email_channel_for(
            smtp, starttls=True, username="monitor", password=SecretStr("s3cret")
        )
        with pytest.raises(TransientDeliveryError):  # the test CA is not trusted by default
            await untrusted.send(build_alert(), email_recipient(ANA))

        channel = email_channel_for(
            smtp,
            starttls=True,
            tls_context=smtp.client_tls_context(),
            username="monitor",
            password=SecretStr("s3cret"),
        )
        await channel.send(build_alert(), email_recipient(ANA))

        [mail] = smtp.messages()
        assert (mail.tls, mail.login) == (True, "monitor")


def test_tls_and_starttls_are_exclusive():
    with pytest.raises(ValueError, match="not both"):
        EmailChannel(host="x", port=1, sender="a@b.c", tls=True, starttls=True)


class _Recorder:
    """An aiosmtpd handler that keeps every envelope it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.envelopes.append((envelope, encrypted))
        return "250 2.0.0 Ok: queued"


@needs_openssl
async def test_implicit_tls(tmp_path: Path):
    files = make_test_certificates(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(files.cert, files.key)
    recorder = _Recorder()
    controller = Controller(
        recorder, hostname="127.0.0.1", port=closed_port(), ssl_context=server_context
    )
    controller.start()
    try:
        channel = EmailChannel(
            host="127.0.0.1",
            port=controller.port,
            sender=SENDER,
            tls=True,
            starttls=False,
            tls_context=ssl.create_default_context(cafile=str(files.ca)),
            timeout_s=2.0,
            local_hostname="monitor.test",
        )
        await channel.send(build_alert(), email_recipient(ANA))
    finally:
        controller.stop()
    [(envelope, encrypted)] = recorder.envelopes
    assert encrypted is True
    assert envelope.rcpt_tos == [ANA]
