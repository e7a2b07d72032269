"""Paragraph texts read through SQLAlchemy (a Session or a Connection): the rows of
``db.edits.resolve``, ``CHUNK`` ids a query, the bases of the edits among them in one more
round. Every SQLAlchemy reader of paragraph text comes here (``db.reads`` runs the same
resolver on its own driver)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import BindParameter, Connection, bindparam, inspect, null, select
from sqlalchemy.orm import Session

from db import edits
from db.models import Paragraph

CHUNK = 500

# Built once, the ids an expanding parameter: a read's two rounds compile nothing.
_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
_ROWS = (select(Paragraph.id, Paragraph.kind, Paragraph.text, Paragraph.base_id, Paragraph.delta)
         .where(Paragraph.id.in_(_IDS)))
_PLAIN_ROWS = (select(Paragraph.id, Paragraph.kind, Paragraph.text, null(), null())
               .where(Paragraph.id.in_(_IDS)))


def resolved(
    executor: Session | Connection, ids: Iterable[int], *, with_edits: bool = True
) -> edits.Resolved:
    """The texts of the stored paragraphs among ``ids``, and what an edit of each would be
    made against (``db.edits.Resolved``)."""
    return edits.resolve(ids, lambda wanted: rows(executor, wanted, edits=with_edits))


def texts(
    executor: Session | Connection, ids: Iterable[int], *, with_edits: bool = True
) -> dict[int, tuple[str, str]]:
    """id → (kind, text) of the stored paragraphs among ``ids``."""
    return resolved(executor, ids, with_edits=with_edits).texts


def rows(executor: Session | Connection, ids: Sequence[int], *, edits: bool = True) -> list[Any]:
    """The stored rows (id, kind, text, base_id, delta) of ``ids`` (``edits`` False: a schema
    before migration 0013_paradelta, every text whole)."""
    statement = _ROWS if edits else _PLAIN_ROWS
    found: list[Any] = []
    for start in range(0, len(ids), CHUNK):
        found += executor.execute(statement, {"ids": list(ids[start : start + CHUNK])})
    return found


def has_edits(connection: Connection) -> bool:
    """Whether the database's paragraphs may be edits (migration 0013_paradelta is applied):
    for the data migrations before it, which read paragraph texts through here too."""
    return "delta" in {column["name"] for column in inspect(connection).get_columns("paragraphs")}
