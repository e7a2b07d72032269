"""The counts ``tracker status`` and the metrics read: articles by schedule and claim, the
checks of the last minutes, deliveries waiting per endpoint. Aggregates only: every query is
a COUNT/MIN/MAX over an indexed column, or the checks of a short, bounded window."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from db.models import Article, Check, Delivery, Endpoint
from db.states import CHECKED_STATES, DeliveryState

# At most this many recent checks are read for the lag percentiles (the newest ones).
MAX_LAG_SAMPLES = 20_000


def article_counts(
    session: Session, now: dt.datetime, overdue_after: dt.timedelta,
    stranded_until: dt.datetime | None = None,
) -> dict[str, Any]:
    """Articles in all, due, overdue, failing, unavailable; claimed ones split into those in
    progress and stranded (their check was lost): a claim whose lease ends at or before
    ``stranded_until`` (default ``now``: run out, not yet taken again); the age of the oldest
    due article."""
    checked = Article.state.in_(CHECKED_STATES)
    due = Article.next_check_at <= now
    claimed = Article.lease_token.is_not(None)
    stranded_until = max(now, stranded_until or now)
    row = session.execute(
        select(
            func.count(),
            func.count(case((checked & due, 1))),
            func.count(case((checked & (Article.next_check_at <= now - overdue_after), 1))),
            func.count(case((Article.failure_count > 0, 1))),
            func.count(case((Article.state == "unavailable", 1))),
            func.count(case((claimed & (Article.lease_until > stranded_until), 1))),
            func.count(case((claimed & (Article.lease_until <= stranded_until), 1))),
        ).select_from(Article)
    ).one()
    oldest_due = session.scalar(
        select(func.min(Article.next_check_at)).where(checked, due)
    )
    keys = ("articles", "due", "overdue", "failing", "unavailable", "in_progress", "stranded")
    counts: dict[str, Any] = {key: int(value or 0) for key, value in zip(keys, row, strict=True)}
    counts["oldest_due_seconds"] = (
        round((now - oldest_due).total_seconds(), 1) if oldest_due is not None else None
    )
    return counts


@dataclass(frozen=True, slots=True)
class RecentChecks:
    checks: int
    by_outcome: dict[str, int]
    lags_ms: list[int]  # of the newest checks that know their lag (MAX_LAG_SAMPLES at most)


def recent_checks(session: Session, since: dt.datetime) -> RecentChecks:
    """The checks started since ``since``: how many, by outcome, and their lags."""
    outcomes = session.execute(
        select(Check.outcome, func.count()).where(Check.started_at >= since)
        .group_by(Check.outcome)
    ).all()
    lags = session.scalars(
        select(Check.lag_ms).where(Check.started_at >= since, Check.lag_ms.is_not(None))
        .order_by(Check.started_at.desc()).limit(MAX_LAG_SAMPLES)
    ).all()
    by_outcome = {str(outcome): int(count) for outcome, count in outcomes}
    return RecentChecks(sum(by_outcome.values()), by_outcome, [int(v or 0) for v in lags])


def delivery_counts(session: Session) -> list[dict[str, Any]]:
    """Per endpoint: deliveries pending (never tried yet), waiting for a retry (tried and
    failed, next attempt scheduled), failed (given up), and when the oldest waiting one was
    made; with the endpoint's URL, state and failing-since time. Endpoints with nothing waiting
    or failed are left out."""
    waiting = Delivery.state == DeliveryState.PENDING
    statement = (
        select(
            Endpoint.id, Endpoint.url, Endpoint.state, Endpoint.failing_since,
            func.count(case((waiting & (Delivery.attempts == 0), 1))),
            func.count(case((waiting & (Delivery.attempts > 0), 1))),
            func.count(case((Delivery.state == DeliveryState.FAILED, 1))),
            func.min(case((waiting, Delivery.created_at))),
        )
        .join(Delivery, Delivery.endpoint_id == Endpoint.id)
        .where(Delivery.state.in_((DeliveryState.PENDING, DeliveryState.FAILED)))
        .group_by(Endpoint.id, Endpoint.url, Endpoint.state, Endpoint.failing_since)
        .order_by(Endpoint.id)
    )
    return [
        {"id": id_, "url": url, "state": state, "failing_since": failing_since,
         "pending": int(pending), "retrying": int(retrying), "failed": int(failed),
         "oldest_waiting": _utc(oldest)}
        for id_, url, state, failing_since, pending, retrying, failed, oldest
        in session.execute(statement).all()
    ]


def _utc(value: Any) -> dt.datetime | None:
    """min() over a CASE loses the column's type on SQLite (a string comes back)."""
    if value is None or isinstance(value, dt.datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=dt.UTC)
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
