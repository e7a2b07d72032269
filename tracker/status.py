"""``tracker status``: is tracker keeping up, and if not, what needs a person?

Read from the database (articles due, overdue, in progress and stranded; checks per second and
due→start lag over the last minutes; deliveries waiting per endpoint), from Redis (reachable?
queue lengths, read directly: tracker does not import Celery) and from the beat's tick record.
``service`` is ``embedded`` (``tracker run``: no broker, no beat; ``queues`` and ``last_tick``
are null and Celery is not mentioned) or ``celery``: a broker is configured
(``TRACKER_BROKER_URL``, ``broker_url`` in the config file, or a setting other than the
default) or a beat has ticked; then the broker, the queues and the tick are read too.

The verdict is ``healthy`` (exit 0), ``degraded`` (1: it runs, but something needs a look) or
``down`` (2: the database, or the service's broker, cannot be reached); each reason is one line
in ``problems``. No part that cannot be reached raises: it becomes such a line.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import tomllib
from dataclasses import dataclass
from enum import IntEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tracker.app import App
from tracker.clock import iso, utcnow
from tracker.config import Settings, config_path
from tracker.health import beat_limit

QUEUES = ("fetch", "deliver", "housekeeping")
# An article due for longer than this is "overdue": nothing is keeping up with it.
OVERDUE_AFTER = dt.timedelta(minutes=1)
# Throughput and lag are measured over the checks started in this window.
WINDOW = dt.timedelta(minutes=5)
# A delivery not tried this long after it was made means no worker sends them.
UNSENT_AFTER = dt.timedelta(minutes=1)
REDIS_TIMEOUT = 2.0  # seconds to connect to and hear from Redis


def stranded_until(settings: Settings, now: dt.datetime) -> dt.datetime:
    """Claims whose lease ends at or before this are stranded. A live claim's heartbeat
    renews its lease every third of ``lease_seconds`` (``db.lease``), so a lease that ran out
    is one whose holder is gone: the next claim takes it over."""
    return now


class Health(IntEnum):
    """The verdict, and the exit status of ``tracker status``."""

    healthy = 0
    degraded = 1
    down = 2


@dataclass
class _Verdict:
    health: Health = Health.healthy
    problems: list[str] | None = None

    def add(self, health: Health, line: str) -> None:
        self.health = max(self.health, health)
        self.problems = [*(self.problems or []), line]


def service_mode(settings: Settings) -> bool:
    """True when a broker is configured (environment, config file, or a setting other than the
    default): the Celery service."""
    if os.environ.get("TRACKER_BROKER_URL") or settings.broker_url != Settings.broker_url:
        return True
    path = config_path()
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        return bool(tomllib.load(handle).get("broker_url"))


def status(app: App, *, service: bool | None = None) -> dict[str, Any]:
    """What ``tracker status`` prints (``--format json`` prints exactly this)."""
    now = utcnow()
    verdict = _Verdict()
    data: dict[str, Any] = {"service": "embedded", "at": iso(now), "queues": None,
                            "last_tick": None}
    found = _database(app, now, data, verdict)
    if service is None:
        service = service_mode(app.settings) or found.get("ticked", False)
    if service:
        data["service"] = "celery"
    else:
        data["last_tick"] = None
    if found["ok"]:
        _judge(app, now, data, verdict, service=service)
    data["database"] = {k: v for k, v in found.items() if k != "ticked"}
    data["redis"] = _redis(app, data, verdict, service=service)
    data["health"] = verdict.health.name
    data["problems"] = verdict.problems or []
    return data


def _database(
    app: App, now: dt.datetime, data: dict[str, Any], verdict: _Verdict
) -> dict[str, Any]:
    from db.session import explain

    try:
        data.update(_read_database(app, now))
    except Exception as exc:  # noqa: BLE001 - whatever it is, one line, never a traceback
        line = f"database unreachable: {explain(exc)}"
        verdict.add(Health.down, line)
        return {"ok": False, "error": line}
    return {"ok": True, "ticked": data["last_tick"] is not None}


def _read_database(app: App, now: dt.datetime) -> dict[str, Any]:
    from db import queries, source_queries, status_queries
    from db.session import session_scope

    with session_scope(app.reader) as session:
        articles = status_queries.article_counts(session, now, OVERDUE_AFTER,
                                                 stranded_until(app.settings, now))
        recent = status_queries.recent_checks(session, now - WINDOW)
        endpoints = status_queries.delivery_counts(session)
        polled = source_queries.source_counts(session, now)
        tick = queries.heartbeat(session, "tick")
    return {
        "articles": articles, "checks": _throughput(recent),
        "deliveries": _deliveries(endpoints, now), "sources": polled,
        "last_tick": None if tick is None else {
            "at": iso(tick.at), "seconds_ago": round((now - tick.at).total_seconds(), 1),
            "claimed": tick.data.get("claimed"),
        },
    }


def _throughput(recent: Any) -> dict[str, Any]:
    lags = sorted(recent.lags_ms)
    lag = None
    if lags:
        lag = {"p50": _seconds(statistics.median_low(lags)),
               "p95": _seconds(lags[min(len(lags) - 1, int(len(lags) * 0.95))]),
               "max": _seconds(lags[-1])}
    return {
        "window_seconds": int(WINDOW.total_seconds()), "count": recent.checks,
        "per_second": round(recent.checks / WINDOW.total_seconds(), 2),
        "by_outcome": recent.by_outcome, "lag_seconds": lag,
    }


def _seconds(ms: int) -> float:
    return round(ms / 1000, 1)


def _deliveries(endpoints: list[dict[str, Any]], now: dt.datetime) -> dict[str, Any]:
    rows = []
    for row in endpoints:
        oldest = row.pop("oldest_waiting")
        row["oldest_waiting_seconds"] = (
            round((now - oldest).total_seconds(), 1) if oldest is not None else None
        )
        row["failing_since"] = iso(row["failing_since"])
        rows.append(row)
    ages = [r["oldest_waiting_seconds"] for r in rows if r["oldest_waiting_seconds"] is not None]
    return {
        "pending": sum(r["pending"] for r in rows),
        "retrying": sum(r["retrying"] for r in rows),
        "failed": sum(r["failed"] for r in rows),
        "oldest_waiting_seconds": max(ages, default=None),
        "endpoints": rows,
    }


def _judge(
    app: App, now: dt.datetime, data: dict[str, Any], verdict: _Verdict, *, service: bool
) -> None:
    """The database's part of the verdict: lost checks, a schedule not kept, deliveries that
    do not go out, a scheduler that does not tick."""
    articles = data["articles"]
    runner = "workers and beat" if service else "`tracker run`"
    if articles["stranded"]:
        verdict.add(Health.degraded, f"{articles['stranded']} check(s) stranded: claimed, but "
                    "their lease ran out unrenewed (a worker lost?); the next claim takes them")
    if articles["overdue"]:
        verdict.add(Health.degraded, f"{articles['overdue']} article(s) overdue, the oldest "
                    f"due {articles['oldest_due_seconds']:.0f} s ago (is {runner} running "
                    "and keeping up?)")
    for endpoint in data["deliveries"]["endpoints"]:
        if endpoint["failing_since"] and endpoint["state"] == "active":
            verdict.add(Health.degraded, f"endpoint {endpoint['id']} failing since "
                        f"{endpoint['failing_since']}: {endpoint['retrying']} waiting for a "
                        f"retry, {endpoint['failed']} failed")
        elif endpoint["pending"] and (endpoint["oldest_waiting_seconds"] or 0) > (
                UNSENT_AFTER.total_seconds()):
            verdict.add(Health.degraded, f"endpoint {endpoint['id']}: {endpoint['pending']} "
                        f"delivery(ies) not sent, the oldest made "
                        f"{endpoint['oldest_waiting_seconds']:.0f} s ago")
    if service:
        tick = data["last_tick"]
        stale = beat_limit(app.settings.tick_seconds)
        if tick is None:
            verdict.add(Health.degraded, "the beat has never ticked (is `tracker beat` "
                        "running?)")
        elif tick["seconds_ago"] > stale:
            verdict.add(Health.degraded, f"the beat's last tick was {tick['seconds_ago']:.0f} s "
                        f"ago (more than {stale:.0f} s: is `tracker beat` running?)")


def _redis(app: App, data: dict[str, Any], verdict: _Verdict, *, service: bool) -> dict[str, Any]:
    """The broker (service mode: down when unreachable) and the rate-limiting Redis (when set,
    in both modes: degraded, as each process then limits on its own)."""
    found: dict[str, Any] = {}
    settings = app.settings
    if service:
        queues, error = _queue_lengths(settings.broker_url)
        found["broker"] = {"url": redact(settings.broker_url), "ok": error is None}
        if error is None:
            data["queues"] = queues
        else:
            line = f"broker {redact(settings.broker_url)} unreachable: {error}"
            data["queues"] = {"error": line}
            found["broker"]["error"] = error
            verdict.add(Health.down, line)
    if settings.rate_limit_url and settings.rate_limit_url != settings.broker_url:
        error = _ping(settings.rate_limit_url)
        found["rate_limit"] = {"url": redact(settings.rate_limit_url), "ok": error is None}
        if error is not None:
            found["rate_limit"]["error"] = error
            verdict.add(Health.degraded, f"rate-limiting Redis {redact(settings.rate_limit_url)}"
                        f" unreachable (each process limits on its own): {error}")
    return found


def _client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT,
                                socket_connect_timeout=REDIS_TIMEOUT)


def _queue_lengths(url: str) -> tuple[dict[str, int], str | None]:
    """Messages waiting per queue, or the reason the broker cannot be read."""
    try:
        import redis
    except ImportError:
        return {}, "the redis package is not installed (pip install 'tracker[worker]')"
    try:
        client = _client(url)
    except ValueError as exc:  # not a Redis URL
        return {}, str(exc)
    try:
        return {name: int(client.llen(name)) for name in QUEUES}, None
    except redis.RedisError as exc:
        return {}, _first_line(exc)
    finally:
        client.close()


def _ping(url: str) -> str | None:
    try:
        import redis
    except ImportError:
        return "the redis package is not installed"
    try:
        client = _client(url)
    except ValueError as exc:
        return str(exc)
    try:
        client.ping()
        return None
    except redis.RedisError as exc:
        return _first_line(exc)
    finally:
        client.close()


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def redact(url: str) -> str:
    """A URL with its password replaced by ``***`` (status output goes to logs and chats)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an invalid URL)"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))
