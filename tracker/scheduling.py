"""Claiming due checks: the one place that decides which article is checked next.

The schedule lives in the database (each article's ``next_check_at``); there is no second
source of truth. A scheduler — the embedded ``tracker run`` or the Celery beat tick — claims due
articles with a lease and a token (``tracker.leases``) and hands each claim to a checker, whose
heartbeat renews the short lease while the check waits and runs. The check stores its result
and clears the lease in one transaction; a claim whose check never finished (a crashed worker,
a lost message) is no longer renewed, runs out within ``lease_seconds`` and is claimed again. A
check carrying a stale token stores nothing, so duplicate messages cannot check an article twice
for one due time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tracker import leases
from tracker.app import App
from tracker.clock import utcnow


@dataclass(frozen=True, slots=True)
class Claim:
    article_id: int
    token: str


def claim_due(
    app: App, *, limit: int | None = None, now: dt.datetime | None = None,
    ids: list[int] | None = None, ahead: float = 0.0,
) -> list[Claim]:
    """Lease up to ``limit`` due articles (default: the ``claim_batch`` setting), only among
    ``ids`` if given. With ``ahead``, as of that many seconds from now: a scheduler that
    claims only every ``ahead`` seconds (the Celery beat's tick) then starts each check by its
    due time, not up to one period after it. A lease running out within ``ahead`` counts as
    run out: its holder has not renewed it for a whole lease but ``ahead`` (they renew every
    third of one), so keep ``ahead`` well below a third of ``lease_seconds``."""
    limit = app.settings.claim_batch if limit is None else limit
    if ahead > 0:
        now = (now or utcnow()) + dt.timedelta(seconds=ahead)
    rows = leases.claim(app, leases.ARTICLES, limit=limit, ids=ids, now=now)
    return [Claim(article_id, token) for article_id, token in rows]


def release(app: App, claims: list[Claim]) -> None:
    """Return claims that will not be checked (a scheduler stopping before starting them)."""
    leases.release(app, leases.ARTICLES, [(c.article_id, c.token) for c in claims])
