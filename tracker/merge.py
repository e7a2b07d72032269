"""Folding duplicates: two tracked URLs that turn out to be one story become one article.

A check calls ``fold_duplicate`` inside its write transaction, with the checked article's row
locked, once it knows what the page says its canonical URL is (``<link rel=canonical>``, else
``og:url``). The canonical URL then finds the article (an alias), and if it already belongs to
another tracked article the two are merged:

- the one that keeps tracking is the one with stored versions (both have some: the one with
  more, then the one whose URL is not an AMP or mobile edition, then the older one);
- the other's URLs become aliases of it, so adding or discovering them again finds it;
- the other is deleted if it never stored a version, else kept with state ``merged`` (its
  history stays readable, it is no longer checked).

A canonical link is not trusted blindly: some sites point every page at a section front. When
the other article has a stored version, its latest title or half its paragraphs must match the
page being checked, else nothing is merged and a warning is logged.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from db import queries
from db.models import Article as ArticleRow
from db.states import ArticleState
from tracker.document import ExtractedPage
from tracker.identity import is_variant, usable_canonical
from tracker.stored import version_texts

log = logging.getLogger(__name__)
SAME_STORY_OVERLAP = 0.5  # share of paragraphs two pages must share to be one story


def fold_duplicate(
    session: Session, row: ArticleRow, article: ExtractedPage, now: dt.datetime
) -> ArticleRow | None:
    """Merge ``row`` with the article its page names as canonical; returns the article that
    ``row`` was merged into (``row`` itself is then deleted or marked merged), or None when
    ``row`` goes on being checked (alone, or having absorbed the other)."""
    canonical = usable_canonical(article.metadata.canonical_url, row.url)
    if canonical is None:
        return None
    other = queries.resolve_url(session, canonical)
    if other is None:
        queries.add_alias(session, canonical, row.id, "canonical", now)
        return None
    if other.id == row.id:
        return None
    other = queries.lock_article(session, other.id)
    if other is None or not _same_story(session, other, article):
        log.warning("%s names %s as canonical, but that article's text differs: not merged",
                    row.url, canonical)
        return None
    keeper, folded = (row, other) if _keeps(row, other) else (other, row)
    _fold(session, folded, keeper, now)
    queries.add_alias(session, canonical, keeper.id, "canonical", now)
    log.info("%s is the same story as %s: merged", folded.url, keeper.url)
    return keeper if folded is row else None


def _keeps(row: ArticleRow, other: ArticleRow) -> bool:
    """Whether ``row`` rather than ``other`` goes on being tracked."""
    if row.version_count != other.version_count:
        return row.version_count > other.version_count
    if is_variant(row.url) != is_variant(other.url):
        return not is_variant(row.url)
    return row.id < other.id


def _same_story(session: Session, other: ArticleRow, article: ExtractedPage) -> bool:
    latest = queries.latest_version(session, other.id)
    if latest is None:
        return True  # never read yet: the canonical link is all there is to go by
    if latest.title and article.metadata.title and (
        latest.title.casefold() == article.metadata.title.casefold()
    ):
        return True
    theirs, ours = set(version_texts(session, latest)), set(article.texts)
    return len(theirs & ours) >= SAME_STORY_OVERLAP * max(1, min(len(theirs), len(ours)))


def _fold(session: Session, folded: ArticleRow, keeper: ArticleRow, now: dt.datetime) -> None:
    queries.move_aliases(session, folded.id, keeper.id)
    queries.add_alias(session, folded.url, keeper.id, "merged", now)
    keeper.tags = sorted({*(keeper.tags or []), *(folded.tags or [])})
    if keeper.source_id is None:
        keeper.source_id = folded.source_id
    if folded.version_count == 0:
        queries.delete_article(session, folded)
        return
    folded.state = ArticleState.MERGED
    folded.lease_token = folded.lease_until = None
    folded.last_error = f"merged into {keeper.url} (the same story)"
