"""One-off passes over articles (``tracker check``, and each round of the embedded service):
which articles, checked how many at a time, in threads or in forked processes.

``check_pass`` and ``check_and_notify`` are the use cases behind ``tracker check``; ``check_due``
is the pass the embedded service (``tracker.runner``) repeats; ``check_many`` checks a list of
articles, ``concurrency`` at a time.

Performance machinery, fenced here (docs/architecture.md, "Performance machinery"): the
deferral heap (``_Later``: checks a host's rate deferred, checked again when their turn comes
without holding a thread) and the fork pool (``_check_in_processes``: a large one-off pass is
spread over one process per core, since extraction and diffing are CPU work the threads of one
process cannot share out). Neither runs in the long-running service, which leaves deferred
checks to the schedule.

In the fork pool, the processes fetch, extract and compare, and write the checks that found
nothing new (together, per chunk); the versions they found are stored by the parent, one writer
(``tracker.check.KeptStores``; a chunk's first versions in one transaction,
``tracker.check.store_kept_all``): SQLite lets one writer in at a time, and a writer in a process
whose other threads extract pages waits for the GIL while every other writer waits for it.
"""

from __future__ import annotations

import heapq
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from contextlib import AbstractContextManager
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from db import queries, webhook_queries
from db.session import DatabaseProblem, explain, session_scope
from tracker.app import App
from tracker.check import (
    KEPT,
    CheckResult,
    KeptStore,
    KeptStores,
    Target,
    UnchangedBatch,
    check_target,
    load_targets,
    store_kept_all,
)
from tracker.config import Settings
from tracker.identity import clean_url
from tracker.leases import ARTICLES
from tracker.scheduling import Claim, claim_due, release

if TYPE_CHECKING:
    from tracker.delivery import DeliveryResult
    from tracker.polls import PollResult

log = logging.getLogger(__name__)
Progress = Callable[[CheckResult], None]
# Something that watches a pass of N checks: entered with N, it gives the callback each
# result goes to (the CLI's progress bar).
Watch = Callable[[int], AbstractContextManager[Progress]]


def check_and_notify(
    app: App, urls: Sequence[str], *, all_: bool, concurrency: int | None,
    watch: Watch | None = None,
) -> tuple[list[CheckResult], list[DeliveryResult], list[PollResult]]:
    """One check pass, then the first delivery attempt of the notifications it produced (and
    of any left from earlier runs): a cron line running this is a complete deployment.

    Without URLs the due sources (with ``all_``: every active one) are polled first, so the
    articles they list are checked in the same pass."""
    from tracker.polls import poll_due_sources

    polls = [] if urls else poll_due_sources(app, all_=all_, concurrency=concurrency)
    results = check_pass(app, urls, all_=all_, concurrency=concurrency, watch=watch)
    return results, _deliver(app), polls


def _deliver(app: App) -> list[DeliveryResult]:
    """``deliver_due`` when it has something to do: a pass that made no event and found no
    delivery pending does not load the delivery machinery (channels, payloads, diffs)."""
    with session_scope(app.reader) as session:
        if not webhook_queries.delivery_work_waiting(session):
            return []
    from tracker.delivery import deliver_due

    return deliver_due(app)


def check_pass(
    app: App, urls: Sequence[str], *, all_: bool, concurrency: int | None,
    watch: Watch | None = None,
) -> list[CheckResult]:
    """Check the named articles (none: the due ones, claimed; ``all_``: every tracked one)."""
    items: Sequence[int | Claim] = (
        claim_due(app) if not urls and not all_ else _ids_to_check(app, urls, all_=all_)
    )
    if watch is None or not items:
        return check_many(app, items, concurrency=concurrency)
    with watch(len(items)) as on_result:
        return check_many(app, items, concurrency=concurrency, on_result=on_result)


def _ids_to_check(app: App, urls: Sequence[str], *, all_: bool) -> list[int]:
    with session_scope(app.reader) as session:
        if all_:
            return queries.all_article_ids(session)
        from tracker.articles import UnknownArticle  # its read machinery only for named URLs

        ids = []
        for url in urls:
            row = queries.article_by_url(session, clean_url(url))
            if row is None:
                raise UnknownArticle(url)
            ids.append(row.id)
        return ids


def check_due(
    app: App, *, concurrency: int | None = None, on_result: Progress | None = None,
    stop: threading.Event | None = None,
) -> list[CheckResult]:
    """One pass over the articles due now, claimed so that a concurrent ``tracker run`` or
    Celery deployment on the same database does not check them too. The due sources are
    polled first: what they list is due at once, and checked in this pass."""
    from tracker.polls import poll_due_sources

    poll_due_sources(app, concurrency=concurrency, stop=stop)
    return check_many(app, claim_due(app), concurrency=concurrency, on_result=on_result,
                      stop=stop)


