"""The email channel: alerts, story updates and digests over SMTP with aiosmtplib.

One connection per message (STARTTLS or implicit TLS, optional login with credentials
resolved from the environment by the factory). Messages come from
``monitor.core.render_email``: multipart/alternative, UTF-8, header-safe, with a
Message-ID derived from the delivery so a retry carries the same one. The SMTP envelope
names exactly one recipient, the one we pass: never addresses read from headers.

SMTP outcomes, translated here:

- 4xx anywhere, a timeout, a refused or dropped connection -> TransientDeliveryError
  (a timeout after DATA is ambiguous: the mail may have arrived; the retry carries the
  same Message-ID so the receiving side can drop the duplicate);
- 5xx at RCPT -> PermanentDeliveryError (the address is refused);
- 5xx at DATA -> MessageRejectedError (this message is refused; the reply says why);
- a refused login, sender or greeting -> TransientDeliveryError with a long wait: the
  operator's to fix, and the alerts wait for it rather than being dropped.

Must not: retry or sleep on its own, log message contents or the password.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib
from pydantic import SecretStr

from monitor.channels.base import Digest
from monitor.clock import Clock, SystemClock
from monitor.core.models import Alert, Recipient
from monitor.core.render_email import (
    alert_email,
    digest_email,
    digest_message_id,
    message_domain,
    message_id,
    recipient_address,
    split_sender,
    update_email,
    update_variant,
)
from monitor.core.render_telegram import clean_text
from monitor.errors import (
    DeliveryError,
    MessageRejectedError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

CONFIG_PROBLEM_WAIT_S = 600.0  # login or sender refused: wait for the operator


@dataclass
class EmailCounters:
    """What the channel did, for tests and metrics."""

    sent: int = 0
    updates: int = 0
    digests: int = 0


def _reply(code: int, message: str) -> str:
    return f"{code} {' '.join(message.split())}"


def translate_error(error: Exception) -> DeliveryError:
    """An aiosmtplib (or socket) failure as one of our delivery errors."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in error.recipients]
        replies = "; ".join(_reply(r.code, r.message) for r in error.recipients)
        if codes and all(500 <= code < 600 for code in codes):
            return PermanentDeliveryError(f"the SMTP server refused the recipient: {replies}")
        return TransientDeliveryError(f"the SMTP server deferred the recipient: {replies}")
    if isinstance(error, aiosmtplib.SMTPRecipientRefused):
        reply = _reply(error.code, error.message)
        if 500 <= error.code < 600:
            return PermanentDeliveryError(f"the SMTP server refused the recipient: {reply}")
        return TransientDeliveryError(f"the SMTP server deferred the recipient: {reply}")
    if isinstance(error, aiosmtplib.SMTPDataError):
        reply = _reply(error.code, error.message)
        if 500 <= error.code < 600:
            return MessageRejectedError(f"the SMTP server refused the message at DATA: {reply}")
        return TransientDeliveryError(f"the SMTP server deferred the message at DATA: {reply}")
    if isinstance(error, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return TransientDeliveryError(
            "SMTP timed out (the message may have arrived; a retry carries the same Message-ID)"
        )
    if isinstance(error, aiosmtplib.SMTPAuthenticationError | aiosmtplib.SMTPSenderRefused):
        what = "login" if isinstance(error, aiosmtplib.SMTPAuthenticationError) else "sender"
        return TransientDeliveryError(
            f"the SMTP server refused our {what}: {_reply(error.code, error.message)} "
            "(check channels.email)",
            retry_after=CONFIG_PROBLEM_WAIT_S,
        )
    if isinstance(error, aiosmtplib.SMTPResponseException):
        reply = _reply(error.code, error.message)
        wait = CONFIG_PROBLEM_WAIT_S if error.code >= 500 else None
        return TransientDeliveryError(f"the SMTP server answered {reply}", retry_after=wait)
    if isinstance(error, aiosmtplib.SMTPException | OSError):
        return TransientDeliveryError(f"SMTP connection failed: {error}")
    return TransientDeliveryError(f"SMTP failed: {type(error).__name__}")


class EmailChannel:
    """Sends alerts by email; see the module docstring."""

    name = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        starttls: bool = True,
        tls: bool = False,
        username: str | None = None,
        password: SecretStr | None = None,
        timeout_s: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        if tls and starttls:
            raise ValueError("choose implicit TLS or STARTTLS, not both")
        self.host = host
        self.port = port
        self.sender = sender
        self.starttls = starttls
        self.tls = tls
        self.username = username
        self._password = password
        self.timeout_s = timeout_s
        self.tls_context = tls_context
        self.local_hostname = local_hostname
        self.clock = clock or SystemClock()
        self.domain = message_domain(sender)
        self.envelope_sender = split_sender(sender)[1]
        self.counters = EmailCounters()

    def __repr__(self) -> str:
        return f"EmailChannel(host={self.host!r}, port={self.port}, login={self.username!r})"

    # -- the Channel protocol ---------------------------------------------------------------

    async def send(self, alert: Alert, recipient: Recipient) -> str:
        mid = message_id(alert.delivery_id, self.domain)
        message = alert_email(
            alert,
            sender=self.sender,
            to=self._address(recipient),
            timezone=recipient.timezone,
            message_id_=mid,
            date=self.clock.now(),
        )
        await self._deliver(message, recipient)
        self.counters.sent += 1
        return mid

    async def update(self, ref: str, alert: Alert, recipient: Recipient) -> str:
        """A reply in the thread of ``ref`` (the original Message-ID), which it returns."""
        mid = message_id(alert.delivery_id, self.domain, variant=update_variant(alert))
        message = update_email(
            alert,
            sender=self.sender,
            to=self._address(recipient),
            timezone=recipient.timezone,
            original_id=_message_id_header(ref),
            message_id_=mid,
            date=self.clock.now(),
        )
        await self._deliver(message, recipient)
        self.counters.updates += 1
        return ref

    async def send_digest(self, digest: Digest, recipient: Recipient) -> Sequence[str]:
        if not digest.alerts:
            return []
        mid = digest_message_id(digest.alerts, digest.period_start, self.domain)
        message = digest_email(
            digest.alerts,
            reason=digest.reason,
            period_start=digest.period_start,
            period_end=digest.period_end,
            sender=self.sender,
            to=self._address(recipient),
            timezone=recipient.timezone,
            message_id_=mid,
            date=self.clock.now(),
        )
        await self._deliver(message, recipient)
        self.counters.digests += 1
        return [mid]

    async def aclose(self) -> None:
        return None  # one connection per message: nothing stays open

    # -- SMTP -------------------------------------------------------------------------------

    @staticmethod
    def _address(recipient: Recipient) -> str:
        try:
            return recipient_address(recipient.address).addr_spec
        except ValueError as exc:
            raise PermanentDeliveryError(f"not an email address: {recipient.key}") from exc

    async def _deliver(self, message: EmailMessage, recipient: Recipient) -> None:
        to = self._address(recipient)
        password = self._password.get_secret_value() if self._password else None
        try:
            async with asyncio.timeout(self.timeout_s * 4):
                await aiosmtplib.send(
                    message,
                    sender=self.envelope_sender,
                    recipients=[to],
                    hostname=self.host,
                    port=self.port,
                    username=self.username,
                    password=password,
                    use_tls=self.tls,
                    start_tls=self.starttls,
                    tls_context=self.tls_context,
                    timeout=self.timeout_s,
                    local_hostname=self.local_hostname,
                )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise translate_error(exc) from exc


def _message_id_header(ref: str) -> str:
    """A stored reference as a Message-ID header value (angle brackets, no whitespace)."""
    core = "".join(clean_text(ref).split()).strip("<>")
    return f"<{core}>"
