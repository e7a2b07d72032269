"""Queries of the webhook tables: endpoints, deliveries and their attempts.

Deliveries are claimed like articles and sources, with ``db.lease`` (``DELIVERY_WORK``). Only
the head of each (endpoint, article) chain can be claimed, so an article's events reach an
endpoint in order: a later event waits while an earlier one is being retried. A source's
events (source.failing, source.recovered) are chained the same way per (endpoint, source).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Exists, Select, exists, func, select, tuple_, update
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from db import lease
from db.models import Delivery, DeliveryAttempt, Endpoint, Event
from db.states import GAVE_UP_STATES, DeliveryState, EndpointState

# --- endpoints ------------------------------------------------------------------------------


def add_endpoint(session: Session, **values: Any) -> Endpoint:
    endpoint = Endpoint(state=EndpointState.ACTIVE, **values)
    session.add(endpoint)
    session.flush()
    return endpoint


def endpoints(session: Session) -> list[Endpoint]:
    return list(session.scalars(select(Endpoint).order_by(Endpoint.id)))


def find_endpoint(session: Session, key: str) -> Endpoint | None:
    """An endpoint by id, by URL (the newest one with that URL) or by a channel's name."""
    if key.isascii() and key.isdigit():
        return session.get(Endpoint, int(key)) if len(key) < 10 else None
    statement = select(Endpoint).where(Endpoint.url == key).order_by(Endpoint.id.desc()).limit(1)
    return session.scalars(statement).one_or_none() or find_channel(session, key)


def find_channel(session: Session, name: str) -> Endpoint | None:
    """A channel by name, or by id."""
    if name.isascii() and name.isdigit() and len(name) < 10:
        found = session.get(Endpoint, int(name))
        return found if found is not None and found.kind == "channel" else None
    statement = select(Endpoint).where(Endpoint.kind == "channel", Endpoint.name == name)
    return session.scalars(statement).one_or_none()


def lock_endpoint(session: Session, endpoint_id: int) -> Endpoint | None:
    statement = select(Endpoint).where(Endpoint.id == endpoint_id).with_for_update()
    return session.scalars(statement).one_or_none()


def cancel_pending(session: Session, endpoint_id: int, reason: str) -> None:
    session.execute(
        update(Delivery)
        .where(Delivery.endpoint_id == endpoint_id, Delivery.state == DeliveryState.PENDING)
        .values(state=DeliveryState.CANCELLED, last_error=reason, lease_token=None,
                lease_until=None)
    )


# --- dispatching events ---------------------------------------------------------------------


