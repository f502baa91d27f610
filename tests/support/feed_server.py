"""A scriptable HTTP server on 127.0.0.1 for feeds and article pages in tests.

Real sockets, stdlib only (``ThreadingHTTPServer`` in a daemon thread, HTTP/1.1 with
keep-alive). Each path is routed to a ``Response`` or to a hook that builds one per
request; everything that arrives is logged.

    with FeedServer() as server:                      # or the ``feed_server`` fixture
        server.route("/feed.xml", Response(RSS, etag='"v1"'))
        url = server.url("/feed.xml")                 # http://127.0.0.1:<port>/feed.xml
        ...
        server.requests("/feed.xml")                  # [Request(...), ...]
        server.max_concurrent                         # most requests in flight at once

``Response`` fields (all optional):

- ``body`` (bytes or str, str is UTF-8), ``status``, ``content_type``, ``headers``;
- ``etag`` / ``last_modified``: sent, and a matching ``If-None-Match`` /
  ``If-Modified-Since`` gets ``304 Not Modified`` (``Request.conditional`` tells
  whether a request carried validators);
- ``encoding="gzip"|"deflate"``: compress ``body`` on the way out;
- ``delay_s``: wait before the status line (slow server, concurrency tests);
- ``drip_s``: send the headers, then the body one byte every ``drip_s`` seconds;
- ``hang=True``: read the request and never answer;
- ``stream_size=n``: send ``n`` zero bytes in 64 KiB chunks instead of ``body``;
- ``content_length=False``: no Content-Length, the body ends when the connection closes.

Helpers: ``redirect(location, status=302)``, ``retry_after(value, status=429)``,
``gzip_bomb()`` (200 KiB of gzip that inflates to 200 MiB, built once per process),
``sequence(r1, r2, ...)`` (one response per request, the last repeats; a 5xx streak
then OK is ``sequence(*[Response(status=503)] * 3, Response(RSS))``), and
``closed_port()`` (a port nobody listens on: connection refused).

A route may be any callable ``(Request) -> Response``: change what it returns between
polls to add items per cycle. Unknown paths get 404. ``FeedServer(host="127.0.0.2")``
listens on another loopback address (SSRF tests treat it as "public"); ``port=`` picks
a port (default: any free one); ``tls=`` (a server-side ``ssl.SSLContext``) serves
HTTPS and records the SNI names clients send in ``server.sni_names``.

The ``feed_server`` pytest fixture (a fresh server per test) is defined here; a
conftest.py makes it available with ``from tests.support.feed_server import
feed_server as feed_server``. ``Request`` records have ``method, path, query,
headers, time, index, status, bytes_sent`` and ``conditional``; ``server.hits``
counts every request, ``server.stop()`` also releases hanging and dripping handlers.
"""

from __future__ import annotations

import functools
import gzip
import socket
import ssl
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal
from urllib.parse import urlsplit

import pytest

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Response:
    """What the server answers on a path (see the module docstring)."""

    body: bytes | str = b""
    status: int = 200
    content_type: str | None = "application/rss+xml; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    encoding: Literal["gzip", "deflate"] | None = None
    delay_s: float = 0.0
    drip_s: float | None = None
    hang: bool = False
    stream_size: int | None = None
    content_length: bool = True

    def payload(self) -> bytes:
        data = self.body.encode() if isinstance(self.body, str) else self.body
        if self.encoding == "gzip":
            return gzip.compress(data)
        if self.encoding == "deflate":
            return zlib.compress(data)
        return data


@dataclass
class Request:
    """One request as the server saw it; ``headers`` keys are lower-case."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    time: float  # time.monotonic() when the request line arrived
    index: int  # 0 for the first request on this path, 1 for the second ...
    status: int | None = None  # what was answered (None while in flight or hanging)
    bytes_sent: int = 0  # body bytes written so far

    @property
    def conditional(self) -> bool:
        return "if-none-match" in self.headers or "if-modified-since" in self.headers


Route = Response | Callable[[Request], Response]


def redirect(location: str, status: int = 302) -> Response:
    return Response(status=status, headers={"Location": location}, content_type=None)


def retry_after(value: str | int, status: int = 429) -> Response:
    return Response(status=status, headers={"Retry-After": str(value)}, content_type="text/plain")


def sequence(*responses: Response) -> Callable[[Request], Response]:
    """One response per request on the path, in order; the last one repeats."""
    if not responses:
        raise ValueError("sequence() needs at least one response")
    return lambda request: responses[min(request.index, len(responses) - 1)]


@functools.cache
def _bomb_bytes(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(2**20)
    parts = [compressor.compress(zeros) for _ in range(size // len(zeros))]
    parts.append(compressor.compress(bytes(size % len(zeros))))
    parts.append(compressor.flush())
    return b"".join(parts)


def gzip_bomb(size: int = 200 * 2**20) -> Response:
    """About size/1000 bytes of gzip that inflate to ``size`` zero bytes."""
    return Response(
        body=_bomb_bytes(size),
        content_type="application/rss+xml",
        headers={"Content-Encoding": "gzip"},
    )


def closed_port(host: str = "127.0.0.1") -> int:
    """A TCP port with nothing listening on it (connecting gets 'connection refused')."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    weak = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == weak for tag in header.split(","))


