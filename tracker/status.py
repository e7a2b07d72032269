"""``tracker status``: is the service keeping up? Articles due, overdue and failing (from the
database), the queue lengths (from the Redis broker, read directly: tracker does not import
Celery) and the scheduler's last tick.

The queues and the tick belong to the Celery service. Someone who only runs ``tracker run``
(the embedded service: no broker, no beat) is not shown them: the service is taken to be in use
when a ``broker_url`` other than the default is set or a beat has ever ticked
(``"service": "celery"``); otherwise (``"service": "embedded"``) the broker is not asked and
``queues`` and ``last_tick`` are null."""

from __future__ import annotations

import datetime as dt
from typing import Any

from db import queries, source_queries
from db.session import session_scope
from tracker.app import App
from tracker.clock import iso, utcnow
from tracker.config import Settings

QUEUES = ("fetch", "deliver", "housekeeping")
# An article due for longer than this is "overdue": the service is not keeping up.
OVERDUE_AFTER = dt.timedelta(minutes=1)


def status(app: App) -> dict[str, Any]:
    now = utcnow()
    with session_scope(app.reader) as session:
        counts = queries.schedule_counts(session, now, OVERDUE_AFTER)
        polled = source_queries.source_counts(session, now)
        tick = queries.heartbeat(session, "tick")
    last_tick = None
    if tick is not None:
        last_tick = {
            "at": iso(tick.at),
            "seconds_ago": round((now - tick.at).total_seconds(), 1),
            "claimed": tick.data.get("claimed"),
        }
    if not uses_celery(app, ticked=tick is not None):
        return {"service": "embedded", "articles": counts, "sources": polled,
                "last_tick": None, "queues": None}
    return {"service": "celery", "articles": counts, "sources": polled, "last_tick": last_tick,
            "queues": queue_lengths(app)}


def uses_celery(app: App, *, ticked: bool) -> bool:
    """Whether this database is served by the Celery service: a beat has ticked, or a broker
    other than the default is configured."""
    return ticked or app.settings.broker_url != Settings.broker_url


def queue_lengths(app: App) -> dict[str, Any]:
    """Messages waiting per queue, or an ``error`` when the broker cannot be reached."""
    try:
        import redis
    except ImportError:
        return {"error": "the redis package is not installed (pip install 'tracker[worker]')"}
    client = redis.Redis.from_url(app.settings.broker_url, socket_timeout=2,
                                  socket_connect_timeout=2)
    try:
        return {name: int(client.llen(name)) for name in QUEUES}
    except redis.RedisError as exc:
        return {"error": f"broker {app.settings.broker_url} unreachable: {exc}"}
    finally:
        client.close()
