"""A local SMTP server for email tests: aiosmtpd on 127.0.0.1 that records and misbehaves.

``LocalSMTPServer`` wraps aiosmtpd's threaded ``Controller`` (port 0 picks a free port;
stop and start again reuse it, so "the server is down" is real). It records every
accepted message (envelope, raw bytes, the parsed ``EmailMessage``, login, TLS) and every
RCPT/DATA attempt with the reply given, so a test counts retries and duplicates at the
server. Faults are keyed by recipient address or apply to everyone, programmable while a
test runs: ``tempfail`` (451 at RCPT or DATA for the next K attempts), ``permfail`` (550
at RCPT), ``hang`` (accept the data, then stall before the 250). It can require AUTH
with one login, and offer STARTTLS with a certificate made at test time by the
``openssl`` command (``make_test_certificates``), trusted through ``client_tls_context()``.

Test support only: nothing here is used by the daemon.
"""

from __future__ import annotations

import asyncio
import email
import ssl
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServerProtocol
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

Stage = Literal["RCPT", "DATA"]
FaultKind = Literal["tempfail", "permfail", "hang"]

TEMPFAIL_RCPT = "451 4.7.1 <{address}>: Recipient address rejected: Try again later"
TEMPFAIL_DATA = "451 4.3.0 Error: queue file write error"
PERMFAIL_RCPT = (
    "550 5.1.1 <{address}>: Recipient address rejected: User unknown in local recipient table"
)
PERMFAIL_DATA = "554 5.7.1 Error: message rejected"
ACCEPTED = "250 2.0.0 Ok: queued"


@dataclass(frozen=True)
class ReceivedMail:
    """A message the server accepted (or accepted and then stalled on: ``hung``)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    message: EmailMessage
    at: float  # time.monotonic()
    login: str | None
    tls: bool
    hung: bool


@dataclass(frozen=True)
class SmtpAttempt:
    """One RCPT or DATA command and the reply the server gave."""

    stage: Stage
    addresses: tuple[str, ...]
    reply: str
    at: float

    @property
    def code(self) -> int:
        return int(self.reply[:3])


@dataclass
class SmtpFault:
    """A programmed misbehaviour; ``times=None`` means until cleared."""

    kind: FaultKind
    stage: Stage
    times: int | None
    reply: str = ""
    hang_s: float = 0.0


@dataclass(frozen=True)
class TlsFiles:
    """A throw-away CA and a server certificate for 127.0.0.1 and localhost it signed."""

    ca: Path
    cert: Path
    key: Path


def make_test_certificates(directory: Path) -> TlsFiles:
    """Make a CA and a server certificate with the ``openssl`` command (EC P-256, 2 days)."""
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key, csr = directory / "server.pem", directory / "server.key", directory / "server.csr"
    extensions = directory / "server.ext"
    extensions.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
    )
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    subject = ["-subj", "/CN=monitor test CA"]
    make_ca = [*new_key, "-keyout", ca_key, "-out", ca, "-days", "2", *subject]
    ca_extensions = [
        *("-addext", "basicConstraints=critical,CA:TRUE"),
        *("-addext", "keyUsage=critical,keyCertSign,cRLSign"),
    ]
    sign = ["-in", csr, "-CA", ca, "-CAkey", ca_key, "-out", cert, "-days", "2"]
    commands = [
        ["openssl", "req", "-x509", *make_ca, *ca_extensions],
        ["openssl", "req", "-new", *new_key, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
        ["openssl", "x509", "-req", *sign, "-set_serial", "0x5eed", "-extfile", extensions],
    ]
    for command in commands:
        subprocess.run([str(part) for part in command], check=True, capture_output=True)
    return TlsFiles(ca, cert, key)


class _Controller(Controller):
    """aiosmtpd's controller, able to listen on port 0 (it learns the port it got)."""

    def factory(self) -> SMTPServerProtocol:
        with warnings.catch_warnings():
            # AUTH without TLS is what a plain-text AUTH test asks for; no need to warn.
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return super().factory()

    def _trigger_server(self) -> None:
        sockets = getattr(self.server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]
        super()._trigger_server()


