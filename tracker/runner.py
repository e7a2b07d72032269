"""The embedded service (``tracker run``): passes over due articles on their schedules until
it is told to stop, a thread delivering notifications, and housekeeping between passes. Each
pass (``tracker.passes.check_due``) polls the due sources (feeds, sitemaps) first, so the
articles they list are checked in it.

Stopping is cooperative: a signal sets ``stop``; no new check starts after that, and the checks
in progress finish and commit (each is one transaction), so nothing is lost or half-stored. An
article whose check never ran is still due and is checked by the next run.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from typing import Any

from sqlalchemy.exc import DBAPIError

from db import queries, source_queries
from db.session import DatabaseProblem, explain, session_scope
from tracker import housekeeping
from tracker.app import App
from tracker.check import CheckResult
from tracker.clock import utcnow
from tracker.passes import Progress, check_due

log = logging.getLogger(__name__)
# tracker run's own lines (started, stopping, stopped) as the command has always logged them
run_log = logging.getLogger("tracker")


def serve_forever(app: App, *, concurrency: int | None, on_result: Progress | None = None,
                  ) -> None:
    """``tracker run``: serve until SIGINT or SIGTERM (a second one leaves at once), then
    close the app. ``on_result`` hears of every check (the CLI logs the stored versions)."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # a second Ctrl-C: leave now
        run_log.warning("%s received: finishing the checks in progress, then stopping",
                    signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    logging.getLogger("tracker").setLevel(min(logging.INFO, logging.getLogger().level))
    run_log.info("tracker run: checking due articles (Ctrl-C to stop)")
    try:
        checked = serve(app, stop, concurrency=concurrency, on_result=on_result)
    finally:
        app.close()
    run_log.info("stopped after %d check(s)", checked)


def serve(
    app: App, stop: threading.Event, *, concurrency: int | None = None,
    on_result: Progress | None = None, idle: float = 5.0,
) -> int:
    """Check due articles on their schedules until ``stop`` is set; returns checks made.

    A second thread delivers notifications: woken at once when a check writes an event, and
    every second for retries that fall due."""
    wake = threading.Event()

    def note(result: CheckResult) -> None:
        if result.events:
            wake.set()
        if on_result:
            on_result(result)

    courier = threading.Thread(target=_deliver_until, args=(app, stop, wake), name="deliver")
    courier.start()
    try:
        return _check_until(app, stop, concurrency=concurrency, on_result=note, idle=idle)
    finally:
        stop.set()
        wake.set()
        courier.join()


DELIVERY_ROUND = 200  # deliveries claimed per round of the embedded delivery thread


def _deliver_until(app: App, stop: threading.Event, wake: threading.Event) -> None:
    from tracker.delivery import deliver_due

    while not stop.is_set():
        results = []
        try:
            results = deliver_due(app, limit=DELIVERY_ROUND, stop=stop)
            for result in results:
                log.debug("delivery %d: %s%s", result.delivery_id, result.outcome,
                         f" ({result.error})" if result.error else "")
        except Exception as exc:  # the database may be away: keep the service up, try again soon
            log.error("delivering notifications failed: %s; retrying in 5 s", explain(exc))
            log.debug("delivery round failed", exc_info=True)
            stop.wait(5)
        if len(results) < DELIVERY_ROUND:  # a full round means more are waiting: go on
            wake.wait(1.0)
        wake.clear()


def _check_until(
    app: App, stop: threading.Event, *, concurrency: int | None, on_result: Progress,
    idle: float,
) -> int:
    checked = 0
    last_prune = last_archive = utcnow() - dt.timedelta(days=1)
    worked, outage = False, 0  # outage: passes in a row that failed on the database
    while not stop.is_set():
        pause = 0.0
        try:
            results = check_due(app, concurrency=concurrency, on_result=on_result, stop=stop)
            if not results:
                last_prune, last_archive = _housekeeping(app, last_prune, last_archive)
                pause = _sleep_time(app, idle)
        except (DBAPIError, DatabaseProblem) as exc:
            if not worked:
                raise  # the database never worked (read-only, damaged …): say so and stop
            outage += 1
            delay = min(60, 2**outage)  # one line per try, tries ever rarer
            log.error("database error: %s; trying again in %d s", explain(exc), delay)
            log.debug("check pass failed", exc_info=True)
            stop.wait(delay)
            continue
        except Exception:  # a bug must not end the service: keep it up, try again soon
            log.exception("a pass over due articles failed; retrying in a few seconds")
            stop.wait(5)
            continue
        worked = True
        if outage:
            log.warning("the database is back after %d failed pass(es)", outage)
            outage = 0
        if results:
            checked += len(results)
            continue
        stop.wait(pause)
    return checked


def _housekeeping(
    app: App, last_prune: dt.datetime, last_archive: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """Between passes: raw-body and check-log retention hourly; web-archive captures once a
    minute (the pace an archive's anonymous captures allow), after the versions were committed,
    never before."""
    if utcnow() - last_prune > dt.timedelta(hours=1):
        housekeeping.prune_bodies(app)
        housekeeping.prune_checks(app)
        last_prune = utcnow()
    if app.settings.archive_versions and utcnow() - last_archive > dt.timedelta(minutes=1):
        housekeeping.archive_versions(app)
        last_archive = utcnow()
    return last_prune, last_archive


def _sleep_time(app: App, idle: float) -> float:
    with session_scope(app.reader) as session:
        times = [queries.next_due_time(session), source_queries.next_source_due_time(session)]
    due = min((t for t in times if t is not None), default=None)
    if due is None:
        return idle
    return min(idle, max(0.05, (due - utcnow()).total_seconds()))
