"""Politeness shared by every process through Redis: the GCRA rate script (Redis server time,
expiring keys), the per-host slots, and the link that notices Redis gone and back (once per
machine, through an outage marker file) and lets the limiters fall back to the in-process ones
meanwhile."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tracker.politeness.gcra import BURST, MAX_PAUSE, MAX_SLEEP, HostBusy, Turn
from tracker.politeness.local import HostLimiter, LocalRateLimiter

log = logging.getLogger(__name__)

SLOT_RETRY = 5.0  # a check that found every slot of its host taken comes back this much later
REDIS_RETRY = 5.0  # seconds between attempts to reach Redis again after it failed
PREFIX = "tracker:polite:"

# Times are epoch seconds as "%.6f" strings; ARGV[n] "now" is only for tests with a logical
# clock: the service always uses the server's TIME, so the workers' own clocks never matter.
_NOW = """
local function now_or(arg)
  if arg and arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function fmt(x) return string.format('%.6f', x) end
"""
_TURN = _NOW + """
-- KEYS[1]: the host's hash. ARGV: interval, tolerance, max_wait (seconds), [now]
local now = now_or(ARGV[4])
local interval, tolerance, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 'tat', 'line', 'pause', 'why')
local tat = math.max(tonumber(s[1]) or 0, now)
local line = tonumber(s[2]) or 0
local pause = tonumber(s[3]) or 0
local allowed = math.max(tat - tolerance, pause)
local wait = math.max(0, allowed - now)
local granted, why = 0, ''
if wait <= max_wait then
  granted = 1
  tat = math.max(tat, allowed) + interval
  redis.call('HSET', KEYS[1], 'tat', fmt(tat))
else
  local slot = math.max(line, allowed)
  wait = slot - now
  line = slot + interval
  redis.call('HSET', KEYS[1], 'line', fmt(line))
  if pause > tat - tolerance then why = s[4] or 'paused' end
end
local horizon = math.max(tat, line, pause) - now + tolerance
redis.call('PEXPIRE', KEYS[1], math.ceil(horizon * 1000) + 1000)
return {granted, fmt(wait), why}
"""
_PAUSE = _NOW + """
-- KEYS[1]: the host's hash. ARGV: seconds, why, [now]. Returns the pause's end.
local now = now_or(ARGV[3])
local finish = now + tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'pause')) or 0
if finish > current then
  redis.call('HSET', KEYS[1], 'pause', fmt(finish), 'why', ARGV[2])
  local needed = math.ceil((finish - now) * 1000) + 1000
  if redis.call('PTTL', KEYS[1]) < needed then redis.call('PEXPIRE', KEYS[1], needed) end
  return fmt(finish)
end
return fmt(current)
"""
_ACQUIRE = """
-- KEYS[1]: the host's holders (a sorted set scored by expiry, ms). ARGV: limit, ttl_ms, token
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
  return 1
end
return 0
"""


class RedisLink:
    """One Redis client shared by the limiters of a process, and whether Redis is reachable.

    After a failure the limiters use their in-process fallbacks for ``retry`` seconds before
    trying Redis again; the outage and the recovery are logged once each. Once for the
    machine, not per process: a marker file (``OutageMarker``) says Redis was seen gone, so
    the process that finds it back says so even when the one that saw it go is no more (a
    Celery worker replaces its pool processes when it loses the broker)."""

    def __init__(
        self, url: str, *, prefix: str = PREFIX, timeout: float = 1.0, retry: float = REDIS_RETRY
    ) -> None:
        import redis

        self.url = url
        self.prefix = prefix
        self.retry = retry
        self.client = redis.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout, health_check_interval=30
        )
        self.errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._down_until = 0.0
        self._marker = OutageMarker(url)
        self._down = False
        self._fresh = True  # no answer from Redis yet in this process
        self._lock = threading.Lock()

    def script(self, source: str) -> Any:
        return self.client.register_script(source)

    def key(self, kind: str, host: str) -> str:
        return f"{self.prefix}{kind}:{host}"

    def usable(self) -> bool:
        return time.monotonic() >= self._down_until

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self._down_until = time.monotonic() + self.retry
            self._fresh = False
            if not self._down:
                self._down = True
                if self._marker.place():
                    log.warning("rate limiting Redis at %s is unreachable (%s): limiting per "
                                "process until it is back", _safe(self.url), exc)

    def worked(self) -> None:
        if self._down or self._fresh:  # the first answer: was it seen gone by another process?
            with self._lock:
                if self._down or self._fresh:
                    self._down = self._fresh = False
                    if self._marker.remove():
                        log.warning("rate limiting Redis at %s is back", _safe(self.url))

    def close(self) -> None:
        self.client.close()


class OutageMarker:
    """A file per Redis URL in a private temporary directory, present while Redis is seen
    gone. Creating it (exclusively) and removing it are atomic, so among the processes of a
    machine one says "gone" and one says "back". A marker older than ``STALE`` seconds was
    left by processes that are no more: the next to see Redis gone says so again. Where no
    file can be made, every process says both for itself."""

    STALE = 60.0

    def __init__(self, url: str) -> None:
        name = hashlib.sha256(url.encode()).hexdigest()[:16]
        self.path = Path(tempfile.gettempdir()) / f"tracker-{os.getuid()}" / f"redis-{name}"

    def place(self) -> bool:
        """True when this process is the one to say Redis is gone."""
        try:
            self.path.parent.mkdir(mode=0o700, exist_ok=True)
            os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            try:
                stale = time.time() - self.path.stat().st_mtime > self.STALE
                os.utime(self.path)  # seen gone again, now
            except OSError:
                return False
            return stale
        except OSError:
            return True
        return True

    def remove(self) -> bool:
        """True when this process is the one to say Redis is back."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError:
            return True
        return True


