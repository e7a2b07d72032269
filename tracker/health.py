"""Is the beat ticking, which workers live? Records in the broker's Redis, written by
``workers`` and read here without Celery (``tracker`` never imports it).

- The beat records every tick it hands to the broker (``record_beat_tick``, after each
  publish); its health check (``tracker beat --check``) is healthy only while the last tick of
  its host is younger than ``BEAT_MISSED`` ticks, and never less than ``BEAT_FLOOR`` seconds
  (``beat_limit``). A stalled scheduler, a beat cut off from Redis, or Redis down all stop the
  records, so all three turn the check unhealthy within that limit.
- Each worker's main process renews ``tracker:node:<name>`` (``record_worker_alive``) every
  third of its expiry; ``live_workers`` lists those renewed in time.

When a worker last *ran* a tick is in the database (``heartbeats``, name "tick"); this is when
the beat last *sent* one.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from tracker.config import Settings

BEAT_MISSED = 3  # ticks a beat may miss before it is unhealthy
BEAT_FLOOR = 10.0  # seconds: with a short tick, a busy moment is not yet a stalled beat
_KEY = "tracker:beat:"  # + the beat's name: its last tick
_ANY = "tracker:beat-last"  # the last tick of any beat
KEEP = 86_400  # seconds a beat's record is kept (a beat gone for good is forgotten)
_NODE = "tracker:node:"  # + a worker's name: alive while this exists


def beat_name() -> str:
    """This beat's name: its host (one beat per container or machine)."""
    return socket.gethostname()


def record_beat_tick(client: Any, name: str | None = None, at: float | None = None) -> None:
    """Record that the beat ``name`` (default: this host's) handed a tick to the broker."""
    at = time.time() if at is None else at
    with client.pipeline() as pipe:
        pipe.set(_KEY + (name or beat_name()), repr(at), ex=KEEP)
        pipe.set(_ANY, repr(at), ex=KEEP)
        pipe.execute()


def last_beat_tick(client: Any, name: str | None = None) -> float | None:
    """Unix time of the last tick the beat ``name`` (None: any beat) handed to the broker."""
    value = client.get(_KEY + name if name else _ANY)
    return float(value) if value is not None else None


def beat_limit(tick_seconds: float) -> float:
    """Seconds since its last tick after which a beat counts as stalled."""
    return max(BEAT_MISSED * tick_seconds, BEAT_FLOOR)


def beat_health(settings: Settings, name: str | None = None) -> tuple[bool, str]:
    """(healthy, one line saying why) for the beat ``name`` (default: this host's)."""
    import redis

    name = name or beat_name()
    limit = beat_limit(settings.tick_seconds)
    client = redis.Redis.from_url(settings.broker_url, socket_timeout=2,
                                  socket_connect_timeout=2)
    try:
        last = last_beat_tick(client, name)
    except redis.RedisError as exc:
        return False, f"broker unreachable: {type(exc).__name__}"
    finally:
        client.close()
    if last is None:
        return False, f"beat {name!r} has not ticked yet"
    age = time.time() - last
    if age > limit:
        return False, f"beat {name!r} last ticked {age:.1f} s ago (more than {limit:g} s)"
    return True, f"beat {name!r} ticked {age:.1f} s ago"


def record_worker_alive(client: Any, node: str, ttl: int) -> None:
    """The worker ``node``'s main process is alive (for the next ``ttl`` seconds)."""
    client.set(_NODE + node, repr(time.time()), ex=ttl)


def live_workers(client: Any) -> list[str]:
    """The names of the workers whose main process renewed its record in time."""
    names = (k.decode() if isinstance(k, bytes) else str(k) for k in client.scan_iter(_NODE + "*"))
    return sorted(name.removeprefix(_NODE) for name in names)
