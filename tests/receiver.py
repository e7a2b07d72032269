"""A real webhook receiver for tests: verifies every request like a subscriber would.

A ``ThreadingHTTPServer`` on 127.0.0.1 (HTTP/1.1, one daemon thread per connection) that checks
each request with the ``standardwebhooks`` package against the configured secrets, then answers
as told by ``respond``:

    ok        204
    fail      ``status`` (default 500), with a ``Retry-After: retry_after`` header when given
    gone      410
    hang      waits ``seconds`` (default 30), then 204; other requests are served meanwhile,
              and ``stop`` wakes it, closing the connection without an answer
    redirect  302 to ``location`` (default: /elsewhere on this server), which a sender must
              not follow

Every mode takes ``times=N``: it applies to the next N verified requests, then "ok" again.
A request whose signature does not verify (or that arrives while no secret is set) gets 401.

``WebhookReceiver(verify=False)`` takes any POST on any path unsigned, as the services that
notification channels post to do (Apprise's json://, form://, ntfy://, gotify:// targets); its
messages' ``body`` is the parsed JSON, or the form fields, or the raw bytes.

``received`` holds the verified messages that were answered 2xx, ``attempts`` every request.
``stop()`` and ``start()`` close and reopen the same port, with open keep-alive connections cut,
so a test can take the receiver down and bring it back.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook

MODES = {"ok", "fail", "gone", "hang", "redirect"}
PATH = "/hook"


class WebhookReceiver:
    def __init__(self, secrets: list[str] | None = None, *, verify: bool = True) -> None:
        self.verify = verify
        self.received: list[dict[str, Any]] = []
        self.attempts: list[dict[str, Any]] = []
        self.in_progress = 0  # verified requests being answered (a hang counts until it ends)
        self._secrets = list(secrets or [])
        self._mode: tuple[str, dict[str, Any], int | None] = ("ok", {}, None)
        self._changed = threading.Condition()
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    # --- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> WebhookReceiver:
        """Listen (again): the first start picks a free port, later ones reuse it."""
        if self._server is not None:
            return self
        self._stopping = threading.Event()
        self._server = _bind(self._port, _handler_for(self))
        self._port = self._server.server_address[1]
        # A short poll interval keeps stop() quick; shutdown() waits for the next poll.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True,
            name=f"webhook-receiver-{self._port}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening, wake hanging requests and cut open connections."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._changed:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its client
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}{PATH}"

    # --- what to answer -------------------------------------------------------------------------

    def set_secrets(self, secrets: list[str]) -> None:
        with self._changed:
            self._secrets = list(secrets)

    def respond(self, mode: str, *, times: int | None = None, **params: Any) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose from {sorted(MODES)}")
        with self._changed:
            self._mode = (mode, params, times)

    def _next_mode(self) -> tuple[str, dict[str, Any]]:
        """The mode for one verified request, counting down its ``times``."""
        with self._changed:
            mode, params, times = self._mode
            if times is not None:
                self._mode = (mode, params, times - 1) if times > 1 else ("ok", {}, None)
            return mode, params

    # --- what happened --------------------------------------------------------------------------

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The received messages once there are at least ``count``; AssertionError on timeout."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(
                    f"expected {count} verified message(s) within {timeout} s, got "
                    f"{len(self.received)}; attempts: {self._attempt_lines()}"
                )
            return list(self.received)

    def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``condition()`` holds; it is checked whenever a request is recorded."""
        with self._changed:
            if not self._changed.wait_for(condition, timeout):
                raise AssertionError(f"condition not met within {timeout} s; attempts: "
                                     f"{self._attempt_lines()}")

    def wait_for_attempts(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.attempts) >= count, timeout):
                raise AssertionError(f"expected {count} attempt(s) within {timeout} s, got "
                                     f"{self._attempt_lines()}")
            return list(self.attempts)

    def ids(self) -> list[str]:
        """webhook-ids of the received messages, in arrival order (duplicates included)."""
        with self._changed:
            return [message["id"] for message in self.received]

    def duplicates(self) -> dict[str, int]:
        """webhook-id → times received, for ids received more than once."""
        return {i: n for i, n in Counter(self.ids()).items() if n > 1}

    def _attempt_lines(self) -> list[str]:
        return [f"{a['method']} {a['path']} → {a['status']} ({a['error'] or 'ok'})"
                for a in self.attempts]

    def _record(self, attempt: dict[str, Any], message: dict[str, Any] | None) -> None:
        with self._changed:
            self.attempts.append(attempt)
            if message is not None:
                message["duplicate"] = message["id"] in {m["id"] for m in self.received}
                self.received.append(message)
            self._changed.notify_all()

    def _in_progress(self, change: int) -> None:
        with self._changed:
            self.in_progress += change
            self._changed.notify_all()

    def _verify(self, body: bytes, headers: dict[str, str]) -> tuple[list[int], str | None]:
        """Indices of the secrets that verify the message, or an error saying why none did."""
        with self._changed:
            secrets = list(self._secrets)
        if not secrets:
            return [], "no secret configured"
        verified, errors = [], []
        for index, secret in enumerate(secrets):
            try:
                Webhook(secret).verify(body, headers)
            except Exception as exc:  # the library also lets decoding errors through
                errors.append(f"{type(exc).__name__}: {exc}")
            else:
                verified.append(index)
        return verified, None if verified else "; ".join(errors)


