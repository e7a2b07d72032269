"""Use cases around the set of tracked articles: add, remove, list, history, show.

They return plain dicts shaped like the documented ``--format json`` output, so the CLI only
renders and the same functions can serve any other front end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from db import queries
from db.models import Article as ArticleRow
from db.session import session_scope
from db.states import ArticleState
from tracker.app import App
from tracker.clock import utcnow
from tracker.identity import clean_url

# The read use cases live in tracker.reading (no SQLAlchemy); here for callers of this module.
from tracker.reading import UnknownArticle as UnknownArticle
from tracker.reading import history as history
from tracker.reading import list_articles as list_articles
from tracker.reading import parse_since as parse_since
from tracker.reading import show as show
from tracker.reading import stored_paragraphs as stored_paragraphs


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


def tracked_id(app: App, url: str) -> int:
    """The id of the article tracked at ``url`` (cleaned first); UnknownArticle if none."""
    with session_scope(app.reader) as session:
        return find_article(session, clean_url(url)).id


def find_article(session: Session, url: str) -> ArticleRow:
    row = queries.resolve_url(session, url)
    if row is None:
        raise UnknownArticle(url)
    return row


__all__: Sequence[str] = (
    "UnknownArticle", "add_articles", "find_article", "history",
    "list_articles", "parse_since", "remove_articles", "show", "stored_paragraphs", "tracked_id",
)
