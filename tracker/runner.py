"""Running many checks: one pass over due articles (``tracker check``) and the embedded service
(``tracker run``) that repeats passes on the articles' schedules until it is told to stop. Each
pass polls the due sources (feeds, sitemaps) first, so the articles they list are checked in it.

Stopping is cooperative: a signal sets ``stop``; no new check starts after that, and the checks
in progress finish and commit (each is one transaction), so nothing is lost or half-stored. An
article whose check never ran is still due and is checked by the next run.
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import replace
from functools import partial

from sqlalchemy.exc import DBAPIError

from db import queries, source_queries
from db.session import DatabaseProblem, explain, session_scope
from tracker import housekeeping
from tracker.app import App
from tracker.check import CheckResult, Target, check_target, load_targets
from tracker.clock import utcnow
from tracker.config import Settings
from tracker.leases import ARTICLES
from tracker.polls import poll_due_sources
from tracker.scheduling import Claim, claim_due, release

log = logging.getLogger(__name__)
Progress = Callable[[CheckResult], None]


def check_many(
    app: App,
    articles: Iterable[int | Claim],
    *,
    concurrency: int | None = None,
    on_result: Progress | None = None,
    stop: threading.Event | None = None,
) -> list[CheckResult]:
    """Check the articles (ids, or claims from ``claim_due``), ``concurrency`` at a time;
    returns the results in completion order.

    At most ``concurrency`` checks are submitted at once, so a stop request leaves the rest
    unstarted; their claims are released so the next run takes them at once.

    A large one-off pass (no ``stop``) is spread over one process per core: extraction and
    diffing are CPU work that threads of one process cannot share out. A one-off pass also
    finishes the checks its hosts' rates deferred: each is claimed again and checked when its
    turn comes (without holding a thread meanwhile). Checks deferred because a host asked for
    a pause (429/503) are left to the schedule, reported as deferred. A long-running service
    (``stop`` given) leaves every deferred check to the schedule."""
    targets = _targets(app, list(articles))
    claims = [(t.id, t.lease_token) for t in targets if t.lease_token]
    with app.keeper.holding(ARTICLES, claims):  # renewed while they wait and run
        return _check_many(app, targets, concurrency, on_result, stop)


def _check_many(
    app: App, targets: list[Target], concurrency: int | None, on_result: Progress | None,
    stop: threading.Event | None,
) -> list[CheckResult]:
    workers = max(1, concurrency or app.settings.concurrency)
    later = _Later(app) if stop is None else None
    processes = min(app.settings.processes, os.cpu_count() or 1)
    if stop is None and processes > 1 and len(targets) >= PROCESS_THRESHOLD:
        return _check_in_processes(app, targets, processes, workers, on_result)
    pending = list(reversed(targets))
    results: list[CheckResult] = []
    running: set[Future[CheckResult]] = set()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="check") as pool:
        while True:
            if later is not None:
                again, lost = later.due()
                pending.extend(reversed(again))  # next to go: their turn has come
                for result in lost:
                    results.append(result)
                    if on_result:
                        on_result(result)
            while len(running) < workers and pending and not (stop and stop.is_set()):
                running.add(pool.submit(_check, app, pending.pop()))
            if not running:
                if later:
                    time.sleep(later.wait())
                    continue
                release(app, [Claim(t.id, t.lease_token) for t in pending if t.lease_token])
                return results
            timeout = later.wait() if later else None
            done, running = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                result = future.result()
                if later is not None and later.keep(result):
                    continue
                results.append(result)
                if on_result:
                    on_result(result)


def _check(app: App, target: Target) -> CheckResult:
    return check_target(app, target)


class _Later:
    """The checks of a one-off pass that their hosts' rates deferred: kept by the time their
    turn comes, then claimed again (the deferral gave their claims back) and checked."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._heap: list[tuple[float, int, CheckResult]] = []

    def __bool__(self) -> bool:
        return bool(self._heap)

    def keep(self, result: CheckResult) -> bool:
        """Keep a deferred result to check again; False for every other result."""
        if result.outcome != "deferred" or result.paused or result.retry_at is None:
            return False
        heapq.heappush(self._heap, (result.retry_at.timestamp(), result.article_id, result))
        return True

    def wait(self) -> float:
        """Seconds until the next kept check is due (a little after, so it is due)."""
        if not self._heap:
            return 0.0
        return max(0.0, self._heap[0][0] - time.time()) + 0.01

    def due(self) -> tuple[list[Target], list[CheckResult]]:
        """The kept checks due now, claimed again, and the deferred results of those someone
        else claimed meanwhile (theirs to check: the deferral stands as this pass's result)."""
        now = time.time()
        ready: dict[int, CheckResult] = {}
        while self._heap and self._heap[0][0] <= now:
            _, article_id, result = heapq.heappop(self._heap)
            ready[article_id] = result
        if not ready:
            return [], []
        claims = claim_due(self.app, limit=len(ready), ids=list(ready))
        self.app.keeper.hold(ARTICLES, [(c.article_id, c.token) for c in claims])
        targets = _targets(self.app, list(claims))
        claimed = {t.id for t in targets}
        return targets, [r for i, r in ready.items() if i not in claimed]


