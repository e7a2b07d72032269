"""The per-host rate limiters, in-process and in a real Redis: the same algorithm, checked on a
logical clock (both take ``now``), then under concurrent callers on the real clock (grants
counted, with generous bounds), pauses, the Redis slots with expiring holders, host rates,
and what happens when Redis is away."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL, service_missing
from tests.services import PrivateRedis, free_port
from tracker.politeness import (
    BURST,
    MAX_PAUSE,
    HostBusy,
    HostRates,
    LocalRateLimiter,
    Politeness,
    RedisLink,
    RedisRateLimiter,
    RedisSlots,
    Turn,
)

HOST = "news.example"
T0 = 1_700_000_000.0  # a logical epoch second


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def link() -> Iterator[RedisLink]:
    """A link to the test Redis with a key prefix of its own (other tests share the database)."""
    import redis

    made = RedisLink(REDIS_URL, prefix=f"test:{uuid.uuid4().hex[:8]}:")
    try:
        made.client.ping()
    except redis.RedisError as exc:
        service_missing(f"Redis at {REDIS_URL} ({exc})")
    yield made
    keys = list(made.client.scan_iter(f"{made.prefix}*"))
    if keys:
        made.client.delete(*keys)
    made.close()


class Logical:
    """Either limiter, driven at given instants: ``turn(at, …)`` and ``pause(at, …)``."""

    def __init__(self, kind: str, link: RedisLink | None) -> None:
        self.clock = Clock()
        self.local = LocalRateLimiter(clock=self.clock)
        self.redis = RedisRateLimiter(link) if link is not None else None
        self.kind = kind

    def turn(self, at: float, rate: float, max_wait: float = 0.0, host: str = HOST) -> Turn:
        if self.redis is not None:
            return self.redis.turn(host, rate, max_wait, now=T0 + at)
        self.clock.now = T0 + at
        return self.local.turn(host, rate, max_wait)

    def pause(self, at: float, seconds: float, why: str, host: str = HOST) -> float:
        if self.redis is not None:
            return self.redis.pause(host, seconds, why, now=T0 + at) - T0
        self.clock.now = T0 + at
        return self.local.pause(host, seconds, why) - T0


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
def logical(request: pytest.FixtureRequest) -> Logical:
    if request.param == "redis":
        return Logical("redis", request.getfixturevalue("link"))
    return Logical("local", None)


# --- the algorithm, on a logical clock -------------------------------------------------------


def test_a_burst_then_one_request_per_interval(logical: Logical) -> None:
    turns = [logical.turn(0, rate=60) for _ in range(BURST + 2)]
    assert [t.granted for t in turns] == [True] * BURST + [False, False]
    # Refused callers are told when the host is free, each a slot later than the one before.
    assert [round(t.wait, 6) for t in turns[BURST:]] == [1.0, 2.0]
    assert logical.turn(1.0, rate=60).granted
    assert not logical.turn(1.5, rate=60).granted
    assert logical.turn(2.0, rate=60).granted


def test_grants_in_any_window_stay_under_the_rate_plus_the_burst(logical: Logical) -> None:
    """Callers every 50 ms for two logical minutes at 60/min: 3 at once, then one a second."""
    granted = [k / 20 for k in range(120 * 20) if logical.turn(k / 20, rate=60).granted]
    assert len(granted) == BURST + 119
    windows = [sum(start <= t < start + 60 for t in granted) for start in range(61)]
    assert max(windows) <= 60 + BURST
    assert min(windows) >= 59
    tens = [sum(start <= t < start + 10 for t in granted) for start in range(111)]
    assert max(tens) <= 10 + BURST


def test_a_short_wait_is_reserved_and_a_long_one_refused(logical: Logical) -> None:
    for _ in range(BURST):
        logical.turn(0, rate=60, max_wait=2)
    first, second, third = (logical.turn(0, rate=60, max_wait=2) for _ in range(3))
    assert (first.granted, round(first.wait, 6)) == (True, 1.0)
    assert (second.granted, round(second.wait, 6)) == (True, 2.0)
    assert (third.granted, round(third.wait, 6)) == (False, 3.0)
    # The reservations hold: a caller just after them is still not early.
    assert not logical.turn(0.5, rate=60).granted


def test_hosts_and_their_rates_are_independent(logical: Logical) -> None:
    for _ in range(BURST):
        assert logical.turn(0, rate=6).granted
    assert not logical.turn(0, rate=6).granted
    assert logical.turn(0, rate=6, host="other.example").granted
    assert round(logical.turn(0, rate=6).wait, 6) == 20.0  # 10 s apart at 6/min; one in line


def test_no_rate_means_no_limit(logical: Logical) -> None:
    assert all(logical.turn(0, rate=0).granted for _ in range(200))


def test_a_pause_refuses_every_caller_until_it_ends_and_says_why(logical: Logical) -> None:
    assert logical.pause(0, 30, "HTTP 429 (Retry-After: 30)") == pytest.approx(30)
    turn = logical.turn(1, rate=60, max_wait=2)
    assert not turn.granted
    assert turn.paused == "HTTP 429 (Retry-After: 30)"
    assert turn.wait == pytest.approx(29)
    assert logical.turn(1, rate=60, host="other.example").granted
    # A shorter pause does not cut a longer one short.
    assert logical.pause(2, 5, "HTTP 503") == pytest.approx(30)
    assert not logical.turn(29.9, rate=60).granted
    assert logical.turn(30, rate=60).granted


def test_callers_refused_during_a_pause_come_back_spread_at_the_rate(logical: Logical) -> None:
    logical.pause(0, 60, "HTTP 503")
    waits = [round(logical.turn(1, rate=60).wait, 6) for _ in range(4)]
    assert waits == [59.0, 60.0, 61.0, 62.0]


def test_a_pause_is_capped_at_an_hour(logical: Logical) -> None:
    assert logical.pause(0, 86_400, "HTTP 429 (Retry-After: 86400)") == pytest.approx(MAX_PAUSE)
    assert logical.turn(MAX_PAUSE, rate=60).granted


def test_a_share_scales_the_in_process_rate() -> None:
    clock = Clock()
    half = LocalRateLimiter(share=0.5, clock=clock)
    granted = 0
    for k in range(60 * 10):
        clock.now = T0 + k / 10
        granted += half.turn(HOST, 60, 0).granted
    assert granted == BURST + 29  # one every 2 s: 30/min


# --- concurrent callers on the real clock ----------------------------------------------------


def hammer(turn: Callable[[], Turn], threads: int, seconds: float) -> tuple[list[float], float]:
    """``threads`` callers asking as fast as they can for ``seconds``; grant times, elapsed."""
    granted: list[float] = []
    lock = threading.Lock()
    start = time.time()

    def caller() -> None:
        while time.time() - start < seconds:
            if turn().granted:
                with lock:
                    granted.append(time.time())

    workers = [threading.Thread(target=caller) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sorted(granted), time.time() - start


def assert_kept_to(granted: list[float], elapsed: float, per_second: float) -> None:
    # Upper bounds follow from the algorithm whatever the scheduling; the lower bound is loose
    # (a loaded machine may starve the callers) but shows the limiter is not just refusing.
    assert len(granted) <= BURST + per_second * elapsed + 1
    assert len(granted) >= per_second * elapsed * 0.4
    for i, start in enumerate(granted):
        within = sum(1 for t in granted[i:] if t < start + 1.0)
        assert within <= per_second + BURST + 2, "more grants in one second than the rate"


def test_in_process_limiter_keeps_to_the_rate_under_concurrent_threads() -> None:
    limiter = LocalRateLimiter()
    granted, elapsed = hammer(lambda: limiter.turn(HOST, 1200, 0), threads=8, seconds=1.5)
    assert_kept_to(granted, elapsed, per_second=20)


@pytest.mark.redis
def test_redis_limiter_keeps_to_the_rate_across_clients(link: RedisLink) -> None:
    """Eight callers, each with a connection of its own, as eight worker processes would."""
    links = [RedisLink(REDIS_URL, prefix=link.prefix) for _ in range(8)]
    limiters = [RedisRateLimiter(each) for each in links]
    turns = iter(range(10**9))
    lock = threading.Lock()

    def turn() -> Turn:
        with lock:
            limiter = limiters[next(turns) % len(limiters)]
        return limiter.turn(HOST, 1200, 0)

    try:
        granted, elapsed = hammer(turn, threads=8, seconds=1.5)
    finally:
        for each in links:
            each.close()
    assert_kept_to(granted, elapsed, per_second=20)


@pytest.mark.redis
def test_redis_pause_is_seen_by_every_client_and_its_key_expires(link: RedisLink) -> None:
    other = RedisLink(REDIS_URL, prefix=link.prefix)
    try:
        RedisRateLimiter(link).pause(HOST, 0.6, "HTTP 429 (Retry-After: 1)")
        turn = RedisRateLimiter(other).turn(HOST, 6000, 0)
        assert (turn.granted, turn.paused) == (False, "HTTP 429 (Retry-After: 1)")
        assert 0 < turn.wait <= 0.6
        # Kept while it matters: the pause, the slot promised after it, the burst, a second.
        assert 0 < link.client.pttl(link.key("rate", HOST)) <= (0.6 + 0.01 + 0.02 + 1) * 1000
    finally:
        other.close()


# --- Redis slots: at most N in flight per host, across processes, holders expire -------------


@pytest.mark.redis
def test_redis_slots_hold_the_limit_across_clients(link: RedisLink) -> None:
    other = RedisLink(REDIS_URL, prefix=link.prefix)
    try:
        first = RedisSlots(link, 2, ttl=30, max_wait=0.2)
        second = RedisSlots(other, 2, ttl=30, max_wait=0.2)
        with first.slot(HOST), second.slot(HOST):
            busy = r"2 request\(s\) to news.example already"
            with pytest.raises(HostBusy, match=busy), first.slot(HOST):
                pass
            with second.slot("other.example"):
                pass  # another host has slots of its own
        with second.slot(HOST), second.slot(HOST):
            pass  # both given back
    finally:
        other.close()


@pytest.mark.redis
def test_a_slot_holder_that_never_returns_expires(link: RedisLink) -> None:
    slots = RedisSlots(link, 1, ttl=0.4, max_wait=0.1)
    taken = slots.slot(HOST)
    taken.__enter__()  # a worker killed mid-request never leaves the block
    with pytest.raises(HostBusy), slots.slot(HOST):
        pass
    time.sleep(0.5)
    with slots.slot(HOST):
        pass


# --- when Redis is away -----------------------------------------------------------------------


def test_unreachable_redis_falls_back_to_in_process_limits_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    link = RedisLink(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2)
    limiter = RedisRateLimiter(link)
    slots = RedisSlots(link, 1, ttl=30)
    with caplog.at_level(logging.WARNING, logger="tracker.politeness"):
        turns = [limiter.turn(HOST, 60, 0) for _ in range(BURST + 1)]
        with slots.slot(HOST):
            pass
        limiter.pause(HOST, 30, "HTTP 503")
    assert [t.granted for t in turns] == [True] * BURST + [False]  # still limited, locally
    assert limiter.fallback.turn(HOST, 60, 0).paused == "HTTP 503"
    warnings = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1
    link.close()


@pytest.mark.redis
def test_limiter_goes_back_to_redis_when_it_returns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = PrivateRedis(tmp_path).start()
    link = RedisLink(server.url, timeout=0.3, retry=0.2)
    limiter = RedisRateLimiter(link)
    try:
        assert limiter.turn(HOST, 60, 0).granted
        assert link.client.exists(link.key("rate", HOST))
        server.stop()
        with caplog.at_level(logging.WARNING, logger="tracker.politeness"):
            assert limiter.turn(HOST, 60, 0).granted  # the local fallback's own burst
            server.start()
            time.sleep(0.3)
            for _ in range(BURST):
                limiter.turn(HOST, 60, 0)
        assert link.client.exists(link.key("rate", HOST))  # state in Redis again
        messages = " ".join(r.getMessage() for r in caplog.records)
        assert "unreachable" in messages
        assert "is back" in messages
    finally:
        link.close()
        server.stop()


# --- host rates and the facade -----------------------------------------------------------------


def test_host_rates_are_read_once_a_refresh_and_kept_when_reading_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock(0)
    reads: list[int] = []
    rules = {"Slow.Example": 6.0}

    def loader() -> dict[str, float]:
        reads.append(1)
        if len(reads) == 3:
            raise RuntimeError("database away")
        return dict(rules)

    rates = HostRates(60, loader, refresh=60, clock=clock)
    assert (rates.rate("slow.example"), rates.rate("fast.example")) == (6.0, 60)
    assert len(reads) == 1
    rules["slow.example"] = 12.0
    clock.now = 59
    assert rates.rate("slow.example") == 6.0
    clock.now = 61
    assert rates.rate("slow.example") == 12.0
    clock.now = 122
    with caplog.at_level(logging.WARNING, logger="tracker.politeness"):
        assert rates.rate("slow.example") == 12.0
    assert "keeping the last ones" in caplog.text
    assert len(reads) == 3


def test_politeness_sleeps_a_short_wait_and_refuses_a_long_one() -> None:
    from tracker.politeness import HostLimiter

    polite = Politeness(LocalRateLimiter(), HostLimiter(2), HostRates(120), max_sleep=0.6)
    for _ in range(BURST):
        polite.wait_turn(HOST)
    before = time.monotonic()
    polite.wait_turn(HOST)  # half a second after the burst began: slept, not refused
    assert time.monotonic() - before >= 0.4
    polite.limiter.turn(HOST, 120, 10)  # another caller takes the next turn ...
    with pytest.raises(HostBusy, match=r"rate limit \(120 requests/min\)") as refused:
        polite.wait_turn(HOST)  # ... so this one is a second away: refused
    assert not refused.value.paused
    assert refused.value.until > time.time()
    polite.pause(HOST, 60, "HTTP 429")
    with pytest.raises(HostBusy, match=r"paused until .* after HTTP 429") as paused:
        polite.wait_turn(HOST)
    assert paused.value.paused
    assert paused.value.until == pytest.approx(time.time() + 60, abs=2)
