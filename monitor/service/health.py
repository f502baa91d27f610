"""The local HTTP endpoint: ``/metrics`` (Prometheus text format) and ``/healthz`` (JSON).

A small asyncio server (stdlib streams, HTTP/1.1, one request per connection) on the
configured address, ``127.0.0.1`` by default, off unless ``http.port`` is set:

- ``GET /metrics``: refreshes the database gauges (``Metrics.refresh``) and returns the
  text exposition;
- ``GET /healthz``: 200 when the scheduler ticked within ``tick_timeout_s`` and the
  database answered ``SELECT 1`` within ``db_timeout_s``; 503 otherwise; the JSON body
  says which check failed;
- anything else: 404 (405 for a method other than GET/HEAD). Requests are bounded in
  size and time; the server never reads a body.

``Heartbeat`` is the scheduler's proof of progress: the daemon calls ``beat()`` on
every tick; ``/healthz``, the metrics and the watchdog (``monitor.service.notify``) read it.
Must not: expose anything but these two documents, listen beyond what it is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST

from monitor.clock import Clock
from monitor.logs import get_logger
from monitor.service.metrics import Metrics
from monitor.store import health as health_store
from monitor.store.database import Database

log = get_logger("monitor.health")

MAX_HEADER_LINES = 64
MAX_LINE = 8192
REQUEST_TIMEOUT_S = 10.0
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 400: "Bad Request"}
_REASONS[503] = "Service Unavailable"


class Heartbeat:
    """Counts scheduler ticks and remembers when the last one happened (monotonic time)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self.count = 0
        self.last: float | None = None

    def beat(self) -> None:
        self.count += 1
        self.last = self._monotonic()

    def age(self) -> float | None:
        """Seconds since the last tick, None before the first one."""
        return None if self.last is None else max(0.0, self._monotonic() - self.last)


async def probe_database(db: Database) -> float:
    """Ask the database ``SELECT 1``; returns the latency in seconds (raises if it fails)."""
    started = time.perf_counter()
    await db.read(health_store.probe)
    return time.perf_counter() - started


class HealthServer:
    """Serves /metrics and /healthz for one runtime until ``aclose``."""

    def __init__(
        self,
        *,
        metrics: Metrics,
        db: Database,
        heartbeat: Heartbeat,
        clock: Clock,
        host: str = "127.0.0.1",
        port: int = 0,
        tick_timeout_s: float = 60.0,
        db_timeout_s: float = 5.0,
    ) -> None:
        self.metrics = metrics
        self.db = db
        self.heartbeat = heartbeat
        self.clock = clock
        self.host = host
        self.port = port
        self.tick_timeout_s = tick_timeout_s
        self.db_timeout_s = db_timeout_s
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, limit=MAX_LINE, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("http_endpoint_started", host=self.host, port=self.port)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def healthz(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON document) of the health checks."""
        age = self.heartbeat.age()
        scheduler: dict[str, Any] = {
            "ok": age is not None and age <= self.tick_timeout_s,
            "ticks": self.heartbeat.count,
            "last_tick_age_s": None if age is None else round(age, 3),
        }
        database: dict[str, Any] = {"ok": False}
        try:
            async with asyncio.timeout(self.db_timeout_s):
                latency = await probe_database(self.db)
            database = {"ok": True, "latency_ms": round(latency * 1e3, 2)}
        except TimeoutError:
            database["error"] = f"no answer within {self.db_timeout_s:g}s"
        except Exception as exc:  # any failure means the database is not answering
            database["error"] = str(exc)[:300]
        healthy = scheduler["ok"] and database["ok"]
        document = {
            "status": "ok" if healthy else "unhealthy",
            "time": self.clock.now().isoformat(),
            "checks": {"scheduler": scheduler, "database": database},
        }
        return (200 if healthy else 503), document

    async def _respond(self, method: str, path: str) -> tuple[int, str, bytes]:
        if method not in ("GET", "HEAD"):
            return 405, "text/plain; charset=utf-8", b"method not allowed\n"
        if path == "/metrics":
            await self.metrics.refresh(self.db, self.clock.now())
            return 200, CONTENT_TYPE_LATEST, self.metrics.render()
        if path == "/healthz":
            status, document = await self.healthz()
            body = (json.dumps(document, indent=2) + "\n").encode()
            return status, "application/json", body
        return 404, "text/plain; charset=utf-8", b"not found: try /metrics or /healthz\n"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                method, path = await _read_request(reader)
                if not method:
                    status, ctype, body = 400, "text/plain; charset=utf-8", b"bad request\n"
                else:
                    status, ctype, body = await self._respond(method, path)
                head = (
                    f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
                    f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                    "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
                )
                writer.write(head.encode() + (b"" if method == "HEAD" else body))
                await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # a slow, broken or oversized request: just hang up
        except Exception as exc:  # the endpoint must outlive any one request
            log.error("http_request_failed", error=repr(exc))
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
    """(method, path) of the request, or ("", "") when it is malformed; headers are skipped."""
    line = (await reader.readline()).decode("latin-1").strip()
    for _ in range(MAX_HEADER_LINES):
        header = await reader.readline()
        if header in (b"\r\n", b"\n", b""):
            break
    else:
        return "", ""
    parts = line.split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return "", ""
    return parts[0].upper(), urlsplit(parts[1]).path
