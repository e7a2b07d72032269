"""The Celery application, configured from the same settings as the rest of tracker.

Reliability settings, and why:

- ``task_acks_late`` + ``task_reject_on_worker_lost``: a task is acknowledged only after it ran,
  and a worker process killed mid-task puts its message back, so no check is lost.
- ``worker_prefetch_multiplier = 1``: checks are long I/O; a worker holding ten messages while
  it waits on one slow site would starve the others.
- Redis ``visibility_timeout`` (default 1 h) far longer than any task's hard time limit
  (``CHECK_TIME_LIMIT``): a shorter one would make Redis hand a running task to a second
  worker. Long delays never go into countdowns or ETAs (Redis would redeliver those too): they
  live in the database as next check times.
- ``worker_cancel_long_running_tasks_on_connection_loss``: after losing the broker, a worker
  cancels late-ack tasks whose messages Redis will redeliver anyway, instead of running them
  twice in parallel. On ``redis://`` brokers, kombu's transport as ``workers.broker`` adjusts
  it: the channels of the connection Celery drops then fail with a connection error, not an
  ``AttributeError`` that stopped the worker.
- Queues by kind of work (``fetch``, ``deliver``, ``housekeeping``) so a slow site cannot delay
  webhook delivery or the scheduler's tick.
- Leases, not the visibility timeout, are what heal a lost task within seconds: a claim's lease
  (``lease_seconds``, 30 s) is renewed by the tick while its message waits (``workers.queued``)
  and by the worker's heartbeat while it runs (``tracker.leases.Keeper``). A worker killed with
  ``kill -9``, or messages lost with a Redis restart without persistence, stop the renewals; the
  next tick takes the claims over and sends new messages. The old message, if Redis hands it
  out again after the visibility timeout, finds its claim gone and is dropped at once.
- The beat records each tick it publishes in Redis (``tracker.health``), so its health check
  (``tracker beat --check``) fails when the scheduler stalls or cannot reach the broker.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import after_task_publish
from kombu import Queue

from tracker.config import load_settings
from tracker.health import record_beat_tick
from workers import observe  # noqa: F401 - logging and metrics, through Celery signals
from workers.broker import transport_for

log = logging.getLogger(__name__)

CHECK_TIME_LIMIT = 120  # seconds; fetches and deliveries have their own, shorter timeouts
CHECK_SOFT_LIMIT = CHECK_TIME_LIMIT - 15
QUEUES = ("fetch", "deliver", "housekeeping")

settings = load_settings()
celery = Celery("tracker", broker=settings.broker_url, include=["workers.tasks"])
celery.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_acks_on_failure_or_timeout=True,
    worker_prefetch_multiplier=1,
    worker_cancel_long_running_tasks_on_connection_loss=True,
    broker_connection_retry_on_startup=True,
    broker_transport=transport_for(settings.broker_url),
    broker_transport_options={"visibility_timeout": settings.visibility_timeout},
    task_ignore_result=True,
    task_time_limit=CHECK_TIME_LIMIT,
    task_soft_time_limit=CHECK_SOFT_LIMIT,
    task_queues=[Queue(name) for name in QUEUES],
    task_default_queue="fetch",
    task_routes={
        "tracker.check": {"queue": "fetch"},
        "tracker.check_batch": {"queue": "fetch"},
        "tracker.poll_source": {"queue": "fetch"},
        "tracker.deliver": {"queue": "deliver"},
        "tracker.deliver_batch": {"queue": "deliver"},
        "tracker.dispatch": {"queue": "deliver"},
        "tracker.*": {"queue": "housekeeping"},
    },
    task_serializer="json",
    accept_content=["json"],
    timezone="UTC",
    enable_utc=True,
    worker_hijack_root_logger=False,
    beat_schedule={
        "tick": {"task": "tracker.tick", "schedule": settings.tick_seconds,
                 "options": {"expires": max(5.0, settings.tick_seconds * 2)}},
        "prune-bodies": {"task": "tracker.prune_bodies", "schedule": 3600.0},
        "prune-checks": {"task": "tracker.prune_checks", "schedule": 3600.0},
        "vacuum-paragraphs": {"task": "tracker.vacuum_paragraphs", "schedule": 86_400.0},
        "archive-versions": {"task": "tracker.archive_versions", "schedule": 60.0,
                             "options": {"expires": 55.0}},
    },
)


_beat_client: Any = None  # Redis on the broker, in the beat's process


@after_task_publish.connect
def _ticked(sender: str | None = None, **_: Any) -> None:
    """In the beat: record each tick handed to the broker, for its health check
    (``tracker beat --check``). Never fails the beat: a missing record is what the check
    reports."""
    global _beat_client
    if sender != "tracker.tick" or not settings.broker_url.startswith(("redis", "unix")):
        return
    try:
        if _beat_client is None:
            import redis

            _beat_client = redis.Redis.from_url(settings.broker_url, socket_timeout=2,
                                                socket_connect_timeout=2)
        record_beat_tick(_beat_client)
    except Exception as exc:  # noqa: BLE001 - the broker is away: the check will say so
        log.debug("cannot record the tick: %s", type(exc).__name__)
