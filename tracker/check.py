"""The check use case: fetch one article, decide whether it changed, store what is new.

``check_article`` is what ``tracker check``, the embedded ``tracker run`` and the Celery check
task all call. It holds no database transaction while it waits on the network, and stores
everything a check produces (version, paragraphs, raw body, event, check record, schedule) in one
transaction, so a crash either keeps all of it or none. Running the same check twice is harmless:
the second run finds the version the first one stored and records "unchanged", and two truly
concurrent runs collide on ``UNIQUE(article_id, number)``, after which the loser re-reads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from db import queries
from db.models import Article as ArticleRow
from db.models import Version
from db.session import session_scope
from tracker import intervals
from tracker.app import App
from tracker.clock import utcnow
from tracker.diff import diff_documents, is_change
from tracker.document import Article
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
from tracker.extract import extract_page
from tracker.fetch import Page
from tracker.markers import developing_marker
from tracker.merge import fold_duplicate
from tracker.rules import NO_RULES, HostRules, IgnoreRules
from tracker.significance import changed_words, is_minor
from tracker.stored import version_metadata, version_texts

log = logging.getLogger(__name__)
# Metadata that makes a new version when it changes. "updated" is left out on purpose: sites
# bump dateModified on republishing without changing a word; it is stored with the next version.
_VERSIONED_FIELDS = ("title", "byline", "published", "language", "canonical_url", "lead_image",
                     "lead_caption")
# New text shorter than this share of the previous version's is treated as a broken page.
COLLAPSE_RATIO = 0.2


@dataclass(frozen=True, slots=True)
class CheckResult:
    article_id: int
    url: str
    # first_seen | changed | minor (stored, below the notification threshold) | rebaseline |
    # unchanged | not_modified | same_bytes | failed | no_content | gone | merged (the same
    # story as another tracked article) | skipped | deferred (no request sent: the host said
    # or says "later"; only the schedule moved, to ``retry_at``; ``error`` says why)
    outcome: str
    version: int | None = None
    error: str | None = None
    summary: dict[str, int] | None = None
    events: int = 0  # outbox events this check wrote (to dispatch as notifications)
    retry_at: dt.datetime | None = None  # deferred: when the host is free
    paused: bool = False  # deferred because the host asked for a pause (429/503)

    @property
    def ok(self) -> bool:
        return self.outcome not in {"failed", "no_content", "gone"}


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
                row.created_at,
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


def check_target(app: App, target: Target) -> CheckResult:
    """``check_article`` for a target loaded beforehand (``load_targets``).

    Whatever goes wrong in one article's check, short of the database itself, becomes that
    article's failed check (``last_error`` names it, its claim is released): a hostile page
    must never end a pass or ``tracker run``."""
    started, clock = utcnow(), time.perf_counter()
    try:
        return _check_target(app, target)
    except SQLAlchemyError:
        raise  # the database is away or broken: the caller retries, nothing is recorded
    except Exception as exc:
        log.debug("check of %s raised", target.url, exc_info=True)
        return _record_failure(app, target, started, clock, UnexpectedError(exc))


def record_lost(app: App, article_id: int, lease_token: str | None, reason: str) -> CheckResult:
    """The failed check of an article whose check never came to an end (its worker process
    was killed each time: a poison message); its claim is released."""
    tokens = {article_id: lease_token} if lease_token else None
    target = load_targets(app, [article_id], tokens).get(article_id)
    if target is None:
        return CheckResult(article_id, "", "skipped", error="no such article, or claim expired")
    return _record_failure(app, target, utcnow(), time.perf_counter(), TrackerError(reason))


def _check_target(app: App, target: Target) -> CheckResult:
    started = utcnow()
    clock = time.perf_counter()
    try:
        page = app.fetcher.fetch(target.url, etag=target.etag, last_modified=target.last_modified)
    except HostDeferred as exc:
        return _record_deferred(app, target, exc)
    except FetchError as exc:
        return _record_failure(app, target, started, clock, exc)
    if page.not_modified:
        return _record_unchanged(app, target, started, clock, page, "not_modified")
    digest = hashlib.sha256(page.body).hexdigest()
    if digest == target.body_digest:
        return _record_unchanged(app, target, started, clock, page, "same_bytes")
    try:
        article = extract_page(
            page.body, url=page.url, media_type=page.media_type, charset=page.charset,
            selector=target.selector or target.rules.selector, fast=app.settings.fast_extraction,
            ignore=target.rules.ignore,
        )
    except ExtractionError as exc:
        return _record_failure(app, target, started, clock, exc, status=page.status)
    if target.latest_hash == content_hash(article) and target.latest_extractor == (
        article.extractor
    ):
        return _record_unchanged(app, target, started, clock, page, "unchanged", digest,
                                 developing=_developing(article))
    try:
        return _store(app, target, started, clock, page, digest, article)
    except ExtractionError as exc:
        return _record_failure(app, target, started, clock, exc, status=page.status)
    except IntegrityError:
        # Someone stored this article's next version meanwhile (a duplicate task): compare
        # against that one instead. A second collision is a real error and propagates.
        log.info("concurrent check of %s; re-reading the latest version", target.url)
        return _store(app, target, started, clock, page, digest, article)


def _lock(session: Any, target: Target) -> ArticleRow | None:
    """The article row, locked, if this check may still write it; its lease is cleared."""
    row = queries.lock_article(session, target.id)
    if row is None or (target.lease_token is not None and row.lease_token != target.lease_token):
        return None
    row.lease_token = None
    row.lease_until = None
    return row


_SUPERSEDED = "article was removed, or another check took over its claim"


def _store(
    app: App, target: Target, started: dt.datetime, clock: float, page: Page, digest: str,
    article: Article,
) -> CheckResult:
    with session_scope(app.writer) as session:
        row = _lock(session, target)
        if row is None:
            return CheckResult(target.id, target.url, "skipped", error=_SUPERSEDED)
        seq = row.event_seq
        now = utcnow()
        keeper = fold_duplicate(session, row, article, now)
        if keeper is not None:
            if row.state == "merged":
                _check_row(session, row, started, clock, "merged", page.status)
            return CheckResult(row.id, row.url, "merged", error=f"the same story as {keeper.url}")
        previous = queries.latest_version(session, row.id)
        outcome, diff = _classify(session, previous, article)
        if outcome == "changed" and diff and is_minor(diff, _threshold(app, target)):
            outcome = "minor"
        _remember_page(row, page, digest)
        row.developing = _developing(article)
        if outcome == "unchanged":
            _reschedule(app, row, now, changed=False, quiet=True)
            _check_row(session, row, started, clock, "unchanged", page.status)
            _restore(session, row, now, previous)
            return CheckResult(row.id, row.url, "unchanged", previous.number if previous else None,
                               events=row.event_seq - seq)
        version = queries.store_version(
            session, row, paragraphs=[(p.kind, p.text) for p in article.paragraphs],
            fields=version_fields(article), previous=previous, now=now,
        )
        if app.settings.keep_bodies_days > 0:
            queries.store_body(
                session, version, content_type=_content_type(page),
                data=zlib.compress(page.body, 6), size=len(page.body), url=page.url,
                status=page.status, headers=page.headers,
            )
        _emit(session, row, version, outcome, diff, now)
        _restore(session, row, now, version)
        _reschedule(app, row, now, changed=outcome in _CHANGES)
        if outcome in _CHANGES:
            row.last_changed_at = now
            if row.state == "settled":  # checked by name or --all, and it did change
                row.state = "active"
        _check_row(session, row, started, clock, outcome, page.status, version=version)
        summary = diff["summary"] if diff else None
        return CheckResult(row.id, row.url, outcome, version.number, summary=summary,
                           events=row.event_seq - seq)


_CHANGES = ("changed", "minor")


def _content_type(page: Page) -> str:
    """What a stored body needs to be extracted again as it was (tracker.rebaseline)."""
    charset = page.charset if page.charset and len(page.charset) <= 40 else None
    return f"{page.media_type}; charset={charset}" if charset else page.media_type


def _threshold(app: App, target: Target) -> int:
    """Changes of fewer words than this are not notified (0: every change is)."""
    host = target.rules.notify_threshold
    return app.settings.notify_threshold if host is None else host


def _classify(
    session: Any, previous: Version | None, article: Article
) -> tuple[str, dict[str, Any] | None]:
    """first_seen, rebaseline, changed or unchanged, with the diff for a change."""
    if previous is None:
        return "first_seen", None
    if previous.extractor != article.extractor:
        return "rebaseline", None
    if previous.content_hash == content_hash(article):
        return "unchanged", None
    old = version_texts(session, previous)
    _refuse_collapse(old, article.texts)
    diff = diff_documents(old, article.texts, version_metadata(previous),
                          article.metadata.to_dict())
    return ("changed", diff) if is_change(diff) else ("unchanged", None)


def _refuse_collapse(old: list[str], new: list[str]) -> None:
    """A page that suddenly lost most of its text is far more often a consent wall, a paywall
    or a broken template than an editor deleting three quarters of a story: keep the last good
    version and record a failed check instead of reporting every paragraph deleted."""
    old_chars, new_chars = sum(map(len, old)), sum(map(len, new))
    if new_chars < COLLAPSE_RATIO * old_chars:
        raise ExtractionError(
            f"the page lost most of its text ({old_chars:,} → {new_chars:,} characters): "
            "probably a consent, paywall or error page; keeping the last good version"
        )


def content_hash(article: Article) -> str:
    """What must differ for a new version: paragraphs (kind and text) and versioned metadata."""
    meta = article.metadata.to_dict()
    payload = json.dumps(
        [[meta[f] for f in _VERSIONED_FIELDS], [[p.kind, p.text] for p in article.paragraphs]],
        ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


def version_fields(article: Article) -> dict[str, Any]:
    return {
        **article.metadata.to_dict(),
        "content_hash": content_hash(article),
        "extractor": article.extractor,
        "rebaseline": False,
    }


def _emit(
    session: Any, row: ArticleRow, version: Version, outcome: str,
    diff: dict[str, Any] | None, now: dt.datetime,
) -> None:
    if outcome == "rebaseline":
        version.rebaseline = True
        return
    if outcome == "minor":
        return  # stored, not notified: the check row (outcome "minor") says so
    if outcome == "first_seen":
        data: dict[str, Any] = {"version": 1, "paragraphs": version.paragraph_count}
        queries.add_event(session, row, "article.first_seen", now=now, version=version, data=data)
        return
    assert diff is not None
    # Kept small (one row per version): the counts that are not zero; the full diff is
    # recomputed from the stored versions when a notification is built.
    data = {
        "version": version.number,
        "changes": {k: n for k, n in diff["summary"].items() if n and k != "unchanged"},
    }
    if diff["metadata"]:
        data["metadata"] = sorted(diff["metadata"])
    words = changed_words(diff)
    if words is not None:  # for subscribers' minimum (none: more than words, always sent)
        data["words"] = words
    queries.add_event(session, row, "article.changed", now=now, version=version, data=data)


def _restore(session: Any, row: ArticleRow, now: dt.datetime, version: Version | None) -> None:
    """A good page after 404/410: the article is back."""
    row.failure_count = 0
    row.last_error = None
    if row.state != "unavailable":
        return
    row.state = "active"
    data = {"version": version.number if version else None}
    queries.add_event(session, row, "article.restored", now=now, version=None, data=data)


def _remember_page(row: ArticleRow, page: Page, digest: str) -> None:
    row.etag = page.etag
    row.last_modified = page.last_modified
    row.body_digest = digest


def _record_unchanged(
    app: App, target: Target, started: dt.datetime, clock: float, page: Page, outcome: str,
    digest: str | None = None, *, developing: bool | None = None,
) -> CheckResult:
    """Nothing new: move the schedule on and log the check. The common case, so it is two
    plain statements in one short transaction (no ORM objects, no extra reads).

    ``developing`` is the marker of the page just extracted (None: not extracted, as before)."""
    if target.state == "unavailable":
        return _record_unchanged_slowly(app, target, started, clock, page, outcome, digest)
    now = utcnow()
    developing = target.developing if developing is None else developing
    interval = intervals.next_interval(
        target.interval, target.base_interval, changed=False, maximum=app.settings.max_interval,
        cap=_cap(app, target.base_interval, developing),
    )
    settled = _settles(app, target.state, target.last_changed_at or target.created_at, now)
    if settled:
        log.info("%s settled: no change since %s", target.url,
                 target.last_changed_at or target.created_at)
    values = {
        "interval": interval, "last_checked_at": now,
        "next_check_at": now + dt.timedelta(seconds=intervals.jitter(interval)),
        "etag": page.etag or target.etag,
        "last_modified": page.last_modified or target.last_modified,
        "body_digest": digest or target.body_digest,
        "state": "settled" if settled else target.state,
        "developing": developing,
    }
    check = {
        "started_at": started, "outcome": outcome, "status_code": page.status,
        "duration_ms": round((time.perf_counter() - clock) * 1000), "error": None,
        "version_id": None,
    }
    with app.write_connection() as connection:
        if not queries.record_unchanged(connection, target.id, target.lease_token, values, check):
            return CheckResult(target.id, target.url, "skipped", error=_SUPERSEDED)
    return CheckResult(target.id, target.url, outcome)


def _record_unchanged_slowly(
    app: App, target: Target, started: dt.datetime, clock: float, page: Page, outcome: str,
    digest: str | None,
) -> CheckResult:
    """Unchanged, but the article was unavailable: it is back (an event is written)."""
    with session_scope(app.writer) as session:
        row = _lock(session, target)
        if row is None:
            return CheckResult(target.id, target.url, "skipped", error=_SUPERSEDED)
        seq = row.event_seq
        if page.etag or page.last_modified:
            row.etag = page.etag or row.etag
            row.last_modified = page.last_modified or row.last_modified
        if digest:
            row.body_digest = digest
        now = utcnow()
        latest = queries.latest_version(session, row.id)
        _reschedule(app, row, now, changed=False, quiet=True)  # back now: not settled at once
        _restore(session, row, now, latest)
        _check_row(session, row, started, clock, outcome, page.status)
        return CheckResult(row.id, row.url, outcome, row.version_count or None,
                           events=row.event_seq - seq)


def _record_failure(
    app: App, target: Target, started: dt.datetime, clock: float, error: Exception,
    status: int | None = None,
) -> CheckResult:
    """A failed check changes nothing but the schedule, the error and the check log."""
    gone = isinstance(error, GoneError)
    outcome = "gone" if gone else "no_content" if isinstance(error, ExtractionError) else "failed"
    refused = isinstance(error, RobotsDisallowed)
    message = error.reason if isinstance(error, FetchError | UnexpectedError) else str(error)
    if isinstance(error, FetchError) and error.status:
        status = error.status
    with session_scope(app.writer) as session:
        row = _lock(session, target)
        if row is None:
            return CheckResult(target.id, target.url, "skipped", error=_SUPERSEDED)
        now = utcnow()
        seq = row.event_seq
        row.failure_count += 1
        row.last_error = message
        row.last_checked_at = now
        if gone and row.state == "active":
            row.state = "unavailable"
            data = {"status": status, "version": row.version_count or None}
            queries.add_event(session, row, "article.unavailable", now=now, data=data)
        retry_after = error.retry_after if isinstance(error, TransientFetchError) else None
        delay = _failure_delay(app, row, gone=gone, refused=refused, retry_after=retry_after)
        row.next_check_at = now + dt.timedelta(seconds=delay)
        _check_row(session, row, started, clock, outcome, status, error=message)
        events = row.event_seq - seq
    log.warning("check of %s failed: %s", target.url, message)
    return CheckResult(target.id, target.url, outcome, error=message, events=events)


def _failure_delay(
    app: App, row: ArticleRow, *, gone: bool, refused: bool, retry_after: float | None
) -> float:
    maximum = app.settings.max_interval
    if gone:  # still looked at, rarely: pages do come back
        return intervals.jitter(intervals.bounded(max(row.base_interval, maximum // 4)))
    if refused:  # robots.txt said no: asking often will not change its mind
        return intervals.jitter(intervals.bounded(max(row.base_interval, maximum)))
    delay = intervals.failure_delay(row.base_interval, row.failure_count, maximum=maximum)
    return max(float(retry_after or 0), intervals.jitter(delay))


def _reschedule(
    app: App, row: ArticleRow, now: dt.datetime, *, changed: bool, quiet: bool = False
) -> None:
    """The next check after a good page; ``quiet``: nothing new was stored, so the article
    may settle."""
    row.interval = intervals.next_interval(
        row.interval, row.base_interval, changed=changed, maximum=app.settings.max_interval,
        cap=_cap(app, row.base_interval, row.developing),
    )
    row.last_checked_at = now
    row.next_check_at = now + dt.timedelta(seconds=intervals.jitter(row.interval))
    if quiet and _settles(app, row.state, row.last_changed_at or row.created_at, now):
        log.info("%s settled: no change since %s", row.url, row.last_changed_at or row.created_at)
        row.state = "settled"


def _cap(app: App, base: int, developing: bool) -> int | None:
    """The longest interval of a page that says its story is developing (None: no cap)."""
    return intervals.developing_cap(base, app.settings.developing_interval) if developing else None


def _settles(app: App, state: str, quiet_since: dt.datetime | None, now: dt.datetime) -> bool:
    """An active article unchanged for ``settle_after`` seconds is done: no more checks (until
    ``tracker add`` asks for it again)."""
    after = app.settings.settle_after
    return (after > 0 and state == "active" and quiet_since is not None
            and now - quiet_since >= dt.timedelta(seconds=after))


def _developing(article: Article) -> bool:
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
    log.info("check of %s deferred: %s", target.url, deferred.reason)
    return CheckResult(target.id, target.url, "deferred", error=deferred.reason,
                       retry_at=retry_at, paused=deferred.paused)


def _check_row(
    session: Any, row: ArticleRow, started: dt.datetime, clock: float, outcome: str,
    status: int | None, *, version: Version | None = None, error: str | None = None,
) -> None:
    queries.record_check(
        session, row, started_at=started, duration_ms=round((time.perf_counter() - clock) * 1000),
        outcome=outcome, status_code=status, error=error,
        version_id=version.id if version else None,
    )
