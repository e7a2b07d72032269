"""Claims on work, kept alive while the work runs: the use-case side of ``db.lease``.

Every kind of leased work (``ARTICLES`` to check, ``SOURCES`` to poll, ``DELIVERIES`` to send)
is claimed, renewed and given back the same way. The lease is short (``lease_seconds``, tens of
seconds) so that work whose holder died (a worker killed with ``kill -9``, a message lost with
Redis) is claimed again within seconds; the ``Keeper``, a heartbeat thread in each process
doing leased work, renews the leases of everything the process holds every third of a lease.
Work whose claim is gone when it starts or is stored does nothing: a takeover never makes the
same work run twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from db import lease
from db.lease import Work
from db.queries import ARTICLE_WORK
from db.session import explain, session_scope
from db.source_queries import SOURCE_WORK
from db.webhook_queries import DELIVERY_WORK
from tracker import metrics
from tracker.app import App
from tracker.clock import utcnow

log = logging.getLogger(__name__)
ARTICLES: Work = ARTICLE_WORK
SOURCES: Work = SOURCE_WORK
DELIVERIES: Work = DELIVERY_WORK
KINDS = (ARTICLES, SOURCES, DELIVERIES)
Claim = tuple[int, str]  # (row id, lease token)


def lease_length(app: App) -> dt.timedelta:
    return dt.timedelta(seconds=app.settings.lease_seconds)


def claim(
    app: App, work: Work, *, limit: int, ids: Sequence[int] | None = None,
    now: dt.datetime | None = None,
) -> list[Claim]:
    """Lease up to ``limit`` due rows of ``work`` (only among ``ids`` if given). A takeover of
    a lease nobody renewed is logged: its holder stopped (killed, or its message lost)."""
    if limit <= 0 or ids == []:
        return []
    now = now or utcnow()
    with session_scope(app.writer) as session:
        claimed = lease.claim(session, work, now, now + lease_length(app), limit, ids)
    taken = [c.id for c in claimed if c.takeover]
    if taken:
        metrics.lease_taken_over(work.name, len(taken))
        log.warning("took over %d %s lease(s) nobody renewed (their holder stopped): %s",
                    len(taken), work.name, ", ".join(map(str, taken[:20])))
    return [(c.id, c.token) for c in claimed]


def renew(app: App, work: Work, claims: Sequence[Claim]) -> set[int]:
    """Extend the leases still held under ``claims``; returns the ids still held."""
    if not claims:
        return set()
    until = utcnow() + lease_length(app)
    with session_scope(app.writer) as session:
        return lease.renew(session, work, claims, until)


def release(app: App, work: Work, claims: Sequence[Claim]) -> None:
    """Give back leases of work that will not be done (a scheduler stopping early)."""
    if not claims:
        return
    with session_scope(app.writer) as session:
        lease.release(session, work, claims)


def lease_counts(app: App, now: dt.datetime | None = None) -> dict[str, dict[str, int]]:
    """For status and metrics, per kind of work: leases ``live`` (renewed in time: queued or
    running) and ``stranded`` (not renewed: their holder is gone; the next claim takes them
    over)."""
    now = now or utcnow()
    with session_scope(app.reader) as session:
        return {work.name: lease.lease_counts(session, work, now) for work in KINDS}


class Keeper:
    """The heartbeat of one process: renews the leases of the work it holds every
    ``lease_seconds / 3`` until the work is done (``holding``), so a lease runs out only when
    the process stops (killed, frozen, cut off from the database). A lease found taken over is
    forgotten: the work's own store step will find its claim gone and store nothing."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._held: dict[str, dict[int, str]] = {work.name: {} for work in KINDS}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.renewed_at: dt.datetime | None = None  # the last renewal that reached the database

    @contextmanager
    def holding(self, work: Work, claims: Iterable[Claim]) -> Iterator[None]:
        """Keep the claims' leases alive while the block runs."""
        items = list(claims)
        self.hold(work, items)
        try:
            yield
        finally:
            self.drop(work, [i for i, _ in items])

    def hold(self, work: Work, claims: Iterable[Claim]) -> None:
        items = dict(claims)
        if not items:
            return
        with self._lock:
            self._held[work.name].update(items)
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="lease-keeper",
                                                daemon=True)
                self._thread.start()

    def drop(self, work: Work, ids: Iterable[int]) -> None:
        with self._lock:
            held = self._held[work.name]
            for i in ids:
                held.pop(i, None)

    def held(self, work: Work) -> dict[int, str]:
        with self._lock:
            return dict(self._held[work.name])

    def renew_now(self) -> None:
        """One heartbeat: renew every lease held, forget those no longer held."""
        for work in KINDS:
            claims = list(self.held(work).items())
            if not claims:
                continue
            still = renew(self.app, work, claims)
            gone = [i for i, _ in claims if i not in still]
            if gone:
                log.debug("%d %s lease(s) no longer held: %s", len(gone), work.name, gone[:20])
                with self._lock:
                    for i, token in claims:
                        if i in gone and self._held[work.name].get(i) == token:
                            del self._held[work.name][i]
        self.renewed_at = utcnow()

    def _run(self) -> None:
        interval = max(0.2, self.app.settings.lease_seconds / 3)
        while not self._stop.wait(interval):
            try:
                self.renew_now()
            except Exception as exc:  # noqa: BLE001 - the database is away: the next beat tries
                log.warning("cannot renew leases: %s", explain(exc))

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
