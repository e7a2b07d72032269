"""Running many checks: one pass over due articles (``tracker check``) and the embedded service
(``tracker run``) that repeats passes on the articles' schedules until it is told to stop.

Stopping is cooperative: a signal sets ``stop``; no new check starts after that, and the checks
in progress finish and commit (each is one transaction), so nothing is lost or half-stored. An
article whose check never ran is still due and is checked by the next run.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from db import queries
from db.session import session_scope
from tracker.app import App
from tracker.check import CheckResult, check_article, utcnow

log = logging.getLogger(__name__)
Progress = Callable[[CheckResult], None]


def due_ids(app: App, now: dt.datetime | None = None) -> list[int]:
    with session_scope(app.reader) as session:
        return queries.due_article_ids(session, now or utcnow())


def check_many(
    app: App,
    article_ids: Iterable[int],
    *,
    concurrency: int | None = None,
    on_result: Progress | None = None,
    stop: threading.Event | None = None,
) -> list[CheckResult]:
    """Check the articles, ``concurrency`` at a time; returns the results in completion order.

    At most ``concurrency`` checks are submitted at once, so a stop request leaves the rest
    untouched rather than queued."""
    workers = max(1, concurrency or app.settings.concurrency)
    pending = iter(article_ids)
    results: list[CheckResult] = []
    running: set[Future[CheckResult]] = set()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="check") as pool:
        while True:
            while len(running) < workers and not (stop and stop.is_set()):
                article_id = next(pending, None)
                if article_id is None:
                    break
                running.add(pool.submit(check_article, app, article_id))
            if not running:
                return results
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                result = future.result()
                results.append(result)
                if on_result:
                    on_result(result)


def serve(
    app: App, stop: threading.Event, *, concurrency: int | None = None,
    on_result: Progress | None = None, idle: float = 5.0,
) -> int:
    """Check due articles on their schedules until ``stop`` is set; returns checks made."""
    checked = 0
    last_prune = utcnow() - dt.timedelta(days=1)
    while not stop.is_set():
        ids = due_ids(app)
        if ids:
            checked += len(check_many(app, ids, concurrency=concurrency, on_result=on_result,
                                      stop=stop))
            continue
        if utcnow() - last_prune > dt.timedelta(hours=1):
            prune_bodies(app)
            last_prune = utcnow()
        stop.wait(_sleep_time(app, idle))
    return checked


def _sleep_time(app: App, idle: float) -> float:
    with session_scope(app.reader) as session:
        due = queries.next_due_time(session)
    if due is None:
        return idle
    return min(idle, max(0.05, (due - utcnow()).total_seconds()))


def prune_bodies(app: App) -> int:
    """Apply the raw-body retention setting."""
    days = app.settings.keep_bodies_days
    cutoff = utcnow() - dt.timedelta(days=days)
    with session_scope(app.writer) as session:
        removed = queries.prune_bodies(session, cutoff)
    if removed:
        log.info("dropped %d raw bodies older than %d days", removed, days)
    return removed
