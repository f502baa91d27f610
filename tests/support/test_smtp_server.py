"""The local SMTP server behaves as a real one for aiosmtplib: records, faults, AUTH, STARTTLS."""

from __future__ import annotations

import shutil
import ssl
from collections.abc import Iterator
from email.message import EmailMessage

import aiosmtplib
import pytest

from tests.support.smtp_server import LocalSMTPServer

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")


def alert(to: str, *, subject: str = "Überschwemmung in Köln: 3 Quellen") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Monitor <monitor@alerts.test>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = "<story-17.watch-floods@monitor.test>"
    message.set_content("Three outlets report flooding.\n")
    return message


@pytest.fixture
def smtp() -> Iterator[LocalSMTPServer]:
    with LocalSMTPServer() as server:
        yield server


async def send(smtp: LocalSMTPServer, message: EmailMessage, **options: object) -> object:
    return await aiosmtplib.send(message, hostname=smtp.host, port=smtp.port, **options)  # type: ignore[arg-type]


async def test_accepted_mail_is_recorded_with_envelope_and_parsed_message(smtp: LocalSMTPServer):
    await send(smtp, alert("ana@readers.test"), recipients=["ana@readers.test", "bo@readers.test"])

    [mail] = smtp.messages()
    assert mail.mail_from == "monitor@alerts.test"
    assert mail.rcpt_tos == ("ana@readers.test", "bo@readers.test")
    assert mail.message["Subject"] == "Überschwemmung in Köln: 3 Quellen"
    assert mail.message["Message-ID"] == "<story-17.watch-floods@monitor.test>"
    assert b"=?utf-8?" in mail.data  # the subject went over the wire encoded
    assert (mail.login, mail.tls, mail.hung) == (None, False, False)
    assert smtp.messages_to("BO@readers.test") == [mail]


async def test_tempfail_at_data_for_k_attempts_then_delivered_once(smtp: LocalSMTPServer):
    smtp.tempfail("ana@readers.test", times=2)

    for _ in range(2):
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await send(smtp, alert("ana@readers.test"))
        assert refused.value.code == 451
    await send(smtp, alert("ana@readers.test"))

    assert [a.code for a in smtp.attempts("DATA")] == [451, 451, 250]
    assert len(smtp.messages_to("ana@readers.test")) == 1


async def test_tempfail_at_rcpt_refuses_only_that_recipient(smtp: LocalSMTPServer):
    smtp.tempfail("ana@readers.test", stage="RCPT")

    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await send(smtp, alert("ana@readers.test"))
    assert refused.value.recipients[0].code == 451
    await send(smtp, alert("ana@readers.test"))
    assert len(smtp.messages()) == 1


async def test_permfail_at_rcpt_is_permanent_and_spares_other_recipients(smtp: LocalSMTPServer):
    smtp.permfail("gone@readers.test")

    for _ in range(2):
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await send(smtp, alert("gone@readers.test"))
        assert refused.value.recipients[0].code == 550
    await send(smtp, alert("x@readers.test"), recipients=["gone@readers.test", "ana@readers.test"])

    [mail] = smtp.messages()
    assert mail.rcpt_tos == ("ana@readers.test",)
    assert [a.code for a in smtp.attempts("RCPT", "gone@readers.test")] == [550, 550, 550]


async def test_fault_for_everyone_applies_to_any_recipient(smtp: LocalSMTPServer):
    smtp.tempfail(times=1)
    with pytest.raises(aiosmtplib.SMTPDataError):
        await send(smtp, alert("anyone@readers.test"))
    await send(smtp, alert("anyone@readers.test"))
    assert len(smtp.messages()) == 1


async def test_hang_records_the_mail_then_stalls_past_the_client_timeout(smtp: LocalSMTPServer):
    smtp.hang("ana@readers.test", seconds=5.0)

    with pytest.raises(aiosmtplib.SMTPTimeoutError):
        await send(smtp, alert("ana@readers.test"), timeout=0.3)

    [mail] = smtp.messages()
    assert mail.hung is True  # delivered, although the client saw a failure


async def test_server_down_refuses_connections_and_returns_on_the_same_port(
    smtp: LocalSMTPServer,
):
    port = smtp.port
    with smtp.down(), pytest.raises(aiosmtplib.SMTPConnectError):
        await send(smtp, alert("ana@readers.test"), timeout=2)
    assert smtp.port == port
    await send(smtp, alert("ana@readers.test"))
    assert len(smtp.messages()) == 1


async def test_auth_accepts_the_configured_login_only():
    with LocalSMTPServer(credentials=("monitor", "s3cret")) as smtp:
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as unauthenticated:
            await send(smtp, alert("ana@readers.test"))
        assert unauthenticated.value.code == 530
        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            await send(smtp, alert("ana@readers.test"), username="monitor", password="wrong")
        await send(smtp, alert("ana@readers.test"), username="monitor", password="s3cret")

        [mail] = smtp.messages()
        assert mail.login == "monitor"
        assert smtp.failed_logins >= 1  # aiosmtplib tries each mechanism the server offers


@needs_openssl
async def test_starttls_with_a_certificate_made_for_the_test():
    with LocalSMTPServer(
        starttls=True,
        require_starttls=True,
        credentials=("monitor", "s3cret"),
        auth_require_tls=True,
    ) as smtp:
        with pytest.raises(aiosmtplib.SMTPResponseException) as plain:
            await send(smtp, alert("ana@readers.test"), start_tls=False)
        assert plain.value.code == 530  # "Must issue a STARTTLS command first"
        with pytest.raises((ssl.SSLError, aiosmtplib.SMTPException)):
            await send(smtp, alert("ana@readers.test"), start_tls=True)  # untrusted CA

        await send(
            smtp,
            alert("ana@readers.test"),
            start_tls=True,
            tls_context=smtp.client_tls_context(),
            username="monitor",
            password="s3cret",
        )

        [mail] = smtp.messages()
        assert (mail.tls, mail.login) == (True, "monitor")