def _safe(url: str) -> str:
    """The URL without a password, for logs."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url


class RedisRateLimiter:
    """GCRA in Redis: the same algorithm as ``decide``, atomic in one Lua script per turn, so
    every worker process on every machine shares one state per host. Keys
    (``<prefix>rate:<host>``) expire once their state no longer matters."""

    def __init__(
        self, link: RedisLink, *, fallback: LocalRateLimiter | None = None, burst: int = BURST
    ) -> None:
        self.link = link
        self.burst = burst
        self.fallback = fallback or LocalRateLimiter(burst=burst)
        self._turn = link.script(_TURN)
        self._pause = link.script(_PAUSE)

    def turn(self, host: str, rate: float, max_wait: float, *, now: float | None = None) -> Turn:
        if not self.link.usable():
            return self.fallback.turn(host, rate, max_wait)
        interval = 60.0 / rate if rate > 0 else 0.0
        tolerance = interval * (max(1, self.burst) - 1)
        args = [repr(interval), repr(tolerance), repr(max_wait), "" if now is None else repr(now)]
        try:
            granted, wait, why = self._turn(keys=[self.link.key("rate", host)], args=args)
        except self.link.errors as exc:
            self.link.failed(exc)
            return self.fallback.turn(host, rate, max_wait)
        self.link.worked()
        return Turn(bool(granted), float(wait), why.decode() if isinstance(why, bytes) else why)

    def pause(self, host: str, seconds: float, why: str, *, now: float | None = None) -> float:
        local = self.fallback.pause(host, seconds, why)  # also here, if Redis goes away
        if not self.link.usable():
            return local
        seconds = min(max(0.0, seconds), MAX_PAUSE)
        args = [repr(seconds), why, "" if now is None else repr(now)]
        try:
            until = self._pause(keys=[self.link.key("rate", host)], args=args)
        except self.link.errors as exc:
            self.link.failed(exc)
            return local
        self.link.worked()
        return float(until)


class RedisSlots:
    """At most ``limit`` requests in flight per host across every process: a semaphore in Redis
    whose holders expire after ``ttl`` seconds (longer than any fetch may take), so a worker
    killed mid-request cannot keep a slot. A caller waits up to ``max_wait`` seconds for a slot,
    then the check is deferred (``HostBusy``)."""

    def __init__(
        self, link: RedisLink, limit: int, *, ttl: float, max_wait: float = MAX_SLEEP,
        fallback: HostLimiter | None = None,
    ) -> None:
        self.link = link
        self.limit = max(1, limit)
        self.ttl = ttl
        self.max_wait = max_wait
        self.fallback = fallback or HostLimiter(limit)
        self._acquire = link.script(_ACQUIRE)

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        token = self._take(host)
        if token is None:  # Redis is away: this process's own semaphore
            with self.fallback.slot(host):
                yield
            return
        try:
            yield
        finally:
            self._give_back(host, token)

    def _take(self, host: str) -> str | None:
        key, token = self.link.key("slots", host), secrets.token_hex(8)
        deadline = time.monotonic() + self.max_wait
        delay = 0.01
        while self.link.usable():
            try:
                taken = self._acquire(keys=[key], args=[self.limit, math.ceil(self.ttl * 1000),
                                                        token])
            except self.link.errors as exc:
                self.link.failed(exc)
                break
            self.link.worked()
            if taken:
                return token
            if time.monotonic() + delay > deadline:
                raise HostBusy(time.time() + SLOT_RETRY,
                               f"{self.limit} request(s) to {host} already in flight")
            time.sleep(delay)
            delay = min(0.2, delay * 2)
        return None

    def _give_back(self, host: str, token: str) -> None:
        try:
            self.link.client.zrem(self.link.key("slots", host), token)
        except self.link.errors as exc:  # the holder expires on its own
            self.link.failed(exc)
