"""One deadline for a whole request, every phase: connecting, the TLS handshake, sending, waiting
for the headers, reading the body, each redirect hop, robots.txt.

httpx's timeouts bound each socket operation, so a server that sends one byte a second never
trips them. Instead, ``bounded(seconds)`` sets a deadline for the calling thread (a context
variable), and the guarded transport's network stream (``BoundedStream``, installed by
``tracker.netguard.guarded_transport``) gives every socket operation at most the time that is
left; once none is left, the operation fails with a timeout, which the caller reports as the
deadline. ``cancel`` (a ``threading.Event``) ends a request early too, within ``SLICE`` seconds:
``tracker run`` stops promptly on Ctrl-C even while a receiver drips its answer.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpcore

SLICE = 0.5  # seconds a read waits at a time when it can be cancelled
_SOCKET_BUFFER = 65_536


@dataclass(frozen=True, slots=True)
class _Bound:
    until: float  # time.monotonic()
    cancel: threading.Event | None


_current: ContextVar[_Bound | None] = ContextVar("tracker_deadline", default=None)


@contextlib.contextmanager
def bounded(seconds: float, cancel: threading.Event | None = None) -> Iterator[None]:
    """Every request of the calling thread inside this block ends by ``seconds`` from now (or
    an earlier deadline already set)."""
    until = time.monotonic() + max(0.0, seconds)
    outer = _current.get()
    if outer is not None:
        until = min(until, outer.until)
        cancel = cancel or outer.cancel
    token = _current.set(_Bound(until, cancel))
    try:
        yield
    finally:
        _current.reset(token)


def remaining() -> float | None:
    """Seconds left before the deadline (None: no deadline set)."""
    bound = _current.get()
    return None if bound is None else bound.until - time.monotonic()


def expired() -> bool:
    left = remaining()
    return left is not None and left <= 0


def cancelled() -> bool:
    bound = _current.get()
    return bound is not None and bound.cancel is not None and bound.cancel.is_set()


def cut(requested: float | None) -> float | None:
    """The socket timeout to use: the one requested, cut to the time left."""
    left = remaining()
    if left is None:
        return requested
    left = max(left, 0.001)
    return left if requested is None else min(requested, left)


class BoundedStream(httpcore.NetworkStream):
    """A network stream whose every operation ends by the deadline of the current request."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        while True:
            _check("reading")
            wait = _sliced(timeout)
            try:
                return self._inner.read(max_bytes, wait)
            except httpcore.ReadTimeout:
                if wait == timeout or expired() or cancelled():
                    raise
                if timeout is not None:
                    timeout -= wait or 0.0

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        _check("sending", httpcore.WriteTimeout)
        if len(buffer) <= _SOCKET_BUFFER:  # goes into the socket's buffer without waiting
            self._inner.write(buffer, cut(timeout))
            return
        # A large body is many sends with one timeout each: a receiver reading a byte at a
        # time would never trip them.
        with _watchdog(self._inner.get_extra_info("socket")):
            self._inner.write(buffer, cut(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        _check("connecting", httpcore.ConnectTimeout)
        # A handshake is many reads with one timeout each: a server dripping it byte by byte
        # would never trip them, so the socket is shut down when the deadline passes.
        with _watchdog(self._inner.get_extra_info("socket")):
            return BoundedStream(self._inner.start_tls(ssl_context, server_hostname,
                                                       cut(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _check(doing: str, error: type[Exception] = httpcore.ReadTimeout) -> None:
    if cancelled():
        raise error(f"cancelled while {doing}")
    if expired():
        raise error(f"deadline passed while {doing}")


def _sliced(requested: float | None) -> float | None:
    wait = cut(requested)
    bound = _current.get()
    if bound is not None and bound.cancel is not None:
        wait = SLICE if wait is None else min(wait, SLICE)
    return wait


@contextlib.contextmanager
def _watchdog(sock: socket.socket | None) -> Iterator[None]:
    left = remaining()
    if sock is None or left is None:
        yield
        return
    timer = threading.Timer(max(left, 0.001), _shut, (sock,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
