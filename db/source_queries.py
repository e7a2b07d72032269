"""Queries of the source tables: feeds and sitemaps, and the entries they listed.

Claiming due sources works like claiming due articles (``db.queries.claim_due``): ``FOR UPDATE
SKIP LOCKED`` and a lease token. ``UNIQUE(source_id, url)`` on ``source_entries`` is what makes
an entry become an article once, however often (or concurrently) its source is polled.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from db.models import Source, SourceEntry

POLLED_STATES = ("active",)
_CHUNK = 500  # ids or URLs per IN (...) list


def source_by_url(session: Session, url: str) -> Source | None:
    return session.scalars(select(Source).where(Source.url == url)).one_or_none()


def source_by_id(session: Session, source_id: int) -> Source | None:
    return session.get(Source, source_id)


def lock_source(session: Session, source_id: int) -> Source | None:
    """The source row, locked until the transaction ends (see ``queries.lock_article``)."""
    statement = select(Source).where(Source.id == source_id).with_for_update()
    return session.scalars(statement).one_or_none()


def add_source(session: Session, *, url: str, host: str, now: dt.datetime,
               **options: Any) -> tuple[Source, bool]:
    """(source, created). An existing source keeps its entries and schedule; the options
    given (interval, filters, tags …) replace its own, and it is active again."""
    source = source_by_url(session, url)
    if source is not None:
        for name, value in options.items():
            setattr(source, name, value)
        source.state = "active"
        return source, False
    source = Source(
        url=url, host=host, state="active", next_check_at=now, created_at=now,
        failure_count=0, entry_count=0, **options,
    )
    session.add(source)
    session.flush()
    return source, True


def delete_source(session: Session, source: Source) -> None:
    """The source and its entries go; the articles it found stay tracked."""
    session.delete(source)


def list_sources(session: Session, urls: Sequence[str] = ()) -> list[tuple[Source, int]]:
    """Each source with the number of tracked articles its entries stand for."""
    articles = (
        select(SourceEntry.source_id, func.count(SourceEntry.article_id).label("articles"))
        .group_by(SourceEntry.source_id)
        .subquery()
    )
    statement = (
        select(Source, func.coalesce(articles.c.articles, 0))
        .outerjoin(articles, articles.c.source_id == Source.id)
        .order_by(Source.id)
    )
    if urls:
        statement = statement.where(Source.url.in_(urls))
    return [(source, int(count)) for source, count in session.execute(statement)]


def active_source_ids(session: Session) -> list[int]:
    statement = select(Source.id).where(Source.state.in_(POLLED_STATES)).order_by(Source.id)
    return list(session.scalars(statement))


def claim_due_sources(
    session: Session, now: dt.datetime, lease_until: dt.datetime, limit: int
) -> list[tuple[int, str]]:
    """Lease up to ``limit`` due sources: (source id, lease token) each."""
    statement = (
        select(Source.id)
        .where(
            Source.state.in_(POLLED_STATES),
            Source.next_check_at <= now,
            or_(Source.lease_until.is_(None), Source.lease_until < now),
        )
        .order_by(Source.next_check_at, Source.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claims = [(source_id, secrets.token_hex(16)) for source_id in session.scalars(statement)]
    if claims:
        session.execute(
            update(Source),
            [{"id": i, "lease_token": t, "lease_until": lease_until} for i, t in claims],
        )
    return claims


def release_source_claims(session: Session, claims: Sequence[tuple[int, str]]) -> None:
    for source_id, token in claims:
        session.execute(
            update(Source)
            .where(Source.id == source_id, Source.lease_token == token)
            .values(lease_token=None, lease_until=None)
        )


def next_source_due_time(session: Session) -> dt.datetime | None:
    statement = select(func.min(Source.next_check_at)).where(Source.state.in_(POLLED_STATES))
    return session.scalar(statement)


def source_counts(session: Session, now: dt.datetime) -> dict[str, int]:
    """Sources in all, due now, failing (their last poll failed)."""
    def count(*conditions: Any) -> int:
        statement = select(func.count()).select_from(Source).where(*conditions)
        return int(session.scalar(statement) or 0)

    active = Source.state.in_(POLLED_STATES)
    return {
        "sources": count(),
        "due": count(active, Source.next_check_at <= now),
        "failing": count(Source.failure_count > 0),
    }


# --- entries --------------------------------------------------------------------------------


def known_entries(
    session: Session, source_id: int, urls: Sequence[str]
) -> dict[str, int]:
    """Entry id by URL, for those of ``urls`` the source has listed before."""
    found: dict[str, int] = {}
    for start in range(0, len(urls), _CHUNK):
        statement = select(SourceEntry.url, SourceEntry.id).where(
            SourceEntry.source_id == source_id, SourceEntry.url.in_(urls[start : start + _CHUNK])
        )
        found.update({row.url: row.id for row in session.execute(statement)})
    return found


def listed_entry_ids(session: Session, source_id: int) -> set[int]:
    """Ids of the entries the source's previous poll still listed."""
    statement = select(SourceEntry.id).where(
        SourceEntry.source_id == source_id, SourceEntry.listed.is_(True)
    )
    return set(session.scalars(statement))


def add_entry(session: Session, **values: Any) -> SourceEntry:
    entry = SourceEntry(**values)
    session.add(entry)
    return entry


def mark_entries(
    session: Session, entry_ids: Sequence[int], *, listed: bool, now: dt.datetime | None = None
) -> None:
    """Set ``listed`` on the entries (and, for listed ones, when they were last seen)."""
    values: dict[str, Any] = {"listed": listed}
    if now is not None:
        values["last_seen_at"] = now
    ids = list(entry_ids)
    for start in range(0, len(ids), _CHUNK):
        session.execute(
            update(SourceEntry).where(SourceEntry.id.in_(ids[start : start + _CHUNK])).values(
                **values
            )
        )


def entries_of(session: Session, source_id: int) -> list[SourceEntry]:
    statement = select(SourceEntry).where(SourceEntry.source_id == source_id)
    return list(session.scalars(statement.order_by(SourceEntry.id)))
