"""Housekeeping use cases shared by the embedded service and the Celery beat: retention of raw
bodies, removal of paragraphs no version refers to, and the scheduler's heartbeat."""

from __future__ import annotations

import datetime as dt
import logging

from db import queries
from db.session import session_scope
from tracker.app import App
from tracker.clock import utcnow

log = logging.getLogger(__name__)


def prune_bodies(app: App) -> int:
    """Apply the raw-body retention setting (``keep_bodies_days``)."""
    days = app.settings.keep_bodies_days
    cutoff = utcnow() - dt.timedelta(days=days)
    with session_scope(app.writer) as session:
        removed = queries.prune_bodies(session, cutoff)
    if removed:
        log.info("dropped %d raw bodies older than %d days", removed, days)
    return removed


def vacuum_paragraphs(app: App) -> int:
    """Delete stored paragraphs that no version refers to (left by removed articles)."""
    with session_scope(app.writer) as session:
        removed = queries.prune_paragraphs(session)
    if removed:
        log.info("removed %d unreferenced paragraphs", removed)
    return removed


def record_tick(app: App, *, claimed: int) -> None:
    with session_scope(app.writer) as session:
        queries.beat(session, "tick", utcnow(), {"claimed": claimed})
