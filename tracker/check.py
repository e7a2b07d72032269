"""The check use case: load, fetch, extract and compare, decide, apply.

``check_article`` is what ``tracker check``, the embedded ``tracker run`` and the Celery check
task all call. What a check means (outcome, state, next check, events, whether a version is
stored) is decided by the pure ``tracker.decide``; this module does the I/O around it and applies
the decision: ``_apply`` under the row's lock, or, for the common "nothing new" decision, two plain
statements (``_record_quickly``).

A check holds no database transaction while it waits on the network, and stores everything it
produces (version, paragraphs, raw body, event, check record, schedule) in one transaction, so a
crash either keeps all of it or none. Running the same check twice is harmless: the second run
finds the version the first one stored and records "unchanged", and two truly concurrent runs
collide on ``UNIQUE(article_id, number)``, after which the loser re-reads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from db import edits, lease, queries
from db.firststore import FirstStore, LockedArticle
from db.models import Article as ArticleRow
from db.models import Version
from db.queries import StoredVersion
from db.session import explain, session_scope
from db.states import FAILED_OUTCOMES, ArticleState, CheckOutcome
from tracker import metrics, storing
from tracker.app import App
from tracker.clock import utcnow
from tracker.decide import (
    Comparison,
    Decision,
    Extracted,
    Failure,
    Previous,
    Rules,
    Same,
    Seen,
    Store,
    compare,
    decide,
)
from tracker.diff import diff_documents
from tracker.document import ExtractedPage
from tracker.errors import (
    ExtractionError,
    FetchError,
    GoneError,
    HostDeferred,
    RobotsDisallowed,
    TrackerError,
    TransientFetchError,
    UnexpectedError,
)
from tracker.fetch import Page
from tracker.identity import usable_canonical
from tracker.merge import fold_duplicate
from tracker.rules import NO_RULES, HostRules, IgnoreRules
from tracker.schedule import ScheduleRules
from tracker.stored import version_metadata, version_texts
from tracker.storing import NewVersion, Predecessor

if TYPE_CHECKING:
    from tracker.extract import Extraction

log = logging.getLogger(__name__)
# Metadata that makes a new version when it changes. "updated" is left out on purpose: sites
# bump dateModified on republishing without changing a word; it is stored with the next version.
_VERSIONED_FIELDS = ("title", "byline", "published", "language", "canonical_url", "lead_image",
                     "lead_caption")


@dataclass(frozen=True, slots=True)
class CheckResult:
    article_id: int
    url: str
    # a db.states.CheckOutcome; deferred: no request sent (the host said or says "later"; only
    # the schedule moved, to ``retry_at``; ``error`` says why)
    outcome: str
    version: int | None = None
    error: str | None = None
    summary: dict[str, int] | None = None
    events: int = 0  # outbox events this check wrote (to dispatch as notifications)
    retry_at: dt.datetime | None = None  # deferred: when the host is free
    paused: bool = False  # deferred because the host asked for a pause (429/503)
    headline: str | None = None  # changed, minor: the new headline, when the headline changed

    @property
    def ok(self) -> bool:
        return self.outcome not in FAILED_OUTCOMES


@dataclass(frozen=True, slots=True)
class Target:
    """What a check needs to know of an article before fetching it (one query for many)."""

    id: int
    url: str
    etag: str | None
    last_modified: str | None
    body_digest: str | None
    selector: str | None
    lease_token: str | None  # the claim this check runs under, if a scheduler claimed it
    state: str
    interval: int
    base_interval: int
    latest_hash: str | None  # content hash and extractor of the latest stored version
    latest_extractor: str | None
    rules: HostRules = NO_RULES  # of the article's host
    developing: bool = False
    last_changed_at: dt.datetime | None = None
    created_at: dt.datetime | None = None
    failure_count: int = 0
    version_count: int = 0
    due_at: dt.datetime | None = None  # when the article was due (its claim keeps it apart)
    previous_paragraphs: int | None = None  # of the latest version

    def lag_ms(self, started: dt.datetime) -> int | None:
        """How late a check started at ``started`` is (0 when early: a check on demand)."""
        if self.due_at is None:
            return None
        return max(0, round((started - self.due_at).total_seconds() * 1000))


def load_targets(
    app: App, article_ids: Sequence[int], tokens: Mapping[int, str] | None = None
) -> dict[int, Target]:
    """Targets of the given articles; with ``tokens``, only those whose claim still holds."""
    tokens = tokens or {}
    found: dict[int, Target] = {}
    with session_scope(app.reader) as session:
        for row in queries.check_targets(session, article_ids):
            token = tokens.get(row.id)
            if token is not None and row.lease_token != token:
                continue
            found[row.id] = Target(
                row.id, row.url, row.etag, row.last_modified, row.body_digest, row.selector,
                token, row.state, row.interval, row.base_interval, row.content_hash,
                row.extractor, _host_rules(row), row.developing, row.last_changed_at,
                row.created_at, row.failure_count, row.version_count, row.due_at,
                row.paragraph_count,
            )
    return found


def _host_rules(row: Any) -> HostRules:
    ignore = IgnoreRules(tuple(row.host_ignore_patterns or ()),
                         tuple(row.host_ignore_selectors or ()))
    if not (ignore or row.host_selector or row.host_notify_threshold is not None):
        return NO_RULES
    return HostRules(row.host_selector, ignore, row.host_notify_threshold)


def check_article(app: App, article_id: int, *, lease_token: str | None = None) -> CheckResult:
    """Check one article now. Never raises for a bad page or a failed fetch: the outcome and
    a clear message are recorded and returned; only database errors propagate.

    With ``lease_token`` (from ``tracker.scheduling.claim_due``) the check runs only while that
    claim is current, and stores nothing if another check took over meanwhile."""
    tokens = {article_id: lease_token} if lease_token else None
    target = load_targets(app, [article_id], tokens).get(article_id)
    if target is None:
        return CheckResult(article_id, "", "skipped", error="no such article, or claim expired")
    return check_target(app, target)


def check_target(
    app: App, target: Target, *, unchanged: UnchangedBatch | None = None,
    stores: KeptStores | None = None,
) -> CheckResult:
    """``check_article`` for a target loaded beforehand (``load_targets``).

    With ``unchanged``, a check that finds nothing new (``_record_quickly``) is not written
    at once but kept in that batch, which its caller writes (``UnchangedBatch.write``) before
    it hands the results on. With ``stores``, a check that has a page to store (a first or a
    new version) is kept there instead, its result ``KEPT``: the caller hands it on to be
    stored by ``store_kept``.

    Whatever goes wrong in one article's check, short of the database itself, becomes that
    article's failed check (``last_error`` names it, its claim is released): a hostile page
    must never end a pass or ``tracker run``."""
    run = _Run.start(target)
    return _guarded(app, target, run, lambda: _check_target(app, target, run, unchanged, stores))


def store_kept(app: App, kept: KeptStore) -> CheckResult:
    """Store a check kept by ``check_target(..., stores=...)``, as the check would have: its
    result, or its failure recorded."""
    return _guarded(app, kept.target, kept.run,
                    lambda: _store(app, kept.target, kept.run, kept.seen, kept.fetched))


def store_kept_all(app: App, kept: Sequence[KeptStore]) -> list[CheckResult]:
    """``store_kept`` of each kept check, in order, with the first versions among them stored
    in one write transaction on SQLite (``db.firststore``), a savepoint each: one begin and
    one commit for a chunk of a forked pass instead of one per version (the commit alone was
    a third of a first version's store in the parent). A check that store does not take, or
    that raises in it (its savepoint rolled back, the others kept), is then stored by
    ``store_kept`` on its own, which stores it or records its failure as it always did. An
    error of the transaction's begin or commit (the database away or broken) raises, as
    ``store_kept`` does: the pass ends with its one-line reason, nothing of the batch
    stored."""
    done: dict[int, CheckResult] = {}
    firsts = [i for i, k in enumerate(kept) if _first_version(app, k.target, k.fetched)]
    if len(firsts) > 1:
        failed: list[tuple[KeptStore, str]] = []
        with FirstStore.begun(app.engine) as store:
            for i in firsts:
                k = kept[i]
                store.savepoint()
                try:
                    first = _first(store, app, k.target, k.run, k.seen, k.fetched)
                except Exception:
                    # Undone (an error undoing it is the transaction's: it propagates); the
                    # check is stored on its own below, which stores it or says why not.
                    log.debug("batched store of %s raised", k.target.url, exc_info=True)
                    store.undo()
                    continue
                if first is None:  # not a plain first store: nothing written
                    store.undo()
                    continue
                store.let_go()
                done[i], error = first
                if error is not None:
                    failed.append((k, error))
        for k, error in failed:
            log.warning("check of %s failed: %s", k.target.url, error)
        for i, result in done.items():
            _finished(kept[i].target, kept[i].run, result)
    return [done[i] if i in done else store_kept(app, k) for i, k in enumerate(kept)]


def _guarded(
    app: App, target: Target, run: _Run, work: Callable[[], CheckResult]
) -> CheckResult:
    """``work``'s result, or the failure it raised recorded as the check's (see
    ``check_target``)."""
    try:
        result = work()
    except IntegrityError as exc:
        # This article's rows conflict again after a re-read (``_check_target``): its failure,
        # recorded, not the end of the pass or of the worker's batch.
        log.debug("check of %s conflicted twice", target.url, exc_info=True)
        result = _record(app, target, run, failure(TrackerError(
            f"could not store the check: {explain(exc)}")))
    except SQLAlchemyError:
        raise  # the database is away or broken: the caller retries, nothing is recorded
    except Exception as exc:
        log.debug("check of %s raised", target.url, exc_info=True)
        result = _record(app, target, run, failure(UnexpectedError(exc)))
    if result.outcome == KEPT:
        return result  # done when it is stored
    _finished(target, run, result)
    return result


def _finished(target: Target, run: _Run, result: CheckResult) -> None:
    metrics.check_done(result.outcome, time.perf_counter() - run.clock,
                       None if run.lag_ms is None else run.lag_ms / 1000)
    log.debug("check of %s: %s", target.url, result.outcome)


def record_lost(app: App, article_id: int, lease_token: str | None, reason: str) -> CheckResult:
    """The failed check of an article whose check never came to an end (its worker process
    was killed each time: a poison message); its claim is released."""
    tokens = {article_id: lease_token} if lease_token else None
    target = load_targets(app, [article_id], tokens).get(article_id)
    if target is None:
        return CheckResult(article_id, "", "skipped", error="no such article, or claim expired")
    return _record(app, target, _Run.start(target), failure(TrackerError(reason)))


def _check_target(
    app: App, target: Target, run: _Run, unchanged: UnchangedBatch | None = None,
    stores: KeptStores | None = None,
) -> CheckResult:
    try:
        page = app.fetcher.fetch(target.url, etag=target.etag, last_modified=target.last_modified)
    except HostDeferred as exc:
        return _record_deferred(app, target, exc)
    except FetchError as exc:
        return _record(app, target, run, failure(exc))
    if page.not_modified:
        return _record_quickly(app, target, run, page, Same(CheckOutcome.NOT_MODIFIED, page.status),
                               batch=unchanged)
    digest = hashlib.sha256(page.body).hexdigest()
    if digest == target.body_digest:
        return _record_quickly(app, target, run, page, Same(CheckOutcome.SAME_BYTES, page.status),
                               batch=unchanged)
    try:
        extraction = _extract(app, target, page)
    except ExtractionError as exc:
        return _record(app, target, run, failure(exc, page.status))
    metrics.extracted(extraction.source)
    article = extraction.article
    seen = _seen(article, page)
    if (target.latest_hash, target.latest_extractor) == (seen.content_hash, seen.extractor):
        return _record_quickly(app, target, run, page, seen, digest, batch=unchanged)
    fetched = _compared(app, target, _Fetched(page, digest, article, path=extraction.path),
                        seen.content_hash)
    if stores is not None and len(page.body) <= KEEP_MAX_BYTES:
        stores.add(KeptStore(target, run, seen, fetched))
        return CheckResult(target.id, target.url, KEPT)
    return _store(app, target, run, seen, fetched)


def _store(app: App, target: Target, run: _Run, seen: Extracted, fetched: _Fetched) -> CheckResult:
    """Record an extracted page (compared and made into rows beforehand, ``_compared``)."""
    try:
        return _record(app, target, run, seen, fetched)
    except IntegrityError:
        # Someone stored this article's next version meanwhile (a duplicate task): compare
        # against that one instead. A second collision is a real error and propagates.
        log.info("concurrent check of %s; re-reading the latest version", target.url)
        return _record(app, target, run, seen, fetched)


# The result of a check kept in ``KeptStores``: not a check's outcome, never recorded.
KEPT = "kept"
# A page larger than this is stored by its own check, not kept: a kept check holds its page
# (and the rows made of it) until its chunk goes back to the parent, all of them at once.
KEEP_MAX_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class KeptStore:
    """A check that has a page to store, everything done but the write (``store_kept``)."""

    target: Target
    run: _Run
    seen: Extracted
    fetched: _Fetched


class KeptStores:
    """The checks of several threads that have a page to store, kept for one writer: the fork
    pool's processes hand them to the parent, the one process that writes versions, so that
    their threads never queue at SQLite's write gate, nor hold it while the threads extracting
    pages beside them keep the GIL (measured: the gate was held ~80 % of a first-sight pass,
    each write 2-4 times its CPU time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: list[KeptStore] = []

    def add(self, kept: KeptStore) -> None:
        with self._lock:
            self._kept.append(kept)

    def take(self) -> list[KeptStore]:
        with self._lock:
            kept, self._kept = self._kept, []
        return kept


def _extract(app: App, target: Target, page: Page) -> Extraction:
    """The page's article. The extractor (lxml, trafilatura, the templates) is imported on
    the first page that needs it: a pass of unchanged pages (304, same bytes) never loads it."""
    from tracker.templates import extract_checked

    return extract_checked(
        app, page, url=target.url, selector=target.selector or target.rules.selector,
        ignore=target.rules.ignore, previous_paragraphs=target.previous_paragraphs,
    )


@dataclass(frozen=True, slots=True)
class _Run:
    """When the check started (for its record in the checks log)."""

    started: dt.datetime
    clock: float
    lag_ms: int | None = None  # how late after the article was due the check started

    @classmethod
    def start(cls, target: Target) -> _Run:
        started = utcnow()
        return cls(started, time.perf_counter(), target.lag_ms(started))

    def duration_ms(self) -> int:
        return round((time.perf_counter() - self.clock) * 1000)


@dataclass(frozen=True, slots=True)
class _Fetched:
    """The page of a check and, if it was extracted, its article."""

    page: Page
    digest: str | None = None
    article: ExtractedPage | None = None
    # The article against the latest version, compared before the write transaction (None:
    # nothing to compare), the id of that version (None: there was none), the version itself,
    # and the rows that store the article as the version after it.
    compared: Comparison | None = None
    compared_with: int | None = None
    path: str | None = None  # which path extracted the article (Extraction.path)
    latest: Version | None = None
    new: NewVersion | None = None

    def latest_holds(self, latest: Version | None) -> bool:
        """Whether ``latest`` is still the version this page was compared with."""
        return self.compared_with == (latest.id if latest else None)


def failure(error: Exception, status: int | None = None) -> Failure:
    """What a check saw when ``error`` ended it."""
    message = error.reason if isinstance(error, FetchError | UnexpectedError) else str(error)
    if isinstance(error, FetchError) and error.status:
        status = error.status
    outcome = (CheckOutcome.GONE if isinstance(error, GoneError) else
               CheckOutcome.NO_CONTENT if isinstance(error, ExtractionError) else
               CheckOutcome.FAILED)
    return Failure(
        message, status, outcome, refused=isinstance(error, RobotsDisallowed),
        retry_after=error.retry_after if isinstance(error, TransientFetchError) else None,
    )


def _seen(article: ExtractedPage, page: Page, comparison: Comparison | None = None) -> Extracted:
    return Extracted(content_hash(article), article.extractor, len(article.paragraphs),
                     _developing(article), page.status, comparison)


def _rules(app: App, target: Target) -> Rules:
    settings = app.settings
    host = target.rules.notify_threshold  # changes of fewer words than this are not notified
    schedule = ScheduleRules(settings.max_interval, settings.developing_interval,
                             settings.settle_after)
    return Rules(schedule, settings.notify_threshold if host is None else host,
                 settings.failing_after)


def _previous(target: Target) -> Previous:
    return Previous(
        target.state, target.interval, target.base_interval, target.failure_count,
        developing=target.developing,
        quiet_since=target.last_changed_at or target.created_at, versions=target.version_count,
        latest_hash=target.latest_hash, latest_extractor=target.latest_extractor,
    )


def _previous_of(
    row: ArticleRow | LockedArticle, latest: Version | None, last_outcome: str | None
) -> Previous:
    return Previous(
        row.state, row.interval, row.base_interval, row.failure_count, row.developing,
        row.last_changed_at or row.created_at, row.version_count,
        latest.content_hash if latest else None, latest.extractor if latest else None,
        last_outcome,
    )


def _record_quickly(
    app: App, target: Target, run: _Run, page: Page, seen: Same | Extracted,
    digest: str | None = None, batch: UnchangedBatch | None = None,
) -> CheckResult:
    """Nothing new: move the schedule on and log the check. The common case, so it is two
    plain statements in one short transaction (no ORM objects, no extra reads), or, with
    ``batch``, kept there to be written with the other checks of the batch; a decision with
    more to it (an article back after 404) is taken again under the row's lock."""
    now = utcnow()
    decision = decide(_previous(target), seen, _rules(app, target), now)
    if decision.events or decision.store is not None:
        return _record(app, target, run, seen, _Fetched(page, digest))
    values = {
        "interval": decision.schedule.interval, "last_checked_at": now,
        "next_check_at": decision.schedule.next_check_at,
        **_validators(page, digest, target.etag, target.last_modified, target.body_digest),
        "state": decision.state, "developing": decision.developing,
    }
    check = {
        "started_at": run.started, "outcome": decision.outcome, "status_code": page.status,
        "duration_ms": run.duration_ms(), "error": None, "version_id": None,
        "lag_ms": run.lag_ms,
    }
    if batch is not None:
        batch.add(target, values, check, decision)
        return CheckResult(target.id, target.url, decision.outcome)
    with app.write_connection() as connection:
        if not queries.record_unchanged(connection, target.id, target.lease_token, values, check):
            return CheckResult(target.id, target.url, "skipped", error=_SUPERSEDED)
    _log(target.url, decision, target.last_changed_at or target.created_at)
    return CheckResult(target.id, target.url, decision.outcome)


class UnchangedBatch:
    """The "nothing new" checks of several threads, written together: one transaction and
    three statements for all of them (``queries.record_unchanged_many``) instead of a
    transaction of two statements each. A check kept here is recorded only by ``write``;
    its result is final only after that (a check whose claim was lost meanwhile becomes
    "skipped", as ``_record_quickly`` makes it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: list[tuple[Target, dict[str, Any], dict[str, Any], Decision]] = []

    def add(
        self, target: Target, values: dict[str, Any], check: dict[str, Any], decision: Decision
    ) -> None:
        with self._lock:
            self._kept.append((target, values, check, decision))

    def write(self, app: App, results: Sequence[CheckResult]) -> list[CheckResult]:
        """Write the kept checks in one transaction; ``results`` (of the checks of the batch,
        and of others) with those whose claim did not hold made "skipped"."""
        with self._lock:
            kept, self._kept = self._kept, []
        if not kept:
            return list(results)
        rows = [(target.id, target.lease_token, values, check)
                for target, values, check, _ in kept]
        with app.write_connection() as connection:
            written = queries.record_unchanged_many(connection, rows)
        for target, _, _, decision in kept:
            if target.id in written:
                _log(target.url, decision, target.last_changed_at or target.created_at)
        lost = {target.id for target, _, _, _ in kept} - written
        return [CheckResult(r.article_id, r.url, "skipped", error=_SUPERSEDED)
                if r.article_id in lost else r for r in results]


def _record(
    app: App, target: Target, run: _Run, seen: Seen, fetched: _Fetched | None = None
) -> CheckResult:
    """Decide under the article row's lock and apply the decision, in one transaction. An
    extracted page comes compared with the latest version already (``_compared``); only when
    another check stored a newer one meanwhile is it compared again here."""
    if (fetched is not None and isinstance(seen, Extracted)
            and _first_version(app, target, fetched)):
        first = _record_first(app, target, run, seen, fetched)
        if first is not None:
            return first
    with session_scope(app.writer) as session:
        locked = _lock(session, target)
        if locked is None:
            return CheckResult(target.id, target.url, "skipped", error=_SUPERSEDED)
        row, last_outcome = locked
        seq, now, latest = row.event_seq, utcnow(), None
        if fetched is not None and fetched.article is not None:
            keeper = fold_duplicate(session, row, fetched.article, now)
            if keeper is not None:
                return _merged(session, row, run, fetched.page, keeper)
            latest = _latest(session, row, fetched)
            comparison = fetched.compared
            if not fetched.latest_holds(latest):
                comparison = _compare(session, latest, fetched.article)
            seen = (replace(seen, comparison=comparison) if isinstance(seen, Extracted)
                    else _seen(fetched.article, fetched.page, comparison))
        previous = _previous_of(row, latest, last_outcome)
        decision = decide(previous, seen, _rules(app, target), now)
        version = _apply(session, app, row, decision, run, fetched, latest, now)
        number = version.number if version else row.version_count or None
        result = CheckResult(row.id, row.url, decision.outcome, number if decision.good else None,
                             error=decision.error, summary=decision.summary,
                             events=row.event_seq - seq, headline=_new_headline(decision))
    if not decision.good:
        log.warning("check of %s failed: %s", target.url, decision.error)
    return result


def _first_version(app: App, target: Target, fetched: _Fetched) -> bool:
    """Whether ``_record_first`` may store this check: a page made into the rows of a first
    version, on SQLite."""
    return (fetched.new is not None and fetched.new.number == 1 and fetched.article is not None
            and not target.version_count and FirstStore.serves(app.engine))


def _record_first(
    app: App, target: Target, run: _Run, seen: Extracted, fetched: _Fetched
) -> CheckResult | None:
    """``_record`` of an article's first version on SQLite, its statements on the stdlib
    driver (``db.firststore``: half the CPU for the one process that stores a forked pass's
    versions), in a transaction begun as SQLAlchemy's (the write gate, ``BEGIN IMMEDIATE``),
    with the same lease fence, decision and rows. None, having written nothing, when the check
    turns out not to be a first version's plain store (a version was stored meanwhile, the
    page names another URL as canonical and may merge, the decision stores a diff):
    ``_record`` then takes the SQLAlchemy path."""
    with FirstStore.begun(app.engine) as store:
        first = _first(store, app, target, run, seen, fetched)
    if first is None:
        return None
    result, error = first
    if error is not None:
        log.warning("check of %s failed: %s", target.url, error)
    return result


def _first(
    store: FirstStore, app: App, target: Target, run: _Run, seen: Extracted, fetched: _Fetched
) -> tuple[CheckResult, str | None] | None:
    """``_record_first``'s work in ``store``'s transaction: the check's result and, when the
    decision is a failure, its error (said once the transaction is committed); None, having
    written nothing, when the check is not a first version's plain store."""
    new, article = fetched.new, fetched.article
    assert new is not None
    assert article is not None
    locked = store.lock_article(target.id)
    if locked is None or not lease.take(locked[0], target.lease_token):
        return CheckResult(target.id, target.url, "skipped", error=_SUPERSEDED), None
    row, last_outcome = locked
    if row.version_count or usable_canonical(article.metadata.canonical_url, row.url):
        return None
    now, seq = utcnow(), row.event_seq
    seen = replace(seen, comparison=fetched.compared)
    decision = decide(_previous_of(row, None, last_outcome), seen, _rules(app, target), now)
    if decision.store is not None and (decision.store.number != new.number
                                       or decision.store.diff is not None):
        return None
    version_id = _apply_first(store, row, decision, run, fetched, now)
    number = new.number if version_id is not None else row.version_count or None
    result = CheckResult(row.id, row.url, decision.outcome, number if decision.good else None,
                         error=decision.error, summary=decision.summary,
                         events=row.event_seq - seq, headline=_new_headline(decision))
    return result, None if decision.good else decision.error


def _apply_first(
    store: FirstStore, row: LockedArticle, decision: Decision, run: _Run, fetched: _Fetched,
    now: dt.datetime,
) -> int | None:
    """``_apply`` of ``_record_first``: the rows of a first version (``fetched.new``), its
    events, its check and the article; the version's id (None: the decision stores none)."""
    quiet_since = row.last_changed_at or row.created_at
    _decided(row, decision, fetched, now)
    version_id, new = None, fetched.new
    if decision.store is not None and new is not None:
        version = {**new.version, "fetched_at": now, "rebaseline": decision.store.rebaseline}
        version_id = store.insert_version(version, new.meta, new.paragraphs)
        row.version_count = new.number
        if new.body is not None:
            store.insert_body(version_id, new.body)
    for emit in decision.events:
        row.event_seq += 1
        store.insert_event({
            "uid": queries.event_uid(), "article_id": row.id, "seq": row.event_seq,
            "type": emit.type, "version_id": version_id if emit.of_version else None,
            "created_at": now, "data": emit.data or {},
        })
    store.insert_check({"article_id": row.id, **_check_row(run, decision, version_id)})
    store.write_article(row)
    _log(row.url, decision, quiet_since)
    return version_id


def _compared(app: App, target: Target, fetched: _Fetched, digest: str) -> _Fetched:
    """``fetched`` with its article compared to the latest version and made into the rows of
    the next version, outside the write transaction: the diff of a long page may take a
    second, and other writers (another process's checks on the same SQLite file) must not
    wait for it, nor for the rows being built. ``digest``: the article's content hash."""
    assert fetched.article is not None
    latest: Version | None = None
    ids: list[int] | None = None
    comparison: Comparison | None = None
    sources: Mapping[int, tuple[int, str]] = {}
    # None stored when the pass was loaded (a first sight): nothing to read, no session made
    # (the lock's version count tells if one was stored since).
    if target.version_count:
        with session_scope(app.reader) as session:
            latest = queries.latest_version(session, target.id)
            ids = queries.paragraph_ids(session, latest) if latest else None
            comparison, sources = _comparison(session, latest, fetched.article, ids, digest)
    predecessor = (Predecessor(latest.number, ids, sources) if latest and ids is not None
                   else None)
    new = _prepare(app, target.id, fetched, predecessor, comparison, digest)
    return replace(fetched, compared=comparison, compared_with=latest.id if latest else None,
                   latest=latest, new=new)


def _latest(session: Session, row: ArticleRow, fetched: _Fetched) -> Version | None:
    """The article's latest version (its row locked): the one read before the transaction
    while the article still counts as many versions, else read again."""
    known = fetched.latest.number if fetched.latest else 0
    if fetched.new is not None and row.version_count == known:
        return fetched.latest
    return queries.latest_version(session, row.id)


def _prepare(
    app: App, article_id: int, fetched: _Fetched, previous: Predecessor | None,
    comparison: Comparison | None, digest: str,
) -> NewVersion:
    """The rows that store the fetched article after ``previous`` (its raw body compressed)."""
    article, page = fetched.article, fetched.page
    assert article is not None
    body = None
    if app.settings.keep_bodies_days > 0:
        body = queries.body_row(
            content_type=_content_type(page), data=zlib.compress(page.body, 6),
            size=len(page.body), url=page.url, status=page.status, headers=page.headers,
        )
    fields = {**article.metadata.to_dict(), "content_hash": digest,
              "extractor": article.extractor, "extraction_path": fetched.path}
    return storing.prepare(article_id, article, fields, previous,
                           comparison.diff if comparison else None, body)


def _compare(
    session: Session, latest: Version | None, article: ExtractedPage, ids: list[int] | None = None,
    digest: str | None = None,
) -> Comparison | None:
    """The page against the latest version (whose paragraph ``ids`` may be known already),
    when that is a comparison of like with like."""
    return _comparison(session, latest, article, ids, digest)[0]


def _comparison(
    session: Session, latest: Version | None, article: ExtractedPage, ids: list[int] | None,
    digest: str | None,
) -> tuple[Comparison | None, Mapping[int, tuple[int, str]]]:
    """``_compare``, and what the new version's edited paragraphs may be stored as edits of
    (``db.edits.Resolved.sources`` of the latest version's paragraphs, read for the diff)."""
    if latest is None or latest.extractor != article.extractor:
        return None, {}
    if latest.content_hash == (digest or content_hash(article)):
        return None, {}
    sources: Mapping[int, tuple[int, str]] = {}
    if ids is None:
        old = version_texts(session, latest)
    else:
        stored = queries.resolved_paragraphs(session, ids)
        old = [text for _, text in edits.in_order(stored.texts, ids)]
        sources = stored.sources
    new = article.texts
    diff = diff_documents(old, new, version_metadata(latest), article.metadata.to_dict())
    return compare(diff, old, new), sources


def _merged(
    session: Session, row: ArticleRow, run: _Run, page: Page, keeper: ArticleRow
) -> CheckResult:
    if row.state == ArticleState.MERGED:
        queries.record_check(session, row, started_at=run.started, lag_ms=run.lag_ms,
                             outcome=CheckOutcome.MERGED,
                             duration_ms=run.duration_ms(), status_code=page.status)
    merged = f"the same story as {keeper.url}"
    return CheckResult(row.id, row.url, CheckOutcome.MERGED, error=merged)


def _apply(
    session: Session, app: App, row: ArticleRow, decision: Decision, run: _Run,
    fetched: _Fetched | None, latest: Version | None, now: dt.datetime,
) -> StoredVersion | None:
    """Write what ``decision`` says (the row is locked): the only place a check writes, but
    for the two statements of ``_record_quickly`` and a first version's store on SQLite
    (``_record_first``)."""
    quiet_since = row.last_changed_at or row.created_at
    _decided(row, decision, fetched, now)
    version = None
    if decision.store is not None:
        assert fetched is not None
        version = store_version(session, app, row, decision.store, fetched, latest, now)
    for emit in decision.events:
        queries.append_event(session, row, emit.type, now=now, data=emit.data,
                             version_id=version.id if version and emit.of_version else None)
    queries.insert_check(session, row.id,
                         _check_row(run, decision, version.id if version else None))
    queries.write_article(session, row)
    _log(row.url, decision, quiet_since)
    return version


def _decided(
    row: ArticleRow | LockedArticle, decision: Decision, fetched: _Fetched | None,
    now: dt.datetime,
) -> None:
    """Set on the locked article row what ``decision`` says of it."""
    row.state, row.failure_count, row.last_error = (
        decision.state, decision.failure_count, decision.error)
    row.interval, row.next_check_at = decision.schedule.interval, decision.schedule.next_check_at
    row.last_checked_at = now
    if decision.developing is not None:
        row.developing = decision.developing
    if decision.changed:
        row.last_changed_at = now
    if decision.good and fetched is not None:
        validators = _validators(fetched.page, fetched.digest, row.etag, row.last_modified,
                                 row.body_digest)
        row.etag, row.last_modified, row.body_digest = validators.values()


def _check_row(run: _Run, decision: Decision, version_id: int | None) -> dict[str, Any]:
    """The checks row of this check but its article id."""
    return {
        "started_at": run.started, "duration_ms": run.duration_ms(), "lag_ms": run.lag_ms,
        "outcome": decision.outcome, "status_code": decision.status, "error": decision.error,
        "version_id": version_id,
    }


def store_version(
    session: Session, app: App, row: ArticleRow, store: Store, fetched: _Fetched,
    latest: Version | None, now: dt.datetime,
) -> StoredVersion:
    """Store the checked page as the article's next version (its paragraphs, its diff against
    ``latest``, and its raw body while bodies are kept), from the rows built before the
    transaction while ``latest`` is the version they were built against."""
    article = fetched.article
    assert article is not None
    new = fetched.new
    if new is None or not fetched.latest_holds(latest):
        ids = queries.paragraph_ids(session, latest) if latest else None
        previous = Predecessor(latest.number, ids) if latest and ids is not None else None
        new = _prepare(app, row.id, fetched, previous, None, content_hash(article))
    diff = store.diff
    if diff is None and latest is not None:  # a new baseline: its diff all the same
        diff = diff_documents(version_texts(session, latest), article.texts,
                              version_metadata(latest), article.metadata.to_dict())
    return storing.write(session, row, new, diff, rebaseline=store.rebaseline,
                         minor=store.minor, fetched_at=now)


def _new_headline(decision: Decision) -> str | None:
    """The new headline when the stored diff says the headline changed ("" for one
    removed)."""
    diff = decision.store.diff if decision.store else None
    title = next((c for c in diff.metadata if c.key == "title"), None) if diff else None
    if title is None:
        return None
    return title.new if isinstance(title.new, str) else ""


def _validators(
    page: Page, digest: str | None, etag: str | None, last_modified: str | None,
    body_digest: str | None,
) -> dict[str, str | None]:
    """What the next conditional request sends, and the digest of the last good body: the
    page's own, else the ones known before (a 304 need not repeat them)."""
    return {"etag": page.etag or etag, "last_modified": page.last_modified or last_modified,
            "body_digest": digest or body_digest}


def _log(url: str, decision: Decision, quiet_since: dt.datetime | None) -> None:
    if decision.schedule.settled:
        log.info("%s settled: no change since %s", url, quiet_since)


def _lock(session: Session, target: Target) -> tuple[ArticleRow, str | None] | None:
    """The article row, locked, if this check may still write it (its lease is cleared), and
    the outcome of its latest check."""
    found = queries.lock_article_checked(session, target.id)
    if found is None or not lease.take(found[0], target.lease_token):
        return None
    return found


_SUPERSEDED = "article was removed, or another check took over its claim"


def _content_type(page: Page) -> str:
    """What a stored body needs to be extracted again as it was (tracker.rebaseline)."""
    charset = page.charset if page.charset and len(page.charset) <= 40 else None
    return f"{page.media_type}; charset={charset}" if charset else page.media_type


def content_hash(article: ExtractedPage) -> str:
    """What must differ for a new version: paragraphs (kind and text) and versioned metadata."""
    meta = article.metadata.to_dict()
    payload = json.dumps(
        [[meta[f] for f in _VERSIONED_FIELDS], [[p.kind, p.text] for p in article.paragraphs]],
        ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


def version_fields(article: ExtractedPage) -> dict[str, Any]:
    return {
        **article.metadata.to_dict(),
        "content_hash": content_hash(article),
        "extractor": article.extractor,
        "rebaseline": False,
    }


def _developing(article: ExtractedPage) -> bool:
    from tracker.markers import developing_marker  # its patterns: only for extracted pages

    texts = (p.text for p in article.paragraphs if p.kind not in {"caption", "credit"})
    marker = developing_marker(article.metadata.title, texts)
    return marker is not None


def _record_deferred(app: App, target: Target, deferred: HostDeferred) -> CheckResult:
    """No request was sent (the host's rate, its pause after 429/503, or its slots): nothing
    is stored but the schedule, which moves to when the host is free. Not a failure."""
    retry_at = dt.datetime.fromtimestamp(deferred.until, dt.UTC)
    with app.write_connection() as connection:
        if not queries.defer_check(connection, target.id, target.lease_token, retry_at):
            return CheckResult(target.id, target.url, "skipped", error=_SUPERSEDED)
    log.debug("check of %s deferred: %s", target.url, deferred.reason)
    return CheckResult(target.id, target.url, "deferred", error=deferred.reason,
                       retry_at=retry_at, paused=deferred.paused)
