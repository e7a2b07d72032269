"""The security headers are added to every response, a crash's 500 included (the middleware
called in-process, as uvicorn calls it)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from fastapi import FastAPI

from tracker.web.app import CONTENT_SECURITY_POLICY, SecurityHeaders


def call(app: Any, path: str) -> tuple[int, list[tuple[str, str]]]:
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": [], "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80)}

    async def run() -> None:
        # Starlette re-raises after sending the 500, for the server to log
        with contextlib.suppress(RuntimeError):
            await app(scope, receive, send)

    # In a thread of its own: the browser tests' Playwright keeps an event loop running in
    # the main thread, where asyncio.run() would refuse to start.
    worker = threading.Thread(target=asyncio.run, args=(run(),))
    worker.start()
    worker.join(30)
    start = next(m for m in messages if m["type"] == "http.response.start")
    return start["status"], [(k.decode(), v.decode()) for k, v in start["headers"]]


def crashing_app() -> FastAPI:
    inner = FastAPI()

    @inner.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    @inner.get("/fine")
    def fine() -> dict[str, str]:
        return {"ok": "yes"}

    inner.add_middleware(SecurityHeaders)
    return inner


def test_a_crash_still_carries_the_headers_when_wrapped_outside() -> None:
    status, pairs = call(SecurityHeaders(crashing_app()), "/boom")
    headers = dict(pairs)
    assert status == 500
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert headers["x-content-type-options"] == "nosniff"


def test_headers_are_added_once_when_both_layers_run() -> None:
    status, pairs = call(SecurityHeaders(crashing_app()), "/fine")
    assert status == 200
    names = [name for name, _ in pairs]
    assert names.count("server-timing") == 1
    assert names.count("content-security-policy") == 1
    assert dict(pairs)["referrer-policy"] == "no-referrer"
