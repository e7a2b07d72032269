"""Politeness towards the sites tracker reads: a request rate per host that every worker keeps
to together, a pause of the whole host after it answered 429 or 503, and at most a few
requests in flight per host.

The rate is GCRA (the "generic cell rate algorithm", a token bucket kept as one timestamp): a
host at ``rate`` requests a minute gets one request every ``60 / rate`` seconds, with a burst of
``BURST`` after a quiet spell, so in any window of W seconds it sees at most
``W × rate / 60 + BURST`` requests. Two implementations of the same algorithm: ``LocalRateLimiter``
for the threads of one process (the embedded ``tracker run`` and ``tracker check``) and
``RedisRateLimiter`` (one Lua script, Redis server time, expiring keys) for the Celery workers,
which share the state wherever they run. A caller whose turn is at most ``max_wait`` seconds
away gets it reserved and sleeps; one further away is refused with the time the host is free,
and the check is deferred (stored as nothing but its next check time) instead of holding a
worker. Refused callers are given successive free slots, so the deferred checks of one host
come back spread at the host's rate rather than all at once.

If Redis cannot be reached the limiters fall back to the in-process ones, with a warning, and
try Redis again every few seconds: nothing is lost or crashes, but while Redis is away each
process keeps to the rate on its own (so N processes may together send N times the rate).

Depends on the standard library (and ``redis`` when a Redis URL is configured); the host rates
come in as a callable, so nothing here knows the database.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tracker.config import Settings

log = logging.getLogger(__name__)

BURST = 1  # requests a host may get at once after a quiet spell (1: strictly spaced)
# Turns are spaced this much wider than 60 / rate: the requests reach the site a little early
# or late (scheduling, the network), and without the margin two of them could land closer
# together than the turns were, so that some minute held one request more than the rate.
SPACING_MARGIN = 1.01
MAX_SLEEP = 2.0  # seconds a check may wait for its turn; longer and it is deferred
DEFAULT_PAUSE = 60.0  # seconds a host is paused after 429/503 without a usable Retry-After
MAX_PAUSE = 3600.0  # a Retry-After further out than this is cut to it
SLOT_RETRY = 5.0  # a check that found every slot of its host taken comes back this much later
REDIS_RETRY = 5.0  # seconds between attempts to reach Redis again after it failed
PREFIX = "tracker:polite:"


class HostBusy(Exception):
    """The host cannot take a request now: come back at ``until`` (epoch seconds)."""

    def __init__(self, until: float, reason: str, *, paused: bool = False) -> None:
        super().__init__(reason)
        self.until = until
        self.reason = reason
        self.paused = paused  # the host asked for the pause (429/503), not the rate


@dataclass(frozen=True, slots=True)
class Turn:
    """A limiter's answer to "may I send a request to this host?"."""

    granted: bool
    wait: float  # granted: sleep this long first; refused: seconds until the host is free
    paused: str = ""  # refused because the host is paused: why ("HTTP 429 …"); else ""


@dataclass(frozen=True, slots=True)
class HostState:
    """All the algorithm remembers of a host, as epoch seconds."""

    tat: float = 0.0  # theoretical arrival time: when the host is back to an empty bucket
    line: float = 0.0  # the free slot after the last one promised to a refused caller
    pause: float = 0.0  # no request before this
    why: str = ""  # what caused the pause


def decide(
    state: HostState, now: float, rate: float, max_wait: float, burst: int = BURST
) -> tuple[Turn, HostState]:
    """One GCRA step: the turn for a caller at ``now`` and the host's new state.

    ``rate`` is requests per minute; 0 or less means no limit (but a pause still holds)."""
    interval = 60.0 / rate if rate > 0 else 0.0
    tolerance = interval * (max(1, burst) - 1)
    tat = max(state.tat, now)
    allowed = max(tat - tolerance, state.pause)
    wait = max(0.0, allowed - now)
    if wait <= max_wait:
        return Turn(True, wait), replace(state, tat=max(tat, allowed) + interval)
    slot = max(state.line, allowed)
    paused = (state.why or "paused") if state.pause > tat - tolerance else ""
    return Turn(False, slot - now, paused), replace(state, line=slot + interval)


class RateLimiter(Protocol):
    def turn(self, host: str, rate: float, max_wait: float) -> Turn: ...

    def pause(self, host: str, seconds: float, why: str) -> float:
        """Pause ``host`` for ``seconds`` (capped at MAX_PAUSE); returns the pause's end."""
        ...


