"""A site on 127.0.0.1 that answers each path with exactly the bytes a test sets: any status,
reason phrase, headers and body, hostile ones included (escape sequences, bidi overrides,
markup). Stdlib only; the socket is bound on construction, so ``url()`` works at once."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    reason: bytes = b"OK"  # sent as is: a hostile site may put any byte here
    headers: dict[str, str] = field(default_factory=dict)


class RawSite:
    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self._lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with site._lock:
                    answer = site.answers.get(self.path.split("?")[0])
                if answer is None:
                    answer = Answer(b"not found", "text/plain", 404, b"Not Found")
                self.wfile.write(b"HTTP/1.1 %d %s\r\n" % (answer.status, answer.reason))
                headers = {"Content-Type": answer.content_type,
                           "Content-Length": str(len(answer.body)), **answer.headers}
                for name, value in headers.items():
                    self.wfile.write(f"{name}: {value}\r\n".encode("latin-1"))
                self.wfile.write(b"\r\n" + answer.body)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str) -> str:
        return self.base_url + path

    def set(self, path: str, answer: Answer) -> str:
        with self._lock:
            self.answers[path] = answer
        return self.url(path)

    def __enter__(self) -> RawSite:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
