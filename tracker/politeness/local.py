"""Politeness within one process: the GCRA rate limiter and the host pauses for its threads,
and at most a few requests in flight per host."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from typing import Protocol

from tracker.politeness.gcra import BURST, MAX_PAUSE, HostState, Turn, decide


class LocalRateLimiter:
    """GCRA for the threads of one process. ``share`` scales every rate: a pass forked into two
    processes gives each half (``tracker.passes``), so together they keep to the rate."""

    def __init__(
        self, *, share: float = 1.0, burst: int = BURST, clock: Callable[[], float] = time.time
    ) -> None:
        self.share = share
        self.burst = burst
        self.clock = clock
        self._hosts: dict[str, HostState] = {}
        self._lock = threading.Lock()

    def turn(self, host: str, rate: float, max_wait: float) -> Turn:
        with self._lock:
            now = self.clock()
            turn, self._hosts[host] = decide(
                self._hosts.get(host, HostState()), now, rate * self.share, max_wait, self.burst
            )
            self._forget(now)
        return turn

    def pause(self, host: str, seconds: float, why: str) -> float:
        with self._lock:
            now = self.clock()
            state = self._hosts.get(host, HostState())
            until = now + min(max(0.0, seconds), MAX_PAUSE)
            if until > state.pause:
                state = replace(state, pause=until, why=why)
            self._hosts[host] = state
            return state.pause

    def _forget(self, now: float) -> None:
        """Drop hosts whose state no longer matters (a long-running process visits many)."""
        if len(self._hosts) < 10_000:
            return
        for host in [h for h, s in self._hosts.items() if max(s.tat, s.line, s.pause) < now]:
            del self._hosts[host]


class HostLimiter:
    """At most ``limit`` requests in flight per host, across the threads of one process."""

    def __init__(self, limit: int) -> None:
        self._limit = max(1, limit)
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        with self._lock:
            semaphore = self._semaphores.setdefault(host, threading.BoundedSemaphore(self._limit))
        with semaphore:
            yield


class Slots(Protocol):
    def slot(self, host: str) -> AbstractContextManager[None]: ...
