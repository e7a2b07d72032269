"""Running the web view: in the foreground (``tracker serve``) or in a background thread of the
embedded service (``tracker run --serve``), on uvicorn."""

from __future__ import annotations

import logging
import signal
import socket
import threading
from dataclasses import dataclass

import uvicorn

from tracker.app import App
from tracker.errors import TrackerError
from tracker.web.app import secured_web_app

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"


def parse_address(text: str, default_host: str = "127.0.0.1") -> Address:
    """``8080``, ``:8080``, ``127.0.0.1:8080`` or ``[::1]:8080``; the host defaults to
    127.0.0.1 (this machine only)."""
    value = text.strip()
    host, _, port = value.rpartition(":") if ":" in value else ("", "", value)
    host = host.strip("[]") or default_host
    if not port.isdigit() or not 0 <= int(port) <= 65_535:
        raise TrackerError(f"--serve {text!r}: write it as PORT or HOST:PORT, e.g. 127.0.0.1:8080")
    return Address(host, int(port))


def _config(app: App, address: Address) -> uvicorn.Config:
    return uvicorn.Config(
        secured_web_app(app), host=address.host, port=address.port, log_level="warning",
        access_log=False, proxy_headers=False, server_header=False, lifespan="off",
    )


def _bound_socket(address: Address) -> socket.socket:
    """The listening socket, bound before the server starts so a busy port is a clear error
    and port 0 resolves to the port actually taken."""
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address.host, address.port))
    except OSError as exc:
        sock.close()
        raise TrackerError(f"cannot listen on {address.host}:{address.port}: {exc.strerror}"
                           ) from None
    sock.listen(128)
    return sock


def serve_foreground(app: App, address: Address, on_ready: object = None) -> None:
    """``tracker serve``: until Ctrl-C or SIGTERM, then requests in progress finish and the
    process exits normally (uvicorn alone would re-raise the signal)."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    server = BackgroundServer(app, address).start()
    try:
        if callable(on_ready):
            on_ready(server.address)
        while not stop.wait(1.0) and server.running:
            pass
    finally:
        server.stop()
        for number, handler in previous.items():
            signal.signal(number, handler)


class BackgroundServer:
    """The web view in a thread of another process (``tracker run --serve``, the tests):
    ``start()`` returns once it accepts connections, ``stop()`` lets requests in progress
    finish."""

    def __init__(self, app: App, address: Address) -> None:
        self._sock = _bound_socket(address)
        self.address = Address(address.host, self._sock.getsockname()[1])
        self._server = uvicorn.Server(_config(app, self.address))
        self._thread = threading.Thread(target=self._run, name="web", daemon=True)

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except Exception:  # the service goes on without its web view; say why
            log.exception("the web view stopped")

    def start(self) -> BackgroundServer:
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            self._thread.join(0.02)
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()