class _QuietServer(ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # clients hanging up are normal
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class FeedServer:
    """The server; start it with ``with FeedServer() as server`` or ``start()``/``stop()``."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, tls: ssl.SSLContext | None = None
    ) -> None:
        self._routes: dict[str, Route] = {}
        self._log: list[Request] = []
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._active = 0
        self.max_concurrent = 0
        self.stopping = threading.Event()
        self._httpd = _QuietServer((host, port), _make_handler(self))
        self.host = host
        self.port = int(self._httpd.server_address[1])
        self.scheme = "https" if tls else "http"
        self.sni_names: list[str | None] = []  # TLS server names clients asked for
        if tls is not None:
            tls.sni_callback = self._record_sni
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self._thread: threading.Thread | None = None

    def start(self) -> FeedServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def route(self, path: str, response: Route) -> str:
        """Serve ``response`` on ``path`` (replacing any earlier route); return its URL."""
        with self._lock:
            self._routes[path] = response
        return self.url(path)

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def _record_sni(self, sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        with self._lock:
            self.sni_names.append(name)

    def requests(self, path: str | None = None) -> list[Request]:
        """The requests received (on ``path``, or all), oldest first."""
        with self._lock:
            return [r for r in self._log if path is None or r.path == path]

    @property
    def hits(self) -> int:
        with self._lock:
            return len(self._log)

    # -- used by the handler ---------------------------------------------------------

    def _begin(self, method: str, target: str, headers: dict[str, str]) -> tuple[Request, Route]:
        parts = urlsplit(target)
        with self._lock:
            index = self._counts.get(parts.path, 0)
            self._counts[parts.path] = index + 1
            request = Request(method, parts.path, parts.query, headers, time.monotonic(), index)
            self._log.append(request)
            self._active += 1
            self.max_concurrent = max(self.max_concurrent, self._active)
            route = self._routes.get(parts.path, Response(b"not found", 404, "text/plain"))
        return request, route

    def _end(self) -> None:
        with self._lock:
            self._active -= 1


def _make_handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            request, route = server._begin(self.command, self.path, headers)
            try:
                response = route(request) if callable(route) else route
                self._answer(request, response)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                self.close_connection = True
            finally:
                server._end()

        do_HEAD = do_GET

        def _answer(self, request: Request, response: Response) -> None:
            if response.hang:
                self.close_connection = True
                server.stopping.wait()
                return
            if response.delay_s and server.stopping.wait(response.delay_s):
                return
            status, body = response.status, b""
            validators = {}
            if response.etag:
                validators["ETag"] = response.etag
            if response.last_modified:
                validators["Last-Modified"] = response.last_modified
            if self._not_modified(request, response):
                status = 304
            elif response.stream_size is None:
                body = response.payload()
            request.status = status
            self.send_response(status)
            if response.content_type and status != 304:
                self.send_header("Content-Type", response.content_type)
            if response.encoding and status != 304:
                self.send_header("Content-Encoding", response.encoding)
            for name, value in {**validators, **response.headers}.items():
                self.send_header(name, value)
            size = response.stream_size if response.stream_size is not None else len(body)
            if status == 304 or self.command == "HEAD":
                size, body = 0, b""
            if response.content_length or status == 304:
                self.send_header("Content-Length", str(size))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command == "HEAD" or status == 304:
                return
            if response.stream_size is not None:
                self._stream_zeros(request, response.stream_size)
            elif response.drip_s:
                self._drip(request, body, response.drip_s)
            else:
                self.wfile.write(body)
                request.bytes_sent = len(body)

        def _not_modified(self, request: Request, response: Response) -> bool:
            if response.status != 200:
                return False
            inm = request.headers.get("if-none-match")
            if inm is not None:
                return bool(response.etag) and _etag_matches(inm, response.etag or "")
            ims = request.headers.get("if-modified-since")
            return ims is not None and ims == response.last_modified

        def _stream_zeros(self, request: Request, size: int) -> None:
            zeros = bytes(CHUNK)
            while request.bytes_sent < size and not server.stopping.is_set():
                part = zeros[: min(CHUNK, size - request.bytes_sent)]
                self.wfile.write(part)
                request.bytes_sent += len(part)

        def _drip(self, request: Request, body: bytes, interval: float) -> None:
            for i in range(len(body)):
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
                request.bytes_sent += 1
                if server.stopping.wait(interval):
                    return

    return Handler


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """Pytest fixture: a fresh server per test. Import it into a conftest.py to use it."""
    with FeedServer() as server:
        yield server
