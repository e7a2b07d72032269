"""Claiming due checks: the one place that decides which article is checked next.

The schedule lives in the database (each article's ``next_check_at``); there is no second
source of truth. A scheduler — the embedded ``tracker run`` or the Celery beat tick — claims due
articles with a lease and a token and hands each claim to a checker. The check stores its
result and clears the lease in one transaction; a claim whose check never finished (a crashed
worker, a lost message) expires and is claimed again. A check carrying a stale token stores
nothing, so duplicate messages cannot check an article twice for one due time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from db import queries
from db.session import session_scope
from tracker.app import App
from tracker.clock import utcnow


@dataclass(frozen=True, slots=True)
class Claim:
    article_id: int
    token: str


def claim_due(
    app: App, *, limit: int | None = None, now: dt.datetime | None = None,
    ids: list[int] | None = None,
) -> list[Claim]:
    """Lease up to ``limit`` due articles (default: the ``claim_batch`` setting), only among
    ``ids`` if given."""
    limit = app.settings.claim_batch if limit is None else limit
    if limit <= 0 or ids == []:
        return []
    now = now or utcnow()
    lease_until = now + dt.timedelta(seconds=app.settings.lease_seconds)
    with session_scope(app.writer) as session:
        rows = queries.claim_due(session, now, lease_until, limit, ids=ids)
    return [Claim(article_id, token) for article_id, token in rows]


def release(app: App, claims: list[Claim]) -> None:
    """Return claims that will not be checked (a scheduler stopping before starting them)."""
    if not claims:
        return
    with session_scope(app.writer) as session:
        queries.release_claims(session, [(c.article_id, c.token) for c in claims], utcnow())
