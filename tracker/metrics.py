"""Prometheus metrics: what tracker's processes count, and how they are served.

Counted where the work happens (every mode alike): checks by outcome, their duration and
due→start lag, the extraction path of each page, webhook delivery attempts by result and
attempt number, lease takeovers. The backlog (articles due, overdue, in progress, stranded;
deliveries waiting; the beat's last tick) is read from the database when scraped
(``BacklogCollector``), by the web view's ``/metrics`` and the ``--metrics-port`` servers of
``tracker beat`` and ``tracker run``.

Celery's prefork pool runs tasks in child processes, each with its own memory: with
``PROMETHEUS_MULTIPROC_DIR`` set (``tracker worker --metrics-port`` sets it to a fresh
directory before Celery starts, so the pool inherits it) prometheus-client keeps every
process's values in files there, and the worker's main process serves their sum
(``registry``). See https://prometheus.github.io/client_python/multiprocess/.

Label values are bounded sets (outcomes, results, paths, kinds): nothing from the web becomes
a label.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from tracker import logs

if TYPE_CHECKING:
    from tracker.app import App

log = logging.getLogger(__name__)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
__all__ = ["CONTENT_TYPE_LATEST", "exposition", "registry"]

CHECKS = Counter("tracker_checks", "Checks by outcome.", ["outcome"])
CHECK_SECONDS = Histogram(
    "tracker_check_duration_seconds", "Time from a check's start to its stored result.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60, 120),
)
LAG_SECONDS = Histogram(
    "tracker_check_lag_seconds", "How late checks started after their article fell due.",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
)
EXTRACTIONS = Counter("tracker_extractions", "Pages extracted, by where the text was found.",
                      ["path"])
DELIVERY_ATTEMPTS = Counter(
    "tracker_delivery_attempts", "Webhook delivery attempts by result and attempt number "
    "(1, 2, 3, 4-6, 7+).", ["result", "attempt"],
)
LEASE_TAKEOVERS = Counter(
    "tracker_lease_takeovers", "Claims that took over a lease its holder stopped renewing.",
    ["kind"],
)
_PATH = re.compile(r"[^a-z0-9 _.-]")


def check_done(outcome: str, seconds: float, lag_seconds: float | None) -> None:
    """One check finished with ``outcome`` (a ``CheckResult.outcome``)."""
    CHECKS.labels(outcome).inc()
    logs.count("checks", outcome)
    if outcome not in {"skipped", "deferred"}:  # no request was sent: no duration, no lag
        CHECK_SECONDS.observe(seconds)
        if lag_seconds is not None:
            LAG_SECONDS.observe(lag_seconds)


def extracted(path: str) -> None:
    """A page's text was found by ``path`` (``Extraction.source``: json-ld body, selector,
    trafilatura …)."""
    EXTRACTIONS.labels(_PATH.sub("", path.lower())[:40] or "other").inc()


def delivery_attempted(result: str, attempt: int) -> None:
    """One webhook attempt ended in ``result`` (delivered, retry, failed, disabled)."""
    DELIVERY_ATTEMPTS.labels(result, attempt_bucket(attempt)).inc()
    logs.count("deliveries", result)


def attempt_bucket(attempt: int) -> str:
    if attempt <= 3:
        return str(max(attempt, 1))
    return "4-6" if attempt <= 6 else "7+"


def lease_taken_over(kind: str, count: int = 1, *, detail: str = "") -> None:
    """A claim took over ``count`` leases of ``kind`` (article, source, delivery) whose holder
    stopped renewing them: counted, and logged as a warning (a worker was lost)."""
    if count <= 0:
        return
    LEASE_TAKEOVERS.labels(kind).inc(count)
    log.warning("took over %d %s lease(s) whose holder stopped renewing them%s", count, kind,
                f": {detail}" if detail else "")


# --- serving ----------------------------------------------------------------------------------


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def registry(app: App | None = None) -> CollectorRegistry:
    """What a scrape returns: this process's metrics (or, in multiprocess mode, the sum over
    every process writing to the directory), plus the backlog read from ``app``'s database."""
    from prometheus_client import multiprocess as mp

    served = CollectorRegistry(auto_describe=False)
    if multiprocess():
        mp.MultiProcessCollector(served)  # type: ignore[no-untyped-call]
    else:
        served.register(_Process())
    if app is not None:
        served.register(BacklogCollector(app))
    return served


def exposition(app: App | None = None) -> bytes:
    return bytes(generate_latest(registry(app)))


class _Process(Collector):
    """The default registry's metrics (this process's), inside another registry."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


class BacklogCollector(Collector):
    """Gauges read from the database at scrape time; a database that does not answer gives
    ``tracker_database_up 0`` instead of an error."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily("tracker_database_up", "1 when the database answered.")
        try:
            with self._lock:
                families = list(self._read())
        except Exception as exc:  # noqa: BLE001 - a scrape must answer; the reason is logged
            log.warning("metrics: the database did not answer: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self) -> Iterator[Any]:
        from db import queries, status_queries
        from db.session import session_scope
        from tracker.clock import utcnow
        from tracker.status import OVERDUE_AFTER, stranded_until

        now = utcnow()
        with session_scope(self.app.reader) as session:
            articles = status_queries.article_counts(session, now, OVERDUE_AFTER,
                                                     stranded_until(self.app.settings, now))
            endpoints = status_queries.delivery_counts(session)
            tick = queries.heartbeat(session, "tick")
        backlog = GaugeMetricFamily("tracker_articles", "Articles by schedule and claim.",
                                    labels=["state"])
        for state in ("due", "overdue", "in_progress", "stranded", "failing", "unavailable"):
            backlog.add_metric([state], articles[state])
        backlog.add_metric(["all"], articles["articles"])
        yield backlog
        deliveries = GaugeMetricFamily(
            "tracker_deliveries", "Webhook deliveries waiting or given up, per endpoint id.",
            labels=["state", "endpoint"])
        oldest = GaugeMetricFamily(
            "tracker_delivery_oldest_waiting_seconds",
            "Age of the oldest delivery waiting, per endpoint id.", labels=["endpoint"])
        for row in endpoints:
            endpoint = str(row["id"])
            for state in ("pending", "retrying", "failed"):
                deliveries.add_metric([state, endpoint], row[state])
            if row["oldest_waiting"] is not None:
                oldest.add_metric([endpoint], _age(now, row["oldest_waiting"]))
        yield deliveries
        yield oldest
        if tick is not None:
            yield GaugeMetricFamily("tracker_last_tick_age_seconds",
                                    "Seconds since the beat's tick last ran.",
                                    value=_age(now, tick.at))


def _age(now: dt.datetime, then: dt.datetime) -> float:
    return max(0.0, (now - then).total_seconds())


def serve(port: int, app: App | None = None, host: str = "0.0.0.0") -> Any:  # noqa: S104
    """Serve ``registry(app)`` on http://host:port/metrics in a background thread."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=host, registry=registry(app))
    log.info("metrics on http://%s:%d/metrics", host, port)
    return server
