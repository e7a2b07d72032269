"""Leased work, one mechanism for every kind of it: articles to check, sources to poll,
deliveries to send.

- ``claim`` leases up to N due rows: a random token each and a short ``lease_until``.
  ``FOR UPDATE SKIP LOCKED`` lets two schedulers claim at the same moment without waiting on
  each other or taking the same row (SQLite has no row locks: a ``write=True`` session holds
  the database write lock already). The row's due column (``Leased.due_column``) moves to the
  lease's end and its due time is kept in ``due_at``: rows in flight leave the index range
  every claim scans (with 90,000 in flight, a claim otherwise walks past all of them). A row
  whose lease ran out is due again by that column: claiming it is a *takeover* of work whose
  holder stopped renewing (a killed worker, a lost message).
- ``renew`` moves the lease (and the due column with it) of rows still held under their tokens
  forward (the holder's heartbeat, and the start of the work) and says which are still held:
  work whose claim is gone is dropped at once instead of being done twice.
- ``take`` checks the token on a locked row, clears its lease and puts back its due time (the
  result is being stored and sets the next one); ``release`` gives back leases of work never
  started, due again when they were due before.
- ``lease_counts`` says how many leases are live and how many ran out unrenewed (stranded).

A ``Work`` names the table and what makes one of its rows due; the rules of the domain (which
states are checked, the order of deliveries in a chain) come with it from the query modules.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    String,
    bindparam,
    case,
    func,
    select,
    text,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

_CHUNK = 500  # ids per IN (...) list


@dataclass(frozen=True)
class Work:
    """A kind of leased work: its model (with the ``Leased`` columns and an ``id``), the
    conditions that make a row due at ``now``, and the order in which due rows are taken."""

    name: str  # article | source | delivery
    model: Any  # a mapped class deriving from db.models.Leased
    due: Callable[[dt.datetime], Sequence[ColumnElement[bool]]]
    order: Callable[[], Sequence[Any]]


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    token: str
    takeover: bool  # the row's previous lease ran out without being renewed or given back


def claim(
    session: Session, work: Work, now: dt.datetime, until: dt.datetime, limit: int,
    ids: Sequence[int] | None = None,
) -> list[Claimed]:
    """Lease up to ``limit`` due rows (only among ``ids`` if given) until ``until``, earliest
    due first."""
    if session.get_bind().dialect.name == "postgresql":
        rows = session.connection().execute(
            claim_statement(work, among_ids=ids is not None),
            claim_params(now, until, limit, ids)).all()
        if rows:
            # A claim is cheap to lose: if the server crashes before its commit reaches the
            # disk, its rows are simply due again and the holders of its tokens find their
            # claim gone (``renew``, ``take``). The commit need not wait for the WAL flush
            # (read at commit; a claim of nothing writes nothing and flushes nothing).
            session.execute(text("SET LOCAL synchronous_commit = off"))
        return [Claimed(i, token, takeover) for i, token, takeover in rows]
    # SQLite: its RETURNING cannot name the FROM of an UPDATE (the previous token), and it
    # has no row locks to keep: the SELECT, then the UPDATE, under the write lock.
    found = {row.id: row.lease_token is not None
             for row in session.execute(due_rows(work, now, limit, ids))}
    if not found:
        return []
    tokens = {row.id: row.lease_token for row in session.execute(
        _lease(work.model, list(found), until))}
    return [Claimed(i, tokens[i], takeover) for i, takeover in found.items() if i in tokens]


def due_rows(work: Work, now: Any, limit: Any, ids: Any = None) -> Select[Any]:
    """The claim's SELECT: ids and current tokens of up to ``limit`` rows due at ``now``,
    earliest first, locked (rows another claim has locked are skipped). ``now``, ``limit``
    and ``ids`` are values or bound parameters (``claim_statement``)."""
    model = work.model
    statement = (
        select(model.id, model.lease_token)
        .where(*work.due(now), _unleased(model, now))
        .order_by(*work.order())
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if ids is not None:
        statement = statement.where(model.id.in_(ids))
    return statement


_NOW: BindParameter[dt.datetime] = bindparam("claim_now")
_UNTIL: BindParameter[dt.datetime] = bindparam("claim_until")
# The limit is written into the statement (when executed, not compiled): a prepared statement
# with a parameter as its LIMIT gets a generic plan expecting a tenth of the table.
_LIMIT: BindParameter[int] = bindparam("claim_limit", type_=Integer, literal_execute=True)
_IDS: BindParameter[list[int]] = bindparam("claim_ids", expanding=True)


@functools.cache
def claim_statement(work: Work, *, among_ids: bool = False) -> Select[int, str, bool]:
    """The whole claim in one statement (PostgreSQL), built once per kind of work (its
    parameters: ``claim_params``): ``due_rows`` locks the rows, the UPDATE of ``_lease``
    leases them, and the ids, new tokens and whether the previous lease ran out
    (``takeover``) come back in ``work.order()``. One round trip, no list of ids sent back and
    forth, nothing sorted or converted in Python but the rows themselves."""
    model = work.model
    order = [column.label(f"order_{i}") for i, column in enumerate(work.order())]
    due = (due_rows(work, _NOW, _LIMIT, _IDS if among_ids else None)
           .add_columns(model.lease_token.is_not(None).label("takeover"), *order)
           .cte("due"))
    leased = (
        _lease(model, None, _UNTIL)
        .where(model.id == due.c.id)
        .returning(due.c.takeover, *(due.c[column.name] for column in order))
        .cte("leased")
    )
    return (select(leased.c.id, leased.c.lease_token, leased.c.takeover)
            .order_by(*(leased.c[column.name] for column in order)))


def claim_params(
    now: dt.datetime, until: dt.datetime, limit: int, ids: Sequence[int] | None = None
) -> dict[str, Any]:
    params: dict[str, Any] = {"claim_now": now, "claim_until": until, "claim_limit": limit}
    if ids is not None:
        params["claim_ids"] = list(ids)
    return params


_NEVER = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _unleased(model: Any, now: dt.datetime) -> ColumnElement[bool]:
    """No live lease: never leased, given back, or run out. A guard only (a live lease keeps
    the due column at its end, out of range), written as an expression PostgreSQL has no
    statistics of: with most rows in flight, ``lease_until`` alone would make it expect no row
    at all and read the whole table instead of the due index (60 ms at 100,000 articles)."""
    return func.coalesce(model.lease_until, _NEVER) < now


class _NewToken(FunctionElement[str]):
    """A fresh lease token made by the database: 32 random hex digits."""

    type = String(32)
    inherit_cache = True


@compiles(_NewToken)
def _sqlite_token(element: _NewToken, compiler: Any, **kw: Any) -> str:
    return "lower(hex(randomblob(16)))"


@compiles(_NewToken, "postgresql")
def _postgresql_token(element: _NewToken, compiler: Any, **kw: Any) -> str:
    return "replace(CAST(gen_random_uuid() AS text), '-', '')"


def _lease(model: Any, ids: list[int] | None, until: Any) -> Any:
    """One UPDATE for the batch (the same statement whatever its rows, compiled once): each row
    a token of its own, the due column moved to ``until``, the time it was due kept in
    ``due_at`` (a takeover keeps the first claim's); returns the ids and their tokens. Without
    ``ids``, the caller says which rows."""
    due = getattr(model, model.due_column)
    statement = update(model) if ids is None else update(model).where(model.id.in_(ids))
    return (
        statement
        .values({
            "lease_token": _NewToken(),
            "lease_until": until,
            "due_at": case((model.lease_token.is_(None), due),
                           else_=func.coalesce(model.due_at, due)),
            model.due_column: until,
        })
        .returning(model.id, model.lease_token)
        .execution_options(synchronize_session=False)
    )


def renew(
    session: Session, work: Work, claims: Sequence[tuple[int, str]], until: dt.datetime
) -> set[int]:
    """Extend the leases still held under the given (id, token) claims to ``until``; returns
    the ids still held. A lease that ran out but was not taken over is still held: its token
    is the row's."""
    model = work.model
    held: set[int] = set()
    items = list(claims)
    for start in range(0, len(items), _CHUNK):
        chunk = items[start : start + _CHUNK]
        # Tokens are random and given once: a row holding one of them holds its own.
        statement = (
            update(model)
            .where(model.id.in_([i for i, _ in chunk]),
                   model.lease_token.in_([t for _, t in chunk]))
            .values({"lease_until": until, model.due_column: until})
            .returning(model.id)
            .execution_options(synchronize_session=False)
        )
        held.update(session.scalars(statement))
    return held


def release(session: Session, work: Work, claims: Sequence[tuple[int, str]]) -> None:
    """Give back leases of work that will not be done (a scheduler stopping early): the rows
    are due again when they were due before their claim."""
    model = work.model
    due = getattr(model, model.due_column)
    items = list(claims)
    for start in range(0, len(items), _CHUNK):
        chunk = items[start : start + _CHUNK]
        session.execute(
            update(model)
            .where(model.id.in_([i for i, _ in chunk]),
                   model.lease_token.in_([t for _, t in chunk]))
            .values({"lease_token": None, "lease_until": None, "due_at": None,
                     model.due_column: func.coalesce(model.due_at, due)})
            .execution_options(synchronize_session=False)
        )


class Holder(Protocol):
    """A row locked for writing the result of leased work: a mapped ``Leased`` row, or a plain
    copy of its columns (``db.firststore.LockedArticle``)."""

    due_column: ClassVar[str]
    lease_token: str | None
    lease_until: dt.datetime | None
    due_at: dt.datetime | None


def take(row: Holder | None, token: str | None) -> bool:
    """On a row locked for writing the result: True, and its lease cleared, if ``token`` (None:
    work done without a claim) may still write it; False if the row is gone or another claim
    took it over."""
    if row is None or (token is not None and row.lease_token != token):
        return False
    if row.lease_token is not None and row.due_at is not None:
        # Due when it was before the claim, until the result sets the next due time.
        setattr(row, row.due_column, row.due_at)
    row.lease_token = row.lease_until = row.due_at = None
    return True


def lease_counts(session: Session, work: Work, now: dt.datetime) -> dict[str, int]:
    """Leases ``live`` (renewed in time: the work is queued or running) and ``stranded`` (ran
    out without being renewed or given back: its holder is gone, the next claim takes it
    over)."""
    model = work.model
    statement = select(
        func.count().filter(model.lease_until >= now),
        func.count().filter(model.lease_until < now),
    ).where(model.lease_token.is_not(None))
    live, stranded = session.execute(statement).one()
    return {"live": int(live or 0), "stranded": int(stranded or 0)}