def _bind(port: int, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """Bind, retrying briefly: right after a stop the port may still be settling."""
    deadline = time.monotonic() + 2
    while True:
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        except OSError:
            if port == 0 or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        else:
            server.daemon_threads = True
            return server


def _handler_for(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    stopping = receiver._stopping  # this run's; a later start() makes a new one

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with receiver._changed:
                receiver._connections.add(self.connection)
            if stopping.is_set():  # accepted just as stop() collected the connections
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

        def finish(self) -> None:
            with receiver._changed:
                receiver._connections.discard(self.connection)
            super().finish()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # tests read .attempts, not stderr

        def do_GET(self) -> None:
            self._read_body()
            receiver._record(self._attempt(b"", 405, [], "not a POST"), None)
            self._answer(405, b"POST only")

        def do_POST(self) -> None:
            """Record first, then answer: a client that has its answer finds it recorded."""
            body = self._read_body()
            headers = {name.lower(): value for name, value in self.headers.items()}
            if self.path != PATH and receiver.verify:
                receiver._record(self._attempt(body, 404, [], f"path {self.path}"), None)
                self._answer(404, b"not the webhook path")
                return
            verified, error = receiver._verify(body, headers) if receiver.verify else ([], None)
            if receiver.verify and not verified:
                receiver._record(self._attempt(body, 401, [], error), None)
                self._answer(401, b"signature not verified")
                return
            receiver._in_progress(+1)
            try:
                answer = self._decide(*receiver._next_mode())
            finally:
                receiver._in_progress(-1)
            status = answer[0] if answer else None
            message = _message(body, headers, verified) if status and status < 300 else None
            receiver._record(self._attempt(body, status, verified, None), message)
            if answer is None:
                self.close_connection = True  # stopped while hanging: no answer at all
            else:
                self._answer(*answer)

        def _decide(
            self, mode: str, params: dict[str, Any]
        ) -> tuple[int, bytes, dict[str, str]] | None:
            """What the mode answers: status, body, extra headers; None to cut the connection."""
            if mode == "hang" and stopping.wait(float(params.get("seconds", 30))):
                return None
            if mode == "fail":
                later = params.get("retry_after")
                extra = {"Retry-After": str(later)} if later is not None else {}
                return int(params.get("status", 500)), b"failing on purpose", extra
            if mode == "gone":
                return 410, b"gone", {}
            if mode == "redirect":
                location = params.get("location") or f"http://127.0.0.1:{receiver.port}/elsewhere"
                return 302, b"", {"Location": location}
            if not receiver.verify:  # push services answer 200 with a JSON body
                return 200, b"{}", {"Content-Type": "application/json"}
            return 204, b"", {}

        def _read_body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _answer(self, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            if status != 204:  # a 204 must not carry Content-Length
                if "Content-Type" not in (extra or {}):
                    self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        def _attempt(
            self, body: bytes, status: int | None, verified: list[int], error: str | None
        ) -> dict[str, Any]:
            return {
                "id": self.headers.get("webhook-id"),
                "method": self.command,
                "path": self.path,
                "status": status,
                "verified_by": verified,
                "error": error,
                "headers": {name.lower(): value for name, value in self.headers.items()},
                "body": body,
                "at": time.monotonic(),
            }

    return Handler


def _message(body: bytes, headers: dict[str, str], verified: list[int]) -> dict[str, Any]:
    return {
        "id": headers.get("webhook-id"),
        "timestamp": int(headers.get("webhook-timestamp") or 0),
        "body": _parsed(body, headers.get("content-type", "")),
        "headers": headers,
        "verified_by": verified,
        "received_at": time.monotonic(),
    }


def _parsed(body: bytes, content_type: str) -> Any:
    if "json" in content_type:
        return json.loads(body)
    if "form-urlencoded" in content_type:
        from urllib.parse import parse_qs

        return {k: v[0] for k, v in parse_qs(body.decode("utf-8")).items()}
    return body
