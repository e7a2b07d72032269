"""Queries of the source tables: feeds and sitemaps, and the entries they listed.

Due sources are claimed like articles and deliveries, with ``db.lease`` (``SOURCE_WORK``).
``UNIQUE(source_id, url)`` on ``source_entries`` is what makes an entry become an article once,
however often (or concurrently) its source is polled.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from db import lease
from db.models import Delivery, DeliveryAttempt, Event, Source, SourceEntry
from db.webhook_queries import release_digests

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


def add_source_event(
    session: Session, source: Source, type_: str, *, now: dt.datetime, data: dict[str, Any]
) -> Event:
    """Append an event to the source's outbox, in the caller's transaction. The caller holds
    the source's row lock (``lock_source``), so the next sequence number is its own;
    ``UNIQUE(source_id, seq)`` would refuse a duplicate all the same."""
    last = session.scalar(select(func.max(Event.seq)).where(Event.source_id == source.id))
    event = Event(uid=f"evt_{secrets.token_hex(12)}", source_id=source.id, seq=(last or 0) + 1,
                  type=type_, created_at=now, data=data)
    session.add(event)
    return event


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
    """The source, its entries and its events (with their deliveries) go; the articles it
    found stay tracked. Events first, in explicit statements (see ``queries.delete_article``):
    other events riding along in a digest with one of them stay queued."""
    events = select(Event.id).where(Event.source_id == source.id)
    deliveries = select(Delivery.id).where(Delivery.event_id.in_(events))
    release_digests(session, deliveries)
    session.execute(delete(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(deliveries)))
    session.execute(delete(Delivery).where(Delivery.event_id.in_(events)))
    session.execute(delete(Event).where(Event.source_id == source.id))
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


def _source_due(now: dt.datetime) -> list[Any]:
    return [Source.state.in_(POLLED_STATES), Source.next_check_at <= now]


# Sources to poll: claimed with ``db.lease``, earliest due first.
SOURCE_WORK = lease.Work("source", Source, _source_due, lambda: (Source.next_check_at, Source.id))


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
