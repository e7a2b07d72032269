"""Use cases around the set of tracked articles: add, remove, list, history, show.

They return plain dicts shaped like the documented ``--format json`` output, so the CLI only
renders and the same functions can serve any other front end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from db import diff_queries, queries
from db.models import Article as ArticleRow
from db.models import Version
from db.session import session_scope
from db.states import ArticleState
from tracker.app import App
from tracker.clock import iso, utcnow
from tracker.diffstore import summaries
from tracker.errors import TrackerError
from tracker.identity import MAX_URL_LENGTH, clean_url, normalize_url


class UnknownArticle(TrackerError):
    def __init__(self, url: str) -> None:
        super().__init__(f"{url} is not tracked (add it with: tracker add {url})")


def add_articles(
    app: App, urls: Iterable[str], *, interval: int | None = None, selector: str | None = None,
    tags: Sequence[str] | None = None,
) -> list[tuple[str, bool]]:
    """Track each URL; (url, created) per URL. Invalid URLs raise before anything is stored.

    Adding a tracked URL again changes only what is given: ``interval`` and ``selector``
    replace the article's own ('' removes the selector), ``tags`` are added to its tags. A new
    selector re-baselines the article at once (``tracker.rebaseline``)."""
    cleaned = [clean_url(u) for u in urls]
    now = utcnow()
    added: list[tuple[str, bool]] = []
    reselected: list[int] = []  # checked articles whose selector changed: re-baselined
    with session_scope(app.writer) as session:
        for url in dict.fromkeys(cleaned):
            host = urlsplit(url).hostname or ""
            before = queries.resolve_url(session, url)
            old_selector = before.selector if before is not None else None
            row, created = queries.add_article(
                session, url=url, host=host, interval=interval, now=now, selector=selector,
                default_interval=app.settings.default_interval,
            )
            if not created:
                _follow_again(row, now)
            if tags:
                row.tags = sorted({*(row.tags or []), *tags})
            if not created and row.version_count and row.selector != old_selector:
                reselected.append(row.id)
            added.append((row.url, created))
    if reselected:
        from tracker.rebaseline import rebaseline

        rebaseline(app, reselected)
    return added


def _follow_again(row: ArticleRow, now: dt.datetime) -> None:
    """An article asked for again while settled (quiet for ``settle_after``) or paused is
    followed again from now on: due at once, its quiet period starting over."""
    if row.state in {ArticleState.SETTLED, ArticleState.PAUSED}:
        row.state = ArticleState.ACTIVE
        row.next_check_at = now
        row.last_changed_at = now


def remove_articles(
    app: App, urls: Iterable[str], *, keep_history: bool = False
) -> list[tuple[str, dict[str, int]]]:
    """Stop tracking the articles: all of them or, when one URL is not tracked, none.

    Removing deletes each article with everything stored about it (``queries.delete_article``),
    its notifications still waiting included. With ``keep_history`` the article is only
    paused: never checked again, its versions, checks and events kept and readable
    (``history``, ``show``, ``changes``) until ``tracker add`` resumes it. Returns (url, what
    was deleted) per article."""
    with session_scope(app.writer) as session:
        rows = list({row.id: row for row in
                     (find_article(session, clean_url(u)) for u in urls)}.values())
        done: list[tuple[str, dict[str, int]]] = []
        for row in rows:
            url = row.url
            if keep_history:
                row.state, row.lease_token, row.lease_until = "paused", None, None
                done.append((url, {}))
            else:
                done.append((url, queries.delete_article(session, row)))
    return done


def list_articles(app: App, *, limit: int | None = None, offset: int = 0) -> dict[str, Any]:
    """Every tracked article, or the page of ``limit`` after the first ``offset``, in the
    order they were added. A page that may be followed by more says where the next starts
    (``next_offset``; None on the last page)."""
    with session_scope(app.reader) as session:
        rows = queries.list_articles(session, limit=None if limit is None else limit + 1,
                                     offset=offset)  # fmt: skip
        titles = queries.latest_titles(session, [row.id for row in rows[:limit]])
    data: dict[str, Any] = {"articles": [{**_article_json(row), "title": titles.get(row.id)}
                                         for row in rows[:limit]]}
    if limit is not None:
        data["next_offset"] = offset + limit if len(rows) > limit else None
    return data


def history(app: App, url: str) -> dict[str, Any]:
    """Every version of an article, each with its change summary against the one before, and
    the recent checks (failures included)."""
    with session_scope(app.reader) as session:
        row = find_tracked(session, url)
        versions = queries.versions_of(session, row.id)
        minor = diff_queries.minor_ids(session, [v.id for v in versions])
        found = summaries(session, row.id, [(v.number, v.content_hash) for v in versions])
        entries = []
        for version in versions:
            summary = found.get(version.number) if not version.rebaseline else None
            entries.append({**_version_json(version),
                            "summary": summary.to_json() if summary else None,
                            "minor": version.id in minor})
        checks = [
            {
                "started_at": iso(check.started_at), "outcome": check.outcome,
                "status": check.status_code, "duration_ms": check.duration_ms,
                "error": check.error,
            }
            for check in queries.checks_of(session, row.id)
        ]
        return {"article": _article_json(row), "versions": entries, "checks": checks}


def show(app: App, url: str, number: int | None = None) -> dict[str, Any]:
    with session_scope(app.reader) as session:
        row = find_tracked(session, url)
        version = (
            queries.version_by_number(session, row.id, number)
            if number
            else queries.latest_version(session, row.id)
        )
        if version is None:
            which = f"version {number}" if number else "version yet"
            raise TrackerError(f"{row.url} has no {which} ({row.version_count} stored)")
        paragraphs = [
            {"kind": kind, "text": text} for kind, text in queries.paragraphs_of(session, version)
        ]
        return {
            "article": {"url": row.url},
            "version": _version_json(version),
            "paragraphs": paragraphs,
        }


def stored_paragraphs(app: App, url: str, number: int | None) -> tuple[list[str], dict[str, Any]]:
    """Texts and metadata of a stored version (the latest when ``number`` is None)."""
    data = show(app, url, number)
    meta = {k: data["version"][k] for k in
            ("title", "byline", "published", "updated", "language", "canonical_url",
             "lead_image", "lead_caption")}
    return [p["text"] for p in data["paragraphs"]], meta


def find_tracked(session: Session, url: str) -> ArticleRow:
    """The article a user names on a read path (show, history, changes --article): looked up
    as given (normalised) first, so a tracked URL needs none of ``clean_url``'s checks (which
    load IDNA tables and the HTTP client): it passed them when it was added. Any other URL
    gets ``clean_url``'s verdict, then UnknownArticle."""
    url = url.strip()
    row = None
    if len(url) <= MAX_URL_LENGTH:
        try:
            row = queries.resolve_url(session, normalize_url(url))
        except ValueError:  # a port that is no number: clean_url says so below
            row = None
    return row if row is not None else find_article(session, clean_url(url))


