"""Polling the sources (feeds and sitemaps, managed in ``tracker.sources``): ``poll_source``
(one poll: what the source lists now becomes tracked articles), and the claiming and polling of
many sources that ``tracker check``, ``tracker run`` and the Celery tick do before they check
articles.

A poll is claim → fetch → parse → decide → apply. It fetches the source with a conditional GET
(304 or the same bytes as last time: nothing to do), reads it (``tracker.feeds``), follows a
sitemap index into its child sitemaps, keeps the entries the source's filters want, and stores
in one transaction, per new entry, the entry, the article it stands for and that article's
``article.discovered`` event. ``UNIQUE(source_id, url)`` makes an entry new only once, whoever
polls; an entry that is no longer listed is marked so, and its article stays tracked. What the
poll means for the source's schedule and failure count is ``tracker.decide_poll``. A poll never
raises for a bad source: the failure is recorded on it and its next poll backs off, like a
failed check.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from db import lease, queries
from db import source_queries as sq
from db.models import Article as ArticleRow
from db.models import Source
from db.session import session_scope
from db.states import EventType
from tracker import leases
from tracker.app import App
from tracker.clock import iso, utcnow
from tracker.decide import EVENT_ERROR_CHARS, Rules
from tracker.decide_poll import Episode, PollDecision, PollFailure, SourceBefore, decide_poll
from tracker.errors import (
    FetchError,
    HostDeferred,
    NotAFeed,
    TrackerError,
    TransientFetchError,
    UnexpectedError,
)
from tracker.fetch import Page
from tracker.identity import clean_url
from tracker.schedule import ScheduleRules

if TYPE_CHECKING:
    from tracker.feeds import Entry, Listing

log = logging.getLogger(__name__)
# Child sitemaps fetched per poll of a sitemap index at most: an index of a site's whole
# archive can list hundreds; the news sitemap is usually among the first.
MAX_CHILD_SITEMAPS = 50
DISCOVERED = EventType.DISCOVERED


@dataclass(frozen=True, slots=True)
class SourceClaim:
    source_id: int
    token: str


@dataclass(frozen=True, slots=True)
class PollResult:
    source_id: int
    url: str
    # polled | not_modified | same_bytes | failed | skipped | deferred (no request sent: the
    # host's rate or its pause after 429/503; only the schedule moved)
    outcome: str
    kind: str | None = None  # feed | sitemap | sitemapindex
    entries: int = 0  # listed by the source (capped at max_source_entries)
    matched: int = 0  # of those, wanted by its filters
    new: int = 0  # entries never seen before by this source
    discovered: int = 0  # articles created for new entries (one article.discovered each)
    linked: int = 0  # new entries whose URL was tracked already
    unlisted: int = 0  # entries the previous poll listed and this one did not
    error: str | None = None  # the failure, or a child sitemap that failed
    episode: str | None = None  # source.failing or source.recovered, when this poll sent it

    @property
    def ok(self) -> bool:
        return self.outcome not in {"failed", "skipped"}

    @property
    def events(self) -> int:
        return self.discovered + (self.episode is not None)


@dataclass(frozen=True, slots=True)
class _Target:
    """What a poll needs to know of a source before fetching it."""

    id: int
    url: str
    kind: str | None
    etag: str | None
    last_modified: str | None
    body_digest: str | None
    match: str | None
    keywords: tuple[str, ...]
    tags: tuple[str, ...]
    article_interval: int | None
    lease_token: str | None


@dataclass(frozen=True, slots=True)
class _Fetched:
    page: Page  # the source itself (304: not modified)
    listing: Listing | None = None
    entries: tuple[Entry, ...] = ()  # a sitemap index's: those of its child sitemaps
    digest: str | None = None  # of every body read: the same digest means the same entries
    child_error: str | None = None  # some child sitemaps failed (their entries are unknown)


# --- claiming and polling many --------------------------------------------------------------


def claim_due_sources(
    app: App, *, limit: int | None = None, now: dt.datetime | None = None
) -> list[SourceClaim]:
    """Lease up to ``limit`` due sources (default: the ``claim_batch`` setting)."""
    limit = app.settings.claim_batch if limit is None else limit
    rows = leases.claim(app, leases.SOURCES, limit=limit, now=now)
    return [SourceClaim(source_id, token) for source_id, token in rows]


def release_sources(app: App, claims: Sequence[SourceClaim]) -> None:
    leases.release(app, leases.SOURCES, [(c.source_id, c.token) for c in claims])


def poll_due_sources(
    app: App, *, all_: bool = False, concurrency: int | None = None,
    stop: threading.Event | None = None,
) -> list[PollResult]:
    """Poll the sources that are due (claimed, so concurrent schedulers share them out), or
    with ``all_`` every active one; before a pass over the articles, so that what they list
    is checked in the same pass."""
    items: list[int | SourceClaim]
    if all_:
        with session_scope(app.reader) as session:
            items = list(sq.active_source_ids(session))
    else:
        items = list(claim_due_sources(app))
    return poll_many(app, items, concurrency=concurrency, stop=stop)


def poll_many(
    app: App, items: Sequence[int | SourceClaim], *, concurrency: int | None = None,
    stop: threading.Event | None = None,
) -> list[PollResult]:
    """Poll sources (ids or claims), ``concurrency`` at a time; a stop request leaves the rest
    unstarted and gives their claims back."""
    if not items:
        return []
    claims = [(i.source_id, i.token) for i in items if isinstance(i, SourceClaim)]
    with app.keeper.holding(leases.SOURCES, claims):  # renewed while they wait and run
        return _poll_many(app, items, concurrency, stop)


def _poll_many(
    app: App, items: Sequence[int | SourceClaim], concurrency: int | None,
    stop: threading.Event | None,
) -> list[PollResult]:
    workers = max(1, min(len(items), concurrency or app.settings.concurrency))
    pending = iter(items)
    results: list[PollResult] = []
    running: set[Future[PollResult]] = set()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll") as pool:
        while True:
            while len(running) < workers and not (stop and stop.is_set()):
                item = next(pending, None)
                if item is None:
                    break
                if isinstance(item, SourceClaim):
                    running.add(pool.submit(poll_source, app, item.source_id,
                                            lease_token=item.token))
                else:
                    running.add(pool.submit(poll_source, app, item))
            if not running:
                release_sources(app, [i for i in pending if isinstance(i, SourceClaim)])
                return results
            done, running = wait(running, return_when=FIRST_COMPLETED)
            results += [future.result() for future in done]


# --- one poll -------------------------------------------------------------------------------


def poll_source(app: App, source_id: int, lease_token: str | None = None) -> PollResult:
    """Poll one source now. Never raises for a failed fetch or a body that is no feed: the
    failure is recorded on the source and returned; only database errors propagate.

    With ``lease_token`` (from ``claim_due_sources``) the poll stores something only while that
    claim is current."""
    target = _load(app, source_id, lease_token)
    if target is None:
        return PollResult(source_id, "", "skipped", error="no such source, or claim expired")
    try:
        return _poll(app, target)
    except SQLAlchemyError:
        raise  # the database is away or broken: the caller retries, nothing is recorded
    except Exception as exc:  # a hostile feed must never end a pass: this source's failure
        log.debug("poll of %s raised", target.url, exc_info=True)
        return _record_failure(app, target, UnexpectedError(exc))


def record_lost(app: App, source_id: int, lease_token: str | None, reason: str) -> PollResult:
    """The failed poll of a source whose poll never came to an end (its worker process was
    killed each time: a poison message); its claim is released."""
    target = _load(app, source_id, lease_token)
    if target is None:
        return PollResult(source_id, "", "skipped", error="no such source, or claim expired")
    return _record_failure(app, target, TrackerError(reason))


def _poll(app: App, target: _Target) -> PollResult:
    try:
        fetched = _fetch(app, target)
    except HostDeferred as exc:
        return _record_deferred(app, target, exc)
    except (FetchError, NotAFeed) as exc:
        return _record_failure(app, target, exc)
    if fetched.listing is None:
        return _record_quiet(app, target, fetched, "not_modified")
    if fetched.digest is not None and fetched.digest == target.body_digest:
        return _record_quiet(app, target, fetched, "same_bytes")
    entries = fetched.entries if fetched.listing.kind == "sitemapindex" else (
        fetched.listing.entries
    )
    wanted = _wanted(entries, target)
    try:
        return _store(app, target, fetched, len(entries), wanted)
    except IntegrityError:
        # Another poll (of this source, or of another that lists the same story) or a
        # `tracker add` stored one of these URLs meanwhile: read again and link to it.
        log.info("concurrent discovery of entries of %s; storing again", target.url)
        return _store(app, target, fetched, len(entries), wanted)


def _load(app: App, source_id: int, lease_token: str | None) -> _Target | None:
    with session_scope(app.reader) as session:
        row = sq.source_by_id(session, source_id)
        if row is None or (lease_token is not None and row.lease_token != lease_token):
            return None
        return _Target(
            row.id, row.url, row.kind, row.etag, row.last_modified, row.body_digest, row.match,
            tuple(row.keywords or ()), tuple(row.tags or ()), row.article_interval, lease_token,
        )


def _fetch(app: App, target: _Target) -> _Fetched:
    """The source's listing; for a sitemap index, the entries of its child sitemaps too.

    A sitemap index is fetched without validators: its own bytes rarely change when its
    children do (the children's validators have nowhere to be kept), so the digest of all
    the bodies read is what tells that nothing changed."""
    index = target.kind == "sitemapindex"
    page = app.fetcher.fetch(
        target.url, etag=None if index else target.etag,
        last_modified=None if index else target.last_modified, kind="listing",
    )
    if page.not_modified:
        return _Fetched(page)
    cap = app.settings.max_source_entries
    listing = _parse(page, cap)
    digest = hashlib.sha256(page.body)
    if listing.kind != "sitemapindex":
        return _Fetched(page, listing, listing.entries, digest.hexdigest())
    entries: dict[str, Entry] = {}
    failures: list[Exception] = []
    children = listing.sitemaps[:MAX_CHILD_SITEMAPS]
    for child in children:
        if len(entries) >= cap:
            break
        try:
            read = _child_sitemap(app, child, cap - len(entries))
        except (FetchError, NotAFeed) as exc:
            failures.append(exc)
            continue
        digest.update(b"\0" + read[0])
        for entry in read[1]:
            entries.setdefault(entry.url, entry)
    if children and len(failures) == len(children):
        raise failures[0]
    error = None
    if failures:
        error = f"{len(failures)} of {len(children)} child sitemaps failed: {failures[0]}"
    return _Fetched(page, listing, tuple(entries.values()), digest.hexdigest(), error)


def _parse(page: Page, cap: int) -> Listing:
    """The page read as a feed or sitemap: ``tracker.feeds`` (and lxml) are imported for the
    first one, so a pass with no source to poll never loads them."""
    from tracker.feeds import parse_listing

    return parse_listing(page.body, url=page.url, charset=page.charset, max_entries=cap)


def _child_sitemap(app: App, url: str, room: int) -> tuple[bytes, tuple[Entry, ...]]:
    page = app.fetcher.fetch(url, kind="listing")
    listing = _parse(page, room)
    if listing.kind == "sitemapindex":
        raise NotAFeed(url, "a sitemap index inside a sitemap index (not followed)")
    return page.body, listing.entries


def _wanted(entries: Sequence[Entry], target: _Target) -> list[Entry]:
    """The entries the source's filters keep, with their URLs as articles store them: the
    ``match`` regular expression searched in the URL, and any keyword (case-insensitive)
    in the title or summary."""
    pattern = re.compile(target.match) if target.match else None
    words = [w.casefold() for w in target.keywords]
    kept: dict[str, Entry] = {}
    for entry in entries:
        try:
            url = clean_url(entry.url)
        except (FetchError, ValueError):  # not http(s), no valid host: not an article to follow
            continue
        if pattern is not None and not pattern.search(url):
            continue
        if words:
            text = f"{entry.title or ''}\n{entry.summary or ''}".casefold()
            if not any(word in text for word in words):
                continue
        kept.setdefault(url, replace(entry, url=url))
    return list(kept.values())


def track_entry(
    session: Session, *, url: str, host: str, interval: int, tags: Sequence[str], source_id: int,
    now: dt.datetime,
) -> tuple[ArticleRow, bool]:
    """The article an entry stands for: (article, created). The one place sources create
    articles, so URL identity (tracking parameters, aliases) is decided as for ``tracker add``.

    A URL tracked already is linked as it is (its schedule and tags stay); a new article is
    active, due now, tagged like its source."""
    row = queries.resolve_url(session, url)
    if row is not None:
        return row, False
    row, created = queries.add_article(session, url=url, host=host, interval=interval, now=now)
    if created:
        row.tags = sorted(set(tags))
        row.source_id = source_id
    return row, created


def _store(
    app: App, target: _Target, fetched: _Fetched, listed: int, wanted: list[Entry]
) -> PollResult:
    """Entries, articles and their events, and the source's new state: one transaction."""
    assert fetched.listing is not None
    kind = fetched.listing.kind
    with session_scope(app.writer) as session:
        row = _lock(session, target)
        if row is None:
            return PollResult(target.id, target.url, "skipped", kind, error=_SUPERSEDED)
        now = utcnow()
        known = sq.known_entries(session, row.id, [e.url for e in wanted])
        previously_listed = sq.listed_entry_ids(session, row.id)
        interval = row.article_interval or app.settings.default_interval
        discovered = linked = 0
        for entry in (e for e in wanted if e.url not in known):
            article, created = track_entry(
                session, url=entry.url, host=urlsplit(entry.url).hostname or "",
                interval=interval, tags=row.tags or [], source_id=row.id, now=now,
            )
            if created:
                data = {"source": row.url, "title": entry.title, "published": iso(entry.published)}
                queries.add_event(session, article, DISCOVERED, now=now, data=data)
                discovered += 1
            else:
                linked += 1
            sq.add_entry(session, source_id=row.id, url=entry.url, title=entry.title,
                         article_id=article.id, listed=True, first_seen_at=now, last_seen_at=now)
        seen = set(known.values())
        sq.mark_entries(session, sorted(seen), listed=True, now=now)
        # A child sitemap that failed leaves its entries unknown: none is taken for gone.
        gone = sorted(previously_listed - seen) if fetched.child_error is None else []
        sq.mark_entries(session, gone, listed=False)
        row.kind = kind
        row.entry_count = listed
        _remember(row, fetched)
        episode = _apply(session, row, decide_poll(_before(row), None, _rules(app), now), now,
                         "polled")
        if fetched.child_error is not None:  # not "the same bytes" next time: read it all again
            row.body_digest = None
            row.last_error = fetched.child_error
        new = len(wanted) - len(known)
    if discovered:
        log.info("%s: %d new article(s)", target.url, discovered)
    return PollResult(target.id, target.url, "polled", kind, entries=listed, matched=len(wanted),
                      new=new, discovered=discovered, linked=linked, unlisted=len(gone),
                      error=fetched.child_error, episode=episode)


_SUPERSEDED = "source was removed, or another poll took over its claim"


def _lock(session: Session, target: _Target) -> Source | None:
    """The source row, locked, if this poll may still write it; its lease is cleared."""
    row = sq.lock_source(session, target.id)
    return row if lease.take(row, target.lease_token) else None


def _remember(row: Source, fetched: _Fetched) -> None:
    row.etag = fetched.page.etag or row.etag
    row.last_modified = fetched.page.last_modified or row.last_modified
    if fetched.digest is not None:
        row.body_digest = fetched.digest


def _before(row: Source) -> SourceBefore:
    return SourceBefore(row.interval, row.failure_count)


def _rules(app: App) -> Rules:
    settings = app.settings
    return Rules(ScheduleRules(max_interval=settings.max_interval),
                 failing_after=settings.failing_after)


def _apply(
    session: Session, row: Source, decision: PollDecision, now: dt.datetime, outcome: str
) -> str | None:
    """Write what ``decision`` says of the source (its row is locked), and the event of an
    episode starting (source.failing) or ending (source.recovered), once each."""
    last_error, failures = row.last_error, row.failure_count
    row.failure_count, row.last_error = decision.failure_count, decision.error
    row.last_checked_at = now
    row.next_check_at = decision.schedule.next_check_at
    if decision.episode is None:
        return None
    data: dict[str, Any] = {"source": {"url": row.url, "kind": row.kind}, "outcome": outcome}
    if decision.episode == Episode.FAILING:
        log.warning("source %s is failing: %d polls in a row failed", row.url,
                    decision.failure_count)
        type_ = EventType.SOURCE_FAILING
        data |= {"failures": decision.failure_count, "error": decision.error}
    else:
        log.info("source %s recovered", row.url)
        type_ = EventType.SOURCE_RECOVERED
        data |= {"failures": failures, "error": last_error}  # the episode's last failure
    if data["error"] is not None:
        data["error"] = data["error"][:EVENT_ERROR_CHARS]
    return sq.add_source_event(session, row, type_, now=now, data=data).type


def _record_quiet(app: App, target: _Target, fetched: _Fetched, outcome: str) -> PollResult:
    """Nothing new (304, or the very bytes of last time): the schedule moves on."""
    with session_scope(app.writer) as session:
        row = _lock(session, target)
        if row is None:
            return PollResult(target.id, target.url, "skipped", target.kind, error=_SUPERSEDED)
        _remember(row, fetched)
        now = utcnow()
        episode = _apply(session, row, decide_poll(_before(row), None, _rules(app), now), now,
                         outcome)
        return PollResult(target.id, target.url, outcome, row.kind, entries=row.entry_count,
                          episode=episode)


def _record_deferred(app: App, target: _Target, deferred: HostDeferred) -> PollResult:
    """The host must not be asked yet (its rate, or its pause after 429/503): no request was
    sent, so only the schedule moves, to when the host is free. Not a failure."""
    with session_scope(app.writer) as session:
        row = _lock(session, target)
        if row is None:
            return PollResult(target.id, target.url, "skipped", target.kind, error=_SUPERSEDED)
        row.next_check_at = dt.datetime.fromtimestamp(deferred.until, dt.UTC)
    log.info("poll of %s deferred: %s", target.url, deferred.reason)
    return PollResult(target.id, target.url, "deferred", target.kind, error=deferred.reason)


def _record_failure(app: App, target: _Target, error: TrackerError) -> PollResult:
    """A failed poll changes nothing but the schedule (backing off) and the error."""
    message = error.reason if isinstance(error, FetchError | NotAFeed | UnexpectedError) else (
        str(error))
    with session_scope(app.writer) as session:
        row = _lock(session, target)
        if row is None:
            return PollResult(target.id, target.url, "skipped", target.kind, error=_SUPERSEDED)
        now = utcnow()
        retry_after = error.retry_after if isinstance(error, TransientFetchError) else None
        failure = PollFailure(message, retry_after)
        episode = _apply(session, row, decide_poll(_before(row), failure, _rules(app), now),
                         now, "failed")
    log.warning("poll of %s failed: %s", target.url, message)
    return PollResult(target.id, target.url, "failed", target.kind, error=message,
                      episode=episode)


__all__: Sequence[str] = (
    "DISCOVERED", "PollResult", "SourceClaim", "claim_due_sources", "poll_due_sources",
    "poll_many", "poll_source", "record_lost", "release_sources", "track_entry",
)