def undispatched_events(session: Session, limit: int) -> list[Event]:
    statement = (
        select(Event)
        .where(Event.dispatched_at.is_(None))
        .order_by(Event.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(statement))


def dispatch_to_nobody(session: Session, now: dt.datetime) -> None:
    """Mark every event not dispatched yet as dispatched, without reading one: for when no
    endpoint is active, so no event has anyone to be delivered to. An endpoint made later
    gets the events committed after it, as when the events had been read and matched."""
    session.execute(
        update(Event).where(Event.dispatched_at.is_(None)).values(dispatched_at=now)
        .execution_options(synchronize_session=False)
    )


def delivery_work_waiting(session: Session) -> bool:
    """Whether ``tracker.delivery.deliver_due`` has anything to do: an event not dispatched
    yet, or a delivery still pending (due now or later). Two index lookups."""
    undispatched = exists().where(Event.dispatched_at.is_(None))
    pending = exists().where(Delivery.state == DeliveryState.PENDING)
    return bool(session.scalar(select(undispatched | pending)))


def active_endpoints(session: Session) -> list[Endpoint]:
    """The endpoints deliveries are made for (which events each wants: ``tracker.delivery``)."""
    return list(session.scalars(select(Endpoint).where(Endpoint.state == EndpointState.ACTIVE)))


def add_delivery(session: Session, event: Event, endpoint: Endpoint, now: dt.datetime) -> None:
    """One delivery per (event, endpoint); ``UNIQUE(event_id, endpoint_id)`` refuses a second."""
    session.add(Delivery(
        event_id=event.id, endpoint_id=endpoint.id, article_id=event.article_id,
        source_id=event.source_id, seq=event.seq,
        state=DeliveryState.PENDING, attempts=0, next_attempt_at=now, created_at=now,
    ))


def add_to_digest(
    session: Session, event: Event, endpoint: Endpoint, now: dt.datetime, period_end: dt.datetime
) -> None:
    """A digest channel's delivery: the carrier of the period's message, due at the period's
    end, or (when the period has one already, not yet attempted) a member riding along. The
    channel's row is locked first, so two dispatchers cannot both start a period's carrier."""
    lock_endpoint(session, endpoint.id)
    carrier = session.scalars(
        select(Delivery).where(
            Delivery.endpoint_id == endpoint.id, Delivery.state == DeliveryState.PENDING,
            Delivery.digest_of.is_(None), Delivery.attempts == 0,
            Delivery.next_attempt_at == period_end,
        ).order_by(Delivery.id).limit(1)
    ).one_or_none()
    if carrier is None:
        session.add(Delivery(
            event_id=event.id, endpoint_id=endpoint.id, article_id=event.article_id,
            source_id=event.source_id, seq=event.seq, state=DeliveryState.PENDING, attempts=0,
            next_attempt_at=period_end, created_at=now,
        ))
        session.flush()
        return
    session.add(Delivery(
        event_id=event.id, endpoint_id=endpoint.id, article_id=event.article_id,
        source_id=event.source_id, seq=event.seq,
        state=DeliveryState.DIGESTED, attempts=0, next_attempt_at=period_end, created_at=now,
        digest_of=carrier.id,
    ))


def digest_members(session: Session, carrier_id: int) -> list[Event]:
    """The events riding along with a digest's carrier, in the order they happened."""
    statement = (
        select(Event).join(Delivery, Delivery.event_id == Event.id)
        .where(Delivery.digest_of == carrier_id, Delivery.state == DeliveryState.DIGESTED)
        .order_by(Event.created_at, Event.id)
    )
    return list(session.scalars(statement))


def release_digests(session: Session, doomed: Select[int]) -> None:
    """Before the deliveries ``doomed`` (a select of ids) are deleted (their article removed):
    the members of a digest whose carrier goes get the earliest of them as their carrier."""
    rows = session.execute(
        select(Delivery.id, Delivery.digest_of)
        .where(Delivery.digest_of.in_(doomed), Delivery.state == DeliveryState.DIGESTED,
               Delivery.id.not_in(doomed))
        .order_by(Delivery.id)
    )
    groups: dict[int, list[int]] = {}
    for member, carrier in rows:
        if carrier is not None:
            groups.setdefault(carrier, []).append(member)
    for members in groups.values():
        session.execute(update(Delivery).where(Delivery.id == members[0])
                        .values(state=DeliveryState.PENDING, digest_of=None))
        if members[1:]:
            session.execute(update(Delivery).where(Delivery.id.in_(members[1:]))
                            .values(digest_of=members[0]))


def settle_digest(session: Session, carrier_id: int, now: dt.datetime) -> None:
    """The carrier was delivered: so were the events riding along."""
    session.execute(
        update(Delivery)
        .where(Delivery.digest_of == carrier_id, Delivery.state == DeliveryState.DIGESTED)
        .values(state=DeliveryState.DELIVERED, delivered_at=now)
        .execution_options(synchronize_session=False)
    )


# --- delivering -----------------------------------------------------------------------------


def _delivery_due(now: dt.datetime) -> list[ColumnElement[bool]]:
    """Pending, its attempt due, and the head of its (endpoint, article) or (endpoint,
    source) chain (a NULL article or source matches nothing: the other column chains)."""
    return [Delivery.state == DeliveryState.PENDING, Delivery.next_attempt_at <= now,
            ~_waiting_behind(Delivery.article_id), ~_waiting_behind(Delivery.source_id)]


def _waiting_behind(column: InstrumentedAttribute[int | None]) -> Exists:
    earlier = aliased(Delivery)
    return exists().where(
        earlier.endpoint_id == Delivery.endpoint_id,
        getattr(earlier, column.key) == column,
        earlier.seq < Delivery.seq,
        earlier.state == DeliveryState.PENDING,
    )


# Deliveries to send: claimed with ``db.lease``, earliest due first.
DELIVERY_WORK = lease.Work("delivery", Delivery, _delivery_due,
                           lambda: (Delivery.next_attempt_at, Delivery.id))


def deliveries_by_id(
    session: Session, ids: Sequence[int]
) -> list[tuple[Delivery, Event, Endpoint]]:
    """Deliveries with their event and endpoint, in one query."""
    statement = (
        select(Delivery, Event, Endpoint)
        .join(Event, Event.id == Delivery.event_id)
        .join(Endpoint, Endpoint.id == Delivery.endpoint_id)
        .where(Delivery.id.in_(ids))
    )
    return [(row[0], row[1], row[2]) for row in session.execute(statement)]


def lock_deliveries(session: Session, ids: Sequence[int]) -> list[Delivery]:
    """The deliveries, locked in id order (a fixed order, so two batches cannot deadlock)."""
    statement = select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id)
    return list(session.scalars(statement.with_for_update()))


