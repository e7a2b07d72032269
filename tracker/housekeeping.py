"""Housekeeping use cases shared by the embedded service and the Celery beat: retention of raw
bodies and of the check log, removal of paragraphs no version refers to, web-archive captures
of new versions, and the scheduler's heartbeat."""

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


PRUNE_BATCH = 10_000  # checks deleted per transaction


def prune_checks(app: App) -> int:
    """Apply the check-log retention (``keep_checks_days``): checks older than that which stored
    no version are deleted, each article's latest kept. A check every 5 minutes is 288 rows a
    day per article, more than all its versions, so without this the log is what a long-lived
    database is made of. Deleted ``PRUNE_BATCH`` rows a transaction, so the first prune of a
    large log holds the write lock briefly, many times, and checks go on meanwhile."""
    days = app.settings.keep_checks_days
    cutoff = utcnow() - dt.timedelta(days=days)
    removed = 0
    while True:
        with session_scope(app.writer) as session:
            batch = queries.prune_checks(session, cutoff, PRUNE_BATCH)
        removed += batch
        if batch < PRUNE_BATCH:
            break
    if removed:
        log.info("dropped %d checks older than %d days that stored nothing", removed, days)
    return removed


def vacuum_paragraphs(app: App) -> int:
    """Delete stored paragraphs and version metadata that no version refers to (left by removed
    articles); how many paragraphs."""
    with session_scope(app.writer) as session:
        removed = queries.prune_paragraphs(session)
        metadata = queries.prune_meta(session)
    if removed or metadata:
        log.info("removed %d unreferenced paragraphs, %d metadata rows", removed, metadata)
    return removed


def archive_versions(app: App) -> int:
    """Ask the web archive to capture new versions (``archive_versions``; see tracker.archive).
    Never raises for the archive's failures: they are recorded and retried."""
    from tracker.archive import capture_new_versions

    captured = capture_new_versions(app)
    if captured:
        log.info("web archive captured %d new version(s)", captured)
    return captured


def record_tick(app: App, *, claimed: int) -> None:
    with session_scope(app.writer) as session:
        queries.beat(session, "tick", utcnow(), {"claimed": claimed})