class LocalRateLimiter:
    """GCRA for the threads of one process. ``share`` scales every rate: a pass forked into two
    processes gives each half (``tracker.runner``), so together they keep to the rate."""

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


# --- Redis ----------------------------------------------------------------------------------

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


# --- host rates and the whole --------------------------------------------------------------


class HostRates:
    """Requests per minute for each host: the per-host rule (``hosts.rate_per_minute``) or the
    global setting, read through ``loader`` and cached for ``refresh`` seconds. A failing
    loader (the database briefly away) keeps the rules read last."""

    def __init__(
        self, default: float, loader: Callable[[], Mapping[str, float]] | None = None, *,
        refresh: float = 60.0, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.default = default
        self.loader = loader
        self.refresh = refresh
        self.clock = clock
        self._rules: Mapping[str, float] = {}
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def rate(self, host: str) -> float:
        if self.loader is not None:
            self._maybe_reload()
        return self._rules.get(host.lower(), self.default)

    def _maybe_reload(self) -> None:
        now = self.clock()
        if self._loaded_at is not None and now - self._loaded_at < self.refresh:
            return
        with self._lock:
            if self._loaded_at is not None and now - self._loaded_at < self.refresh:
                return
            self._loaded_at = now
            assert self.loader is not None
            try:
                self._rules = {h.lower(): float(r) for h, r in self.loader().items()}
            except Exception as exc:  # noqa: BLE001 - keep the last rules, try again later
                log.warning("could not read the per-host rates (%s); keeping the last ones", exc)


class Politeness:
    """What the fetcher asks before each request: a slot of the host, then a turn in its rate.

    ``max_sleep`` is the longest wait slept (default ``MAX_SLEEP``); a longer one raises
    ``HostBusy``."""

    def __init__(
        self, limiter: RateLimiter, slots: Slots, rates: HostRates, *,
        max_sleep: float | None = None, link: RedisLink | None = None,
    ) -> None:
        self.limiter = limiter
        self.slots = slots
        self.rates = rates
        self.max_sleep = MAX_SLEEP if max_sleep is None else max_sleep
        self.link = link

    def slot(self, host: str) -> AbstractContextManager[None]:
        return self.slots.slot(host)

    def wait_turn(self, host: str) -> None:
        """Return when a request to ``host`` may go out (after sleeping at most ``max_sleep``),
        or raise ``HostBusy`` with when it may."""
        rate = self.rates.rate(host)
        turn = self.limiter.turn(host, rate / SPACING_MARGIN, self.max_sleep)
        if turn.granted:
            if turn.wait > 0:
                time.sleep(turn.wait)
            return
        until = time.time() + turn.wait
        if turn.paused:
            raise HostBusy(until, f"{host} is paused until {_clock(until)} after {turn.paused}",
                           paused=True)
        raise HostBusy(until, f"{host} is at its rate limit ({rate:g} requests/min); next free "
                              f"turn at {_clock(until)}")

    def pause(self, host: str, seconds: float, why: str) -> float:
        until = self.limiter.pause(host, seconds, why)
        log.warning("pausing requests to %s until %s after %s", host, _clock(until), why)
        return until

    def close(self) -> None:
        if self.link is not None:
            self.link.close()


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M:%SZ", time.gmtime(epoch))


def slot_ttl(settings: Settings) -> float:
    """How long a Redis slot holder lives: longer than a fetch may take (connect, then the
    whole-fetch deadline, then one more read timeout for the chunk in progress)."""
    return float(settings.connect_timeout + settings.fetch_deadline + settings.read_timeout + 5)


def build(
    *, rate: float, concurrency: int, rate_limit_url: str = "", slot_ttl: float = 120.0,
    loader: Callable[[], Mapping[str, float]] | None = None, share: float = 1.0,
) -> Politeness:
    """The politeness of one process: in-process, or shared through Redis at
    ``rate_limit_url`` (per-host concurrency included). ``share`` scales the in-process rate
    (see ``LocalRateLimiter``)."""
    rates = HostRates(rate, loader)
    local = LocalRateLimiter(share=share)
    slots = HostLimiter(concurrency)
    if not rate_limit_url:
        return Politeness(local, slots, rates)
    try:
        link = RedisLink(rate_limit_url)
    except ImportError:
        log.warning("rate_limit_url is set but the redis package is not installed "
                    "(pip install 'tracker[worker]'): limiting per process")
        return Politeness(local, slots, rates)
    limiter = RedisRateLimiter(link, fallback=local)
    shared = RedisSlots(link, concurrency, ttl=slot_ttl, fallback=slots)
    return Politeness(limiter, shared, rates, link=link)