def lock_endpoints(session: Session, ids: Sequence[int]) -> list[Endpoint]:
    statement = select(Endpoint).where(Endpoint.id.in_(ids)).order_by(Endpoint.id)
    return list(session.scalars(statement.with_for_update()))


def next_in_chains(session: Session, delivered: Sequence[Delivery]) -> dict[int, int]:
    """For each delivered delivery, the pending one that waited for it (same endpoint and
    article, or endpoint and source; the next sequence number up): delivered id → next id, in
    one query per kind of chain."""
    following: dict[int, int] = {}
    for column in (Delivery.article_id, Delivery.source_id):
        key = column.key
        heads = {(d.endpoint_id, getattr(d, key)): d for d in delivered
                 if getattr(d, key) is not None}
        if not heads:
            continue
        statement = (
            select(Delivery.id, Delivery.endpoint_id, column, Delivery.seq)
            .where(tuple_(Delivery.endpoint_id, column).in_(list(heads)),
                   Delivery.state == DeliveryState.PENDING)
            .order_by(Delivery.seq)
        )
        for row in session.execute(statement):
            head = heads[(row[1], row[2])]
            if row.seq > head.seq and head.id not in following:
                following[head.id] = row.id
    return following


def lock_delivery(session: Session, delivery_id: int) -> Delivery | None:
    statement = select(Delivery).where(Delivery.id == delivery_id).with_for_update()
    return session.scalars(statement).one_or_none()


def record_attempt(session: Session, delivery: Delivery, **values: Any) -> None:
    session.add(DeliveryAttempt(delivery_id=delivery.id, **values))


def deliveries(
    session: Session, *, failed: bool = False, endpoint_id: int | None = None, limit: int = 100
) -> list[tuple[Delivery, Event, Endpoint]]:
    statement = (
        select(Delivery, Event, Endpoint)
        .join(Event, Event.id == Delivery.event_id)
        .join(Endpoint, Endpoint.id == Delivery.endpoint_id)
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    if failed:
        statement = statement.where(Delivery.state == DeliveryState.FAILED)
    if endpoint_id is not None:
        statement = statement.where(Delivery.endpoint_id == endpoint_id)
    return [(row[0], row[1], row[2]) for row in session.execute(statement)]


def attempts_of(session: Session, delivery_id: int) -> list[DeliveryAttempt]:
    statement = (
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id == delivery_id)
        .order_by(DeliveryAttempt.id)
    )
    return list(session.scalars(statement))


def event_by_uid(session: Session, uid: str) -> Event | None:
    return session.scalars(select(Event).where(Event.uid == uid)).one_or_none()


def reset_deliveries(
    session: Session, now: dt.datetime, *, event_id: int | None = None, failed: bool = False
) -> int:
    """Put deliveries back in the queue for a new round of attempts: those of one event, or
    (``failed``) those that gave up. Only deliveries to active endpoints: one to a disabled
    endpoint would never be sent and stay pending for ever (see ``disabled_endpoints``)."""
    active = select(Endpoint.id).where(Endpoint.state == EndpointState.ACTIVE)
    statement = update(Delivery).where(Delivery.endpoint_id.in_(active)).values(
        state=DeliveryState.PENDING, next_attempt_at=now, lease_token=None, lease_until=None,
        attempts=0,
    )
    if event_id is not None:
        statement = statement.where(Delivery.event_id == event_id)
    if failed:
        statement = statement.where(Delivery.state.in_(GAVE_UP_STATES))
    result = session.execute(statement.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def disabled_endpoints(
    session: Session, *, event_id: int | None = None, failed: bool = False
) -> list[int]:
    """The disabled endpoints ``reset_deliveries`` with these arguments leaves alone."""
    statement = (
        select(Endpoint.id).distinct()
        .join(Delivery, Delivery.endpoint_id == Endpoint.id)
        .where(Endpoint.state != EndpointState.ACTIVE)
    )
    if event_id is not None:
        statement = statement.where(Delivery.event_id == event_id)
    if failed:
        statement = statement.where(Delivery.state.in_(GAVE_UP_STATES))
    return sorted(session.scalars(statement))


def count_gave_up(session: Session, endpoint_id: int) -> int:
    statement = select(func.count()).select_from(Delivery).where(
        Delivery.endpoint_id == endpoint_id, Delivery.state.in_(GAVE_UP_STATES))
    return int(session.scalar(statement) or 0)
