"""A tiny site on 127.0.0.1 that serves whatever bytes a test puts at a path: corpus pages,
pages edited between two checks, hostile pages (control characters, deep nesting, garbage).

    with PageServer() as site:
        url = site.put("/story", html_bytes)          # text/html; charset as given
        site.put("/story", edited_bytes)              # the next request gets these

Each response carries the bytes as given, ``Content-Type`` as given (default
``text/html; charset=utf-8``) and no validators, so every check fetches and extracts again.
Stdlib only, in-process (a thread): cheap enough for one server per test.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client whose connection failed or closed (tracker drops one after an error status
        without reading the body) is no error of the site's. socketserver would print its
        traceback to ``sys.stderr``, which a command run in the test's process has swapped for
        the stream the test reads."""
        if isinstance(sys.exc_info()[1], OSError):  # reset, broken pipe, timed out
            return
        super().handle_error(request, client_address)


class PageServer:
    def __init__(self) -> None:
        self.pages: dict[str, tuple[bytes, str]] = {}
        self.lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def put(self, path: str, body: bytes, content_type: str = "text/html; charset=utf-8") -> str:
        with self.lock:
            self.pages[path] = (body, content_type)
        return self.base_url + path

    def get(self, path: str) -> tuple[bytes, str] | None:
        with self.lock:
            return self.pages.get(path)

    def __enter__(self) -> PageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _handler(site: PageServer) -> Any:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            page = site.get(self.path.split("?", 1)[0])
            if page is None:
                body, content_type, status = b"not found", "text/plain", 404
            else:
                (body, content_type), status = page, 200
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: pytest shows what matters

    return Handler
