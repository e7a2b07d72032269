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

The package: ``gcra`` (the pure algorithm and the shared answers), ``local`` (the in-process
limiter, host pauses and slots), ``redislink`` (the Redis script, slots and outage marker) and
here the whole that the fetcher asks (``Politeness``, the host rates and ``build``). Every name
is importable from ``tracker.politeness``.

Depends on the standard library (and ``redis`` when a Redis URL is configured); the host rates
come in as a callable, so nothing here knows the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from tracker.politeness.gcra import (
    BURST,
    DEFAULT_PAUSE,
    MAX_PAUSE,
    MAX_SLEEP,
    SPACING_MARGIN,
    HostBusy,
    HostState,
    RateLimiter,
    Turn,
    decide,
)
from tracker.politeness.local import HostLimiter, LocalRateLimiter, Slots
from tracker.politeness.redislink import (
    PREFIX,
    REDIS_RETRY,
    SLOT_RETRY,
    OutageMarker,
    RedisLink,
    RedisRateLimiter,
    RedisSlots,
)

if TYPE_CHECKING:
    from tracker.config import Settings

__all__ = [
    "BURST", "DEFAULT_PAUSE", "MAX_PAUSE", "MAX_SLEEP", "PREFIX", "REDIS_RETRY", "SLOT_RETRY",
    "SPACING_MARGIN", "HostBusy", "HostLimiter", "HostRates", "HostState", "LocalRateLimiter",
    "OutageMarker", "Politeness", "RateLimiter", "RedisLink", "RedisRateLimiter", "RedisSlots",
    "Slots", "Turn", "build", "decide", "slot_ttl",
]

log = logging.getLogger(__name__)


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
