"""A hostile web server on 127.0.0.1, for tests and benchmarks: it answers whatever bytes a
test scripts, as slowly as the test likes. An article site, a feed, a robots.txt or a webhook
receiver gone bad.

``HostileServer`` speaks just enough HTTP/1.1 to read a request (head and Content-Length body)
and then hands the connection to the script registered for the path (``route``); the
connection is closed after each answer. ``CATALOGUE`` names the canned attacks (compression
bombs, dripping heads and bodies, endless bodies, huge and broken headers, invalid redirects,
lying Content-Types) that the tests and ``benchmarks/bench_hostile.py`` use::

    with HostileServer() as server:
        server.route("/a", CATALOGUE["gzip-gzip-bomb"])
        fetch(server.url("/a"))

Stdlib only: this module must not import tracker (the code under test).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import socket
import socketserver
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

ARTICLE = (
    "<!DOCTYPE html><html lang='de'><head><meta charset='utf-8'><title>Bericht</title></head>"
    "<body><article><h1>Bericht aus der Stadt</h1>"
    + "".join(f"<p>Absatz {i}: Die Stadtverwaltung hat am Montag neue Zahlen vorgelegt, die "
              f"zeigen, wie sich die Lage seit der letzten Woche entwickelt hat.</p>"
              for i in range(8))
    + "</article></body></html>"
).encode()


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    time: float = field(default_factory=time.monotonic)


class Answer:
    """What a script writes to the client: ``send`` (stops early once the server stops) and
    ``sleep`` (wakes early then); ``request`` is what the client asked."""

    def __init__(self, sock: socket.socket, request: Request, stopping: threading.Event) -> None:
        self.sock = sock
        self.request = request
        self.stopping = stopping

    def send(self, data: bytes) -> bool:
        if self.stopping.is_set():
            return False
        try:
            self.sock.sendall(data)
        except OSError:  # the client hung up: it gave up, as it should
            return False
        return True

    def sleep(self, seconds: float) -> bool:
        return not self.stopping.wait(seconds)

    def drip(self, data: bytes, every: float) -> bool:
        """Send ``data`` one byte every ``every`` seconds (False once the client is gone)."""
        return all(self.send(data[i : i + 1]) and self.sleep(every) for i in range(len(data)))


Script = Callable[[Answer], None]


class HostileServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host  # another loopback address (127.0.0.2 …) is another site to tracker
        self.routes: dict[str, Script] = {}
        self.requests: list[Request] = []
        self._stopping = threading.Event()
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> HostileServer:
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner._serve(self.request)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        server = socketserver.ThreadingTCPServer((self.host, 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def route(self, path: str, script: Script) -> str:
        self.routes[path] = script
        return self.url(path)

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    def _serve(self, sock: socket.socket) -> None:
        request = _read_request(sock)
        if request is None:
            return
        self.requests.append(request)
        script = self.routes.get(request.path.split("?")[0], not_found)
        with contextlib.suppress(OSError):
            script(Answer(sock, request, self._stopping))
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _read_request(sock: socket.socket) -> Request | None:
    sock.settimeout(10)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk or len(data) > 1_000_000:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = [*lines[0].split(" "), "", ""][:3]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    except (OSError, ValueError):
        return None
    return Request(method, path, headers, body)


# --- scripts --------------------------------------------------------------------------------


def head(status: str = "200 OK", *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers, "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def respond(status: str = "200 OK", *headers: str, body: bytes = b"") -> Script:
    """A plain answer: the head, the given headers (plus Content-Length) and the body."""
    raw = head(status, *headers, f"Content-Length: {len(body)}") + body

    def script(answer: Answer) -> None:
        answer.send(raw)

    return script


def respond_raw(data: bytes) -> Script:
    def script(answer: Answer) -> None:
        answer.send(data)

    return script


not_found = respond("404 Not Found", "Content-Type: text/plain", body=b"not here")


def html(body: bytes = ARTICLE, *headers: str) -> Script:
    return respond("200 OK", "Content-Type: text/html; charset=utf-8", *headers, body=body)


def drip_head(every: float = 1.0, status: str = "200 OK") -> Script:
    """The status line and headers one byte every ``every`` seconds, forever (a long header)."""

    def script(answer: Answer) -> None:
        data = f"HTTP/1.1 {status}\r\nContent-Type: text/html\r\nX-Slow: ".encode()
        if answer.drip(data, every):
            while answer.drip(b"a", every):
                pass

    return script


def drip_body(every: float = 1.0, body: bytes = ARTICLE) -> Script:
    """Prompt headers, then the body one byte every ``every`` seconds."""

    def script(answer: Answer) -> None:
        if answer.send(head("200 OK", "Content-Type: text/html; charset=utf-8",
                            f"Content-Length: {len(body)}")):
            answer.drip(body, every)

    return script


def endless_body(chunk: int = 65_536) -> Script:
    """Chunked, never ending, as fast as the client reads."""

    def script(answer: Answer) -> None:
        if not answer.send(head("200 OK", "Content-Type: text/html", "Transfer-Encoding: chunked")):
            return
        piece = f"{chunk:x}\r\n".encode() + b"<p>" + b"a" * (chunk - 3) + b"\r\n"
        while answer.send(piece):
            pass

    return script


def hang(seconds: float = 3600) -> Script:
    """Accept, read the request, say nothing."""

    def script(answer: Answer) -> None:
        answer.sleep(seconds)

    return script


@functools.cache
def zeros_gzip(size: int) -> bytes:
    """``size`` zero bytes, gzip-compressed (about a thousandth of the size)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * 1_048_576
    parts = [packer.compress(block) for _ in range(size // len(block))]
    return b"".join([*parts, packer.flush()])


@functools.cache
def zeros_deflate(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 15)
    block = b"\0" * 1_048_576
    parts = [packer.compress(block) for _ in range(size // len(block))]
    return b"".join([*parts, packer.flush()])


def bomb(codings: tuple[str, ...], size: int = 1 << 30) -> Script:
    """A body that unpacks to ``size`` bytes in its last layer: ``codings`` applied in order
    (the last one named is the outermost, as in Content-Encoding)."""
    layers = {"gzip": zeros_gzip, "deflate": zeros_deflate}
    body = layers[codings[0]](size)
    for coding in codings[1:]:
        body = gzip.compress(body, 9) if coding == "gzip" else zlib.compress(body, 9)
    return respond("200 OK", "Content-Type: text/html", f"Content-Encoding: {', '.join(codings)}",
                   body=body)


def redirect(location: str, status: str = "302 Found") -> Script:
    return respond(status, f"Location: {location}", body=b"")


def huge_headers(size: int = 1_000_000) -> Script:
    def script(answer: Answer) -> None:
        answer.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n")
        line = b"X-Junk: " + b"a" * 8000 + b"\r\n"
        for _ in range(size // len(line)):
            if not answer.send(line):
                return
        answer.send(b"Content-Length: 0\r\n\r\n")

    return script


def nested(depth: int = 100_000) -> Script:
    body = (b"<html><body>" + b"<div>" * depth + b"<p>tief unten</p>" + b"</div>" * depth
            + b"</body></html>")
    return html(body)


def huge_paragraph(size: int = 1_900_000) -> Script:
    words = b"Wort " * (size // 5)
    return html(b"<html><body><article><h1>Lang</h1><p>" + words + b"</p></article></body></html>")


CATALOGUE: dict[str, Callable[[], Script]] = {
    "gzip-gzip-bomb": lambda: bomb(("gzip", "gzip")),
    "deflate-gzip-bomb": lambda: bomb(("deflate", "gzip")),
    "gzip-br-bomb": lambda: respond("200 OK", "Content-Type: text/html",
                                    "Content-Encoding: gzip, br",
                                    body=zeros_gzip(1 << 30)),
    "gzip-bomb": lambda: bomb(("gzip",)),
    "deflate-bomb": lambda: bomb(("deflate",)),
    "drip-head": lambda: drip_head(1.0),
    "drip-body": lambda: drip_body(1.0),
    "endless-body": endless_body,
    "huge-paragraph": huge_paragraph,
    "deep-nesting": nested,
    "retry-after-b2": lambda: respond_raw(
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: \xb2\r\nContent-Length: 0\r\n"
        b"Connection: close\r\n\r\n"),
    "retry-after-huge": lambda: respond("503 Service Unavailable", "Retry-After: " + "9" * 400),
    "retry-after-9999": lambda: respond("503 Service Unavailable",
                                        "Retry-After: Fri, 31 Dec 9999 23:59:59 GMT"),
    "header-garbage": lambda: respond_raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=\xff\xfe\r\nX-\x00: \x1b]0;x\x07\r\n"
        b"Content-Length: 5\r\nConnection: close\r\n\r\n<p>x"),
    "huge-headers": huge_headers,
    "idn-redirect": lambda: redirect("http://xn--a-.example/"),
    "utf16-lie": lambda: respond("200 OK", "Content-Type: text/html; charset=utf-16",
                                 body=ARTICLE.replace(b"<meta charset='utf-8'>", b"")),
    "redirect-loop": lambda: redirect("/news/a"),
    "image-lie": lambda: respond("200 OK", "Content-Type: image/png", body=ARTICLE),
}


@contextlib.contextmanager
def serving(script: Script, path: str = "/news/a") -> Iterator[tuple[HostileServer, str]]:
    with HostileServer() as server:
        yield server, server.route(path, script)
