"""Re-baselining articles at once when the rules that extract them change.

A host's selector or ignore rules (``tracker host set``) or an article's own ``--selector``
change what is extracted from a page. Versions extracted under the old rules cannot be compared
with one extracted under the new ones, so the first version under new rules is a re-baseline:
stored, not reported. Left to the next check, that re-baseline would swallow a real edit made
meanwhile (and a page whose bytes did not change would not even be extracted again).

So the re-baseline happens when the rules change: the raw page of each article's latest version
(kept for ``keep_bodies_days``) is extracted again under the new rules and stored as a
re-baseline version (none when the rules make no difference to it). The article also forgets
its validators and body digest, so its next
check extracts the page it fetches under the new rules and compares like with like: a real
edit is reported as a change. An article without a kept page re-baselines at its next check.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from db import queries
from db.models import Article as ArticleRow
from db.models import Version
from db.session import session_scope
from tracker.app import App
from tracker.check import Target, content_hash, load_targets, version_fields
from tracker.clock import utcnow
from tracker.diffstore import record_diff
from tracker.document import ExtractedPage
from tracker.errors import ExtractionError
from tracker.extract import extract_page

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rebaselined:
    now: int = 0  # articles re-baselined from their stored page
    later: int = 0  # articles without a usable stored page: they re-baseline at the next check

    def __add__(self, other: Rebaselined) -> Rebaselined:
        return Rebaselined(self.now + other.now, self.later + other.later)


def rebaseline(app: App, article_ids: Sequence[int]) -> Rebaselined:
    """Re-baseline the given articles under their current rules (see the module docstring).
    Never raises for a page that does not extract: that article re-baselines at its next
    check instead."""
    total = Rebaselined()
    targets = load_targets(app, list(article_ids))
    for article_id in article_ids:
        target = targets.get(article_id)
        if target is not None and target.latest_hash is not None:
            total += _rebaseline_one(app, target)
    return total


def _rebaseline_one(app: App, target: Target) -> Rebaselined:
    extracted = _extract_stored(app, target)
    with session_scope(app.writer) as session:
        row = queries.lock_article(session, target.id)
        if row is None:
            return Rebaselined()
        row.etag = row.last_modified = row.body_digest = None  # the next check extracts anew
        latest = queries.latest_version(session, row.id)
        if extracted is None or latest is None or latest.id != extracted[0]:
            return Rebaselined(later=1)  # no stored page, or a check stored a version meanwhile
        article = extracted[1]
        if latest.extractor == article.extractor and latest.content_hash == content_hash(article):
            return Rebaselined()  # these rules do not change this article
        _store_rebaseline(session, row, latest, article)
    return Rebaselined(now=1)


def _extract_stored(app: App, target: Target) -> tuple[int, ExtractedPage] | None:
    """(latest version id, its stored page extracted under the current rules), if possible."""
    with session_scope(app.reader) as session:
        latest = queries.latest_version(session, target.id)
        body = queries.body_of(session, latest) if latest is not None else None
        if latest is None or body is None:
            return None
        version_id, data, content_type = latest.id, body.data, body.content_type
    media_type, charset = _content_type(content_type)
    try:
        page = zlib.decompress(data)
        article = extract_page(
            page, url=target.url, media_type=media_type, charset=charset,
            selector=target.selector or target.rules.selector,
            fast=app.settings.fast_extraction, ignore=target.rules.ignore,
        )
    except (ExtractionError, zlib.error) as exc:
        log.info("%s: stored page not usable for a re-baseline (%s)", target.url, exc)
        return None
    return version_id, article


def _content_type(value: str) -> tuple[str, str | None]:
    """Media type and charset of a stored body ("text/html; charset=utf-8"; older bodies hold
    the media type alone)."""
    media_type, _, parameters = value.partition(";")
    charset = None
    for parameter in parameters.split(";"):
        name, _, found = parameter.partition("=")
        if name.strip().lower() == "charset" and found.strip():
            charset = found.strip().strip('"')
    return media_type.strip().lower(), charset


def _store_rebaseline(
    session: Session, row: ArticleRow, latest: Version, article: ExtractedPage
) -> None:
    now = utcnow()
    version = queries.store_version(
        session, row, paragraphs=[(p.kind, p.text) for p in article.paragraphs],
        fields={**version_fields(article), "rebaseline": True}, previous=latest, now=now,
    )
    record_diff(session, latest, version)
    body = queries.body_of(session, latest)
    if body is not None:  # the page it was extracted from stays with the new latest version
        queries.store_body(session, version, content_type=body.content_type, data=body.data,
                           size=body.size)
