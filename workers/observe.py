"""Logging and metrics of the Celery processes, set up through Celery's signals.

- ``setup_logging``: Celery leaves logging to tracker (``tracker.logs.configure``: text or
  JSON lines, per-task lines at DEBUG only).
- ``worker_init``: with ``TRACKER_METRICS_ADDRESS`` set (``tracker worker --metrics-port``), the
  worker's main process serves the metrics of all its pool processes, which write them to
  ``PROMETHEUS_MULTIPROC_DIR`` (set before Celery started, so inherited).
- ``beat_init``: the beat serves the backlog read from the database (it runs no tasks).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery.signals import beat_init, setup_logging, worker_init, worker_process_shutdown

from tracker import logs
from tracker.service import METRICS_ENV, MetricsAddress, metrics_address

log = logging.getLogger(__name__)


@setup_logging.connect
def _configure_logging(loglevel: Any = None, **_: Any) -> None:
    logs.configure(loglevel)


def _address() -> MetricsAddress | None:
    value = os.environ.get(METRICS_ENV)
    return metrics_address(value) if value else None


@worker_init.connect
def _worker_metrics(**_: Any) -> None:
    address = _address()
    if address is not None:
        from tracker import metrics

        metrics.serve(address.port, host=address.host)


@beat_init.connect
def _beat_metrics(**_: Any) -> None:
    address = _address()
    if address is not None:
        from tracker import metrics
        from tracker.app import App

        metrics.serve(address.port, App(), host=address.host)


@worker_process_shutdown.connect
def _flush_summary(**_: Any) -> None:
    logs.SUMMARY.flush()
