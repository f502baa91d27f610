"""A tiny HTTP server on 127.0.0.1 that serves the demo's feeds and article pages.

It supports ETag / If-None-Match so the demo shows conditional GET at work.
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from monitor.demo.site import DemoItem, article_path, load_site, render_article, render_feed


class DemoSite:
    """The sample outlets at a given cycle (1 = first poll, 2 = new items added)."""

    def __init__(self) -> None:
        self.outlets, self.items = load_site()
        self.cycle = 1
        self.base = ""

    def visible(self, outlet: str) -> list[DemoItem]:
        return [i for i in self.items if i.outlet == outlet and i.cycle <= self.cycle]

    def page(self, path: str) -> tuple[bytes, str] | None:
        path = path.split("?", 1)[0]
        if path.startswith("/feeds/") and path.endswith(".xml"):
            outlet = path[len("/feeds/") : -len(".xml")]
            if outlet in self.outlets:
                body = render_feed(outlet, self.outlets[outlet], self.visible(outlet), self.base)
                return body, "application/rss+xml; charset=utf-8"
        for item in self.items:
            if item.cycle <= self.cycle and article_path(item) == path:
                return render_article(self.outlets[item.outlet], item), "text/html; charset=utf-8"
        return None


class DemoServer:
    """Serves a DemoSite on 127.0.0.1:port (0 = any free port) in a background thread."""

    def __init__(self, site: DemoSite, port: int = 0) -> None:
        self.site = site
        handler = _handler(site)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.port = int(self._httpd.server_address[1])
        site.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> DemoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _handler(site: DemoSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "monitor-demo/1"

        def do_GET(self) -> None:
            found = site.page(self.path)
            if found is None:
                self.send_error(404)
                return
            body, content_type = found
            etag = '"' + hashlib.sha1(body, usedforsecurity=False).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler
