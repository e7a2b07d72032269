"""Sources: feeds and sitemaps that tracker follows, so new stories are tracked as they appear.

This module manages them: ``add_source``, ``remove_source`` and ``list_sources`` (shaped like
the documented ``tracker sources --format json``). Polling them is ``tracker.polls``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from db import source_queries as sq
from db.models import Source
from db.session import session_scope
from tracker import intervals
from tracker.app import App
from tracker.clock import iso, utcnow
from tracker.errors import TrackerError
from tracker.identity import clean_url


class UnknownSource(TrackerError):
    def __init__(self, url: str) -> None:
        super().__init__(f"{url} is not a source (add it with: tracker source add {url})")


def add_source(
    app: App, url: str, *, match: str | None = None, keywords: Sequence[str] | None = None,
    tags: Sequence[str] = (), interval: int | None = None, article_interval: int | None = None,
) -> tuple[str, bool]:
    """Follow a feed or sitemap; (url, created). Everything is checked before anything is
    stored: the URL (http(s) only, like articles), the ``match`` regular expression, the
    intervals. Adding a source again keeps what it found and changes only what is given:
    ``match``, ``keywords`` and the intervals replace its own ('' removes the match, [''] the
    keywords), ``tags`` are added to its own (as ``tracker add --tag`` does)."""
    cleaned = clean_url(url)
    if match is not None:
        try:
            re.compile(match)
        except re.error as exc:
            raise TrackerError(f"--match {match!r} is not a valid regular expression: {exc}") \
                from exc
    for name, value in (("interval", interval), ("article interval", article_interval)):
        if value is not None and value < intervals.MIN_INTERVAL:
            raise TrackerError(f"{name} {value}s is below the minimum of "
                               f"{intervals.MIN_INTERVAL}s")
    given: dict[str, Any] = {"interval": interval, "article_interval": article_interval}
    given = {name: value for name, value in given.items() if value is not None}
    if match is not None:
        given["match"] = match or None
    if keywords is not None:
        given["keywords"] = list(dict.fromkeys(w.strip() for w in keywords if w.strip()))
    with session_scope(app.writer) as session:
        row = sq.source_by_url(session, cleaned)
        if row is not None:
            given["tags"] = sorted({*(row.tags or []), *tags})
            filters = (given.get("match", row.match), given.get("keywords", row.keywords))
            if filters != (row.match, row.keywords):
                # New filters may want entries passed over before: the next poll reads the
                # listing again even if it did not change.
                given |= {"etag": None, "last_modified": None, "body_digest": None}
        else:
            given = {"interval": app.settings.source_interval, "keywords": [],
                     "tags": sorted(set(tags)), **given}
        _, created = sq.add_source(session, url=cleaned, host=urlsplit(cleaned).hostname or "",
                                   now=utcnow(), **given)
    return cleaned, created


def remove_source(app: App, urls: Iterable[str]) -> int:
    """Stop following sources (all or none: an unknown URL removes nothing). The articles they
    found stay tracked."""
    with session_scope(app.writer) as session:
        rows = [_find(session, clean_url(u)) for u in urls]
        for row in rows:
            sq.delete_source(session, row)
    return len(rows)


def list_sources(app: App) -> dict[str, Any]:
    with session_scope(app.reader) as session:
        return {"sources": [_source_json(row, n) for row, n in sq.list_sources(session)]}


def _find(session: Session, url: str) -> Source:
    row = sq.source_by_url(session, url)
    if row is None:
        raise UnknownSource(url)
    return row


def _source_json(row: Source, articles: int) -> dict[str, Any]:
    return {
        "url": row.url,
        "kind": row.kind,
        "state": row.state,
        "match": row.match,
        "keywords": row.keywords or [],
        "tags": row.tags or [],
        "interval": row.interval,
        "article_interval": row.article_interval,
        "last_checked": iso(row.last_checked_at),
        "next_check": iso(row.next_check_at),
        "entries": row.entry_count,
        "articles": articles,
        "failures": row.failure_count,
        "last_error": row.last_error,
    }


__all__: Sequence[str] = ("UnknownSource", "add_source", "list_sources", "remove_source")