class LocalSMTPServer:
    """An SMTP server on 127.0.0.1 for one test; use as a context manager."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: tuple[str, str] | None = None,
        starttls: bool = False,
        require_starttls: bool = False,
        auth_require_tls: bool = False,
        server_hostname: str = "mail.monitor.test",
    ) -> None:
        self.host = host
        self.port = port
        self.credentials = credentials
        self.server_hostname = server_hostname
        self.require_starttls = require_starttls
        self.auth_require_tls = auth_require_tls
        self._lock = threading.Lock()
        self._mail: list[ReceivedMail] = []
        self._attempts: list[SmtpAttempt] = []
        self._faults: dict[str | None, list[SmtpFault]] = {}
        self.failed_logins = 0
        self._controller: _Controller | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.certificates: TlsFiles | None = None
        if starttls:
            self._tmp = tempfile.TemporaryDirectory(prefix="monitor-smtp-tls-")
            self.certificates = make_test_certificates(Path(self._tmp.name))

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> LocalSMTPServer:
        """Listen (again) on the same port; the first start picks a free one."""
        if self._controller is not None:
            return self
        options: dict[str, Any] = {
            "server_hostname": self.server_hostname,
            "ready_timeout": 10.0,
            "auth_require_tls": self.auth_require_tls,
        }
        if self.credentials is not None:
            options.update(authenticator=self._authenticate, auth_required=True)
        if self.certificates is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.certificates.cert, self.certificates.key)
            options.update(tls_context=context, require_starttls=self.require_starttls)
        controller = _Controller(_Handler(self), hostname=self.host, port=self.port, **options)
        controller.start()
        self.port = controller.port
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening and drop every session (a stalled DATA is cancelled)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @contextmanager
    def down(self) -> Iterator[None]:
        """The server unreachable inside the block, back on the same port after it."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def __enter__(self) -> LocalSMTPServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def client_tls_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's test CA (and only it)."""
        if self.certificates is None:
            raise RuntimeError("this server was made without starttls=True")
        return ssl.create_default_context(cafile=str(self.certificates.ca))

    # -- faults ---------------------------------------------------------------------------

    def tempfail(
        self, address: str | None = None, *, times: int | None = 1, stage: Stage = "DATA"
    ) -> None:
        """451 for the next ``times`` attempts to ``address`` (None: any recipient)."""
        reply = TEMPFAIL_DATA if stage == "DATA" else TEMPFAIL_RCPT
        self._add(address, SmtpFault("tempfail", stage, times, reply))

    def permfail(
        self, address: str | None = None, *, times: int | None = None, stage: Stage = "RCPT"
    ) -> None:
        """550 at RCPT (554 at DATA) for ``address``, until cleared by default."""
        reply = PERMFAIL_DATA if stage == "DATA" else PERMFAIL_RCPT
        self._add(address, SmtpFault("permfail", stage, times, reply))

    def hang(
        self, address: str | None = None, *, times: int | None = 1, seconds: float = 10.0
    ) -> None:
        """Take the message, then stall ``seconds`` before the 250 (the client times out)."""
        self._add(address, SmtpFault("hang", "DATA", times, ACCEPTED, seconds))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _add(self, address: str | None, fault: SmtpFault) -> None:
        with self._lock:
            self._faults.setdefault(_key(address), []).append(fault)

    def take_fault(self, addresses: tuple[str, ...], stage: Stage) -> SmtpFault | None:
        """The fault an attempt meets (address-specific first), counting it down."""
        with self._lock:
            for key in [*(_key(a) for a in addresses), None]:
                queue = self._faults.get(key, [])
                fault = next((f for f in queue if f.stage == stage), None)
                if fault is None:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        queue.remove(fault)
                return fault
        return None

    # -- what happened --------------------------------------------------------------------

    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._mail)

    def messages_to(self, address: str) -> list[ReceivedMail]:
        wanted = _key(address)
        return [m for m in self.messages() if wanted in (_key(a) for a in m.rcpt_tos)]

    def attempts(self, stage: Stage | None = None, address: str | None = None) -> list[SmtpAttempt]:
        """Every RCPT/DATA command seen, with its reply; filter by stage or recipient."""
        with self._lock:
            found = list(self._attempts)
        return [
            a
            for a in found
            if stage in (None, a.stage)
            and (address is None or _key(address) in (_key(x) for x in a.addresses))
        ]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll ``predicate`` from a thread (not an event loop) until it holds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    async def wait_for_async(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    # -- called from the server's event loop -----------------------------------------------

    def record_attempt(self, stage: Stage, addresses: tuple[str, ...], reply: str) -> str:
        with self._lock:
            self._attempts.append(SmtpAttempt(stage, addresses, reply, time.monotonic()))
        return reply

    def record_mail(self, session: Session, envelope: Envelope, *, hung: bool) -> None:
        data = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and not data:
            data = envelope.content
        parsed = email.message_from_bytes(data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        mail = ReceivedMail(
            mail_from=str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=data,
            message=parsed,
            at=time.monotonic(),
            login=login,
            tls=session.ssl is not None,
            hung=hung,
        )
        with self._lock:
            self._mail.append(mail)

    def _authenticate(
        self,
        server: SMTPServerProtocol,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and self.credentials is not None:
            given = (auth_data.login.decode(), auth_data.password.decode())
            if given == self.credentials:
                return AuthResult(success=True, auth_data=auth_data)
        with self._lock:
            self.failed_logins += 1
        return AuthResult(success=False, handled=False)


class _Handler:
    """aiosmtpd hooks: apply the programmed faults, record what happens."""

    def __init__(self, owner: LocalSMTPServer) -> None:
        self.owner = owner

    async def handle_RCPT(
        self,
        server: SMTPServerProtocol,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        fault = self.owner.take_fault((address,), "RCPT")
        if fault is not None and fault.kind != "hang":
            reply = fault.reply.format(address=address)
            return self.owner.record_attempt("RCPT", (address,), reply)
        envelope.rcpt_tos.append(address)
        return self.owner.record_attempt("RCPT", (address,), "250 2.1.5 Ok")

    async def handle_DATA(
        self, server: SMTPServerProtocol, session: Session, envelope: Envelope
    ) -> str:
        recipients = tuple(envelope.rcpt_tos)
        fault = self.owner.take_fault(recipients, "DATA")
        if fault is not None and fault.kind != "hang":
            return self.owner.record_attempt("DATA", recipients, fault.reply)
        hung = fault is not None
        self.owner.record_mail(session, envelope, hung=hung)
        self.owner.record_attempt("DATA", recipients, ACCEPTED)
        if fault is not None:
            await asyncio.sleep(fault.hang_s)
        return ACCEPTED


def _key(address: str | None) -> str | None:
    return None if address is None else address.strip().strip("<>").lower()
