"""HTTP for the Telegram emulator: the Bot API's URL scheme and request encodings.

A stdlib ``ThreadingHTTPServer`` speaking HTTP/1.1 keep-alive like api.telegram.org.
It serves ``/bot<token>/<method>`` by GET or POST with parameters in the query string, a
JSON body, a form-encoded body or multipart/form-data (what python-telegram-bot sends when
a file is attached), and writes the ``Reply`` the Bot API state gives. It tracks open
connections so that stopping the server really cuts clients off (a pooled keep-alive
connection would otherwise keep working), and honours the stall a fault asks for.

No Bot API logic here: that is ``bot_api`` and ``methods``.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import threading
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.support.telegram import objects
from tests.support.telegram.bot_api import BotApi, Reply

_PATH = re.compile(r"/bot([^/]*)/([^/]*)")


class ApiServer(ThreadingHTTPServer):
    """The listening socket plus bookkeeping of live connections and handler threads."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # many senders connect at once in load tests

    def __init__(self, address: tuple[str, int], api: BotApi) -> None:
        self.api = api
        self.stopping = threading.Event()
        self._live: set[socket.socket] = set()
        self._conn_threads: list[threading.Thread] = []
        self._guard = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="telegram-emulator-conn",
            daemon=True,
        )
        with self._guard:
            self._live.add(request)
            self._conn_threads = [t for t in self._conn_threads if t.is_alive()]
            self._conn_threads.append(thread)
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._guard:
            self._live.discard(request)
        super().shutdown_request(request)

    def drop_connections(self, join_timeout: float = 5.0) -> None:
        """Cut every open connection and wait for the handler threads to finish."""
        self.stopping.set()
        with self._guard:
            live = list(self._live)
            threads = list(self._conn_threads)
        for conn in live:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(join_timeout)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx/1.18.0"
    sys_version = ""
    server: ApiServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the emulator records calls itself."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        url = urlsplit(self.path)
        body = self._read_body()
        match = _PATH.fullmatch(url.path)
        if match is None:
            self._write(Reply(404, objects.error_body(404, objects.NOT_FOUND)))
            return
        token, method = match.groups()
        try:
            params = decode_params(self.headers.get("Content-Type", ""), body, url.query)
        except ValueError as error:
            reply: Reply | None = Reply(400, objects.error_body(400, f"Bad Request: {error}"))
        else:
            reply = self.server.api.handle(token, method, params, self._client_alive)
        if reply is None or (reply.hang_s and self.server.stopping.wait(reply.hang_s)):
            self.close_connection = True
            return
        self._write(reply)

    def _client_alive(self) -> bool:
        """False once the client closed its end (readable with nothing to read)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return not readable or self.connection.recv(1, socket.MSG_PEEK) != b""
        except OSError:
            return False

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _write(self, reply: Reply) -> None:
        if isinstance(reply.body, str):
            data, content_type = reply.body.encode("utf-8"), "text/html"
        else:
            data, content_type = json.dumps(reply.body).encode("utf-8"), "application/json"
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "keep-alive")
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True


def decode_params(content_type: str, body: bytes, query: str) -> dict[str, Any]:
    """Parameters from the query string and a JSON, form or multipart body."""
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    if not body:
        return params
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            raise ValueError("can't parse JSON encoded request") from None
        if not isinstance(data, dict):
            raise ValueError("JSON object expected")
        params.update(data)
    elif kind in ("application/x-www-form-urlencoded", ""):
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    elif kind == "multipart/form-data":
        params.update(_multipart(content_type, body))
    else:
        raise ValueError(f"unsupported Content-Type {kind}")
    return params


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename:
            fields[name] = {"filename": filename, "size": len(data)}
        else:
            fields[name] = data.decode("utf-8", "replace")
    return fields
