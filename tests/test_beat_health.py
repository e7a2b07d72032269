"""The beat's health check (``tracker beat --check``) means it: healthy only while the beat hands
ticks to the broker, on real Redis and a real beat process that is frozen, resumed and cut off
from its broker."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.clihelp import TRACKER, environment
from tests.services import CeleryProcess, PrivateRedis, free_port, wait_for
from tracker.config import load_settings
from tracker.health import (
    BEAT_FLOOR,
    BEAT_MISSED,
    beat_health,
    beat_limit,
    beat_name,
    last_beat_tick,
    record_beat_tick,
)


def test_healthy_only_while_the_last_tick_is_younger_than_three_ticks(broker: str) -> None:
    settings = load_settings(broker_url=broker, tick_seconds=4)
    client = redis.Redis.from_url(broker)
    assert beat_health(settings) == (False, f"beat {beat_name()!r} has not ticked yet")
    record_beat_tick(client, at=time.time() - 1)
    healthy, why = beat_health(settings)
    assert healthy, why
    record_beat_tick(client, at=time.time() - BEAT_MISSED * 4 - 0.5)
    healthy, why = beat_health(settings)
    assert not healthy
    assert "more than 12 s" in why
    # Another host's beat ticking says nothing about this one.
    record_beat_tick(client, "elsewhere", at=time.time())
    assert not beat_health(settings)[0]
    assert beat_health(settings, "elsewhere")[0]
    last = last_beat_tick(client)
    assert last is not None
    assert last > time.time() - 2


def test_a_short_tick_is_not_held_to_less_than_the_floor(broker: str) -> None:
    settings = load_settings(broker_url=broker, tick_seconds=0.5)
    client = redis.Redis.from_url(broker)
    record_beat_tick(client, at=time.time() - BEAT_FLOOR + 2)  # six ticks missed, within 10 s
    assert beat_health(settings)[0]
    record_beat_tick(client, at=time.time() - BEAT_FLOOR - 0.5)
    healthy, why = beat_health(settings)
    assert not healthy
    assert f"more than {BEAT_FLOOR:g} s" in why


def test_unhealthy_in_one_line_when_the_broker_is_unreachable() -> None:
    settings = load_settings(broker_url=f"redis://user:secret@127.0.0.1:{free_port()}/0")
    healthy, why = beat_health(settings)
    assert not healthy
    assert why.startswith("broker unreachable: ")
    assert "secret" not in why


def check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TRACKER, "beat", "--check"], capture_output=True, text=True,
                          env=env, timeout=60)


@pytest.mark.redis
@pytest.mark.slow
def test_a_real_beat_is_unhealthy_while_frozen_or_cut_off_from_redis(
    sqlite_url: str, tmp_path: Path, processes: list[CeleryProcess],
) -> None:
    redis_server = PrivateRedis(tmp_path).start()
    try:
        env = environment(sqlite_url, TRACKER_BROKER_URL=redis_server.url,
                          TRACKER_TICK_SECONDS="0.5")
        beat = CeleryProcess("beat", env, "--schedule", str(tmp_path / "beat"), "-l", "INFO")
        processes.append(beat.wait_ready())
        wait_for(lambda: check(env).returncode == 0, 30, "the beat to be healthy")
        os.kill(beat.process.pid, signal.SIGSTOP)  # a stalled scheduler
        try:
            time.sleep(beat_limit(0.5) + 1)
            result = check(env)
            assert result.returncode == 1, result.stdout
            assert "last ticked" in result.stdout
        finally:
            os.kill(beat.process.pid, signal.SIGCONT)
        wait_for(lambda: check(env).returncode == 0, 30, "the beat to be healthy again")
        redis_server.stop()
        result = check(env)
        assert result.returncode == 1
        assert result.stdout.startswith("broker unreachable")
        redis_server.start()  # empty: nothing was persisted
        wait_for(lambda: check(env).returncode == 0, 60, "the beat to tick into the new Redis")
    finally:
        for process in processes:  # before their broker, which they would try to reach
            process.stop()
        redis_server.stop()