def check_many(
    app: App,
    articles: Iterable[int | Claim],
    *,
    concurrency: int | None = None,
    on_result: Progress | None = None,
    stop: threading.Event | None = None,
    budget: float | None = None,
) -> list[CheckResult]:
    """Check the articles (ids, or claims from ``claim_due``), ``concurrency`` at a time;
    returns the results in completion order.

    At most ``concurrency`` checks are submitted at once, so a stop request leaves the rest
    unstarted; their claims are released so the next run takes them at once. ``budget``
    (seconds) does the same once it is spent, without a stop request: a caller with a time
    limit (a Celery task) can take more claims than threads, and those that did not start in
    time are due again at once instead of outlasting its limit. The first ``concurrency``
    always start, so every call makes progress.

    A large one-off pass (no ``stop``) is spread over one process per core: extraction and
    diffing are CPU work that threads of one process cannot share out. A one-off pass also
    finishes the checks its hosts' rates deferred: each is claimed again and checked when its
    turn comes (without holding a thread meanwhile). Checks deferred because a host asked for
    a pause (429/503) are left to the schedule, reported as deferred. A long-running service
    (``stop`` given) leaves every deferred check to the schedule."""
    targets = _targets(app, list(articles))
    claims = [(t.id, t.lease_token) for t in targets if t.lease_token]
    with app.keeper.holding(ARTICLES, claims):  # renewed while they wait and run
        return _check_many(app, targets, concurrency, on_result, stop, budget)


def _check_many(
    app: App, targets: list[Target], concurrency: int | None, on_result: Progress | None,
    stop: threading.Event | None, budget: float | None = None,
) -> list[CheckResult]:
    workers = max(1, concurrency or app.settings.concurrency)
    later = _Later(app) if stop is None else None
    until = None if budget is None else time.monotonic() + budget
    started = 0
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
            if until is not None and pending and started and time.monotonic() >= until:
                _release(app, pending)  # at once: another process may start them now
                pending = []
            while len(running) < workers and pending and not (stop and stop.is_set()):
                running.add(pool.submit(_check, app, pending.pop()))
                started += 1
            if not running:
                if later:
                    time.sleep(later.wait())
                    continue
                _release(app, pending)
                return results
            timeout = later.wait() if later else None
            if until is not None and pending:
                left = max(0.0, until - time.monotonic())
                timeout = left if timeout is None else min(timeout, left)
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


def _release(app: App, targets: list[Target]) -> None:
    release(app, [Claim(t.id, t.lease_token) for t in targets if t.lease_token])


# --- performance machinery: the deferral heap and the fork pool of a one-off pass ---------


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
    The versions the processes find are stored here, as their chunks come back. Checks the
    rate deferred go back to the pool (the same processes, so their limiters
    remember the hosts) when their turn comes."""
    per_host = max(1, app.settings.per_host_concurrency // processes)
    settings = replace(app.settings, per_host_concurrency=per_host)
    threads = max(1, workers // processes)
    results: list[CheckResult] = []
    later = _Later(app)
    _warm(targets)
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
                    checked, kept = future.result()
                    for result in [*checked, *_store(app, kept)]:
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


def _warm(targets: list[Target]) -> None:
    """In a pass with articles never stored (their pages will be extracted), do here, once,
    what each forked process would otherwise do on its first check: import the extractor
    (~60 ms of CPU) and make the TLS context of its HTTP client (~50 ms). The processes
    inherit both. Other passes are left as they were: a pass of 304s measured no faster."""
    if not any(not target.version_count for target in targets):
        return
    import tracker.templates  # noqa: F401
    from tracker.netguard import tls_context

    tls_context()


def _start_process(settings: Settings, rate_share: float) -> None:
    """In a forked process: forget the parent's connections, make this process's App."""
    global _process_app
    from db.session import forget_engines

    forget_engines()
    _process_app = App(settings, rate_share=rate_share)


def _check_chunk(
    targets: list[Target], threads: int
) -> tuple[list[CheckResult], list[KeptStore]]:
    """Check a chunk in this process's threads: the results of the checks, and the checks
    that have a page to store, kept for the parent to store (``store_kept``). The checks that
    found nothing new are written together, in one transaction, before the chunk's results go
    back to the parent."""
    app = _process_app
    assert app is not None
    unchanged, stores = UnchangedBatch(), KeptStores()
    check = partial(check_target, app, unchanged=unchanged, stores=stores)
    try:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="check") as pool:
            results = list(pool.map(check, targets))
        checked = [r for r in unchanged.write(app, results) if r.outcome != KEPT]
        return checked, stores.take()
    except SQLAlchemyError as exc:
        # The database is away or broken: the pass ends with its one-line reason. Said here,
        # in the process, as an error that pickles: a driver's error may hold its statement's
        # parameters (memoryviews among them), which cannot travel to the parent.
        raise DatabaseProblem(explain(exc)) from None


def _store(app: App, kept: list[KeptStore]) -> list[CheckResult]:
    """Store the checks a process kept (its chunk's), the first versions among them in one
    transaction (``store_kept_all``); the database away or broken ends the pass with its
    one-line reason, as it does when a process meets it."""
    try:
        return store_kept_all(app, kept)
    except SQLAlchemyError as exc:
        raise DatabaseProblem(explain(exc)) from None


def _targets(app: App, items: list[int | Claim]) -> list[Target]:
    """Targets in the order given, loaded in one query; claims that no longer hold are
    dropped (someone else took the article over)."""
    tokens = {i.article_id: i.token for i in items if isinstance(i, Claim)}
    ids = [i.article_id if isinstance(i, Claim) else i for i in items]
    found = load_targets(app, ids, tokens)
    return [found[i] for i in ids if i in found]