def tracked_id(app: App, url: str) -> int:
    """The id of the article tracked at ``url`` (cleaned first); UnknownArticle if none."""
    with session_scope(app.reader) as session:
        return find_article(session, clean_url(url)).id


def find_article(session: Session, url: str) -> ArticleRow:
    row = queries.resolve_url(session, url)
    if row is None:
        raise UnknownArticle(url)
    return row


def _article_json(row: ArticleRow) -> dict[str, Any]:
    return {
        "url": row.url,
        "versions": row.version_count,
        "last_checked": iso(row.last_checked_at),
        "next_check": iso(row.next_check_at),
        "state": row.state,
        "interval": row.interval,
        "base_interval": row.base_interval,
        "failures": row.failure_count,
        "last_error": row.last_error,
        "selector": row.selector,
        "tags": row.tags or [],
        "developing": bool(row.developing),
    }


def _version_json(version: Version) -> dict[str, Any]:
    return {
        "number": version.number,
        "fetched_at": iso(version.fetched_at),
        "title": version.title,
        "byline": version.byline,
        "published": version.published,
        "updated": version.updated,
        "language": version.language,
        "canonical_url": version.canonical_url,
        "lead_image": version.lead_image,
        "lead_caption": version.lead_caption,
        "paragraphs": version.paragraph_count,
        "extractor": version.extractor,
        "rebaseline": version.rebaseline,
    }




def parse_since(
    text: str, now: dt.datetime | None = None, *, zone: dt.tzinfo = dt.UTC
) -> dt.datetime:
    """``24h``/``7d``-style durations back from now, or an ISO 8601 time (in ``zone`` if it
    names none: the CLI passes the zone of ``TZ``, the JSON API keeps UTC)."""
    from tracker.intervals import DurationOutOfRange, parse_duration

    now = now or utcnow()
    try:
        return now - dt.timedelta(seconds=parse_duration(text))
    except DurationOutOfRange as exc:
        raise TrackerError(f"--since: {exc}") from None
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise TrackerError(
            f"--since {text!r}: use a duration (30m, 24h, 7d) or an ISO time (2024-06-19T10:00)"
        ) from exc
    return when if when.tzinfo else when.replace(tzinfo=zone)



__all__: Sequence[str] = (
    "UnknownArticle", "add_articles", "find_article", "find_tracked", "history",
    "list_articles", "parse_since", "remove_articles", "show", "stored_paragraphs", "tracked_id",
)