# Below this many articles a pass stays in one process: forking costs more than it saves.
PROCESS_THRESHOLD = 100
CHUNK = 16  # articles handed to a process at a time: small enough to keep both busy
_process_app: App | None = None


def _check_in_processes(
    app: App, targets: list[Target], processes: int, workers: int, on_result: Progress | None,
) -> list[CheckResult]:
    """Check in ``processes`` forked processes with ``workers`` threads in all. Each process
    has its own database engine and HTTP client; the per-host limits (concurrency, and the
    rate unless Redis shares it) are shared out so the processes together keep to them.
    Checks the rate deferred go back to the pool (the same processes, so their limiters
    remember the hosts) when their turn comes."""
    per_host = max(1, app.settings.per_host_concurrency // processes)
    settings = replace(app.settings, per_host_concurrency=per_host)
    threads = max(1, workers // processes)
    results: list[CheckResult] = []
    later = _Later(app)
    context = multiprocessing.get_context("fork")  # inherits the imports: starts at once
    with ProcessPoolExecutor(processes, mp_context=context, initializer=_start_process,
                             initargs=(settings, 1 / processes)) as pool:
        running = {pool.submit(_check_chunk, targets[i : i + CHUNK], threads)
                   for i in range(0, len(targets), CHUNK)}
        while running or later:
            if not running:
                time.sleep(later.wait())
            else:
                done, running = wait(running, timeout=later.wait() if later else None,
                                     return_when=FIRST_COMPLETED)
                for future in done:
                    for result in future.result():
                        if later.keep(result):
                            continue
                        results.append(result)
                        if on_result:
                            on_result(result)
            again, lost = later.due()
            for result in lost:
                results.append(result)
                if on_result:
                    on_result(result)
            for i in range(0, len(again), CHUNK):
                running.add(pool.submit(_check_chunk, again[i : i + CHUNK], threads))
    return results


def _start_process(settings: Settings, rate_share: float) -> None:
    """In a forked process: forget the parent's connections, make this process's App."""
    global _process_app
    from db.session import forget_engines

    forget_engines()
    _process_app = App(settings, rate_share=rate_share)


def _check_chunk(targets: list[Target], threads: int) -> list[CheckResult]:
    assert _process_app is not None
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="check") as pool:
        return list(pool.map(partial(check_target, _process_app), targets))


def _targets(app: App, items: list[int | Claim]) -> list[Target]:
    """Targets in the order given, loaded in one query; claims that no longer hold are
    dropped (someone else took the article over)."""
    tokens = {i.article_id: i.token for i in items if isinstance(i, Claim)}
    ids = [i.article_id if isinstance(i, Claim) else i for i in items]
    found = load_targets(app, ids, tokens)
    return [found[i] for i in ids if i in found]


def check_due(
    app: App, *, concurrency: int | None = None, on_result: Progress | None = None,
    stop: threading.Event | None = None,
) -> list[CheckResult]:
    """One pass over the articles due now, claimed so that a concurrent ``tracker run`` or
    Celery deployment on the same database does not check them too. The due sources are
    polled first: what they list is due at once, and checked in this pass."""
    poll_due_sources(app, concurrency=concurrency, stop=stop)
    return check_many(app, claim_due(app), concurrency=concurrency, on_result=on_result,
                      stop=stop)


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
    """Between passes: raw-body retention hourly; web-archive captures once a minute (the pace
    an archive's anonymous captures allow), after the versions were committed, never before."""
    if utcnow() - last_prune > dt.timedelta(hours=1):
        housekeeping.prune_bodies(app)
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
