"""Queries of export, backup and import: reads in keyset batches, bulk inserts into an empty
database.

Reads return Core rows, not ORM objects, so a long export keeps no identity map growing with
what it has read. Every read is bounded: ``batch`` rows at a time, ordered by a unique key and
resumed after the last key seen (keyset pagination, the same on SQLite and PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from sqlalchemy import and_, exists, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from db import meta, paragraph_queries, refs
from db.models import (
    META_COLUMNS,
    Article,
    Body,
    Paragraph,
    Version,
    version_meta_table,
    versions_table,
)

BATCH = 500


def snapshot_isolation(session: Session) -> None:
    """Make every later read of ``session`` see one snapshot of the database.

    SQLite already does inside a transaction (WAL); PostgreSQL's default, READ COMMITTED, takes
    a new snapshot per statement, so an export running beside ``tracker run`` could otherwise
    pair a version with paragraphs or a predecessor committed after it."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def articles(session: Session, since: dt.datetime | None = None, batch: int = BATCH
             ) -> Iterator[Any]:
    """Article rows in id order; with ``since``, only those with a version fetched then or
    later. (Other filters are applied by the caller: a list of ids could outgrow the number
    of parameters a statement may have.)"""
    table = Article.__table__
    last = 0
    while True:
        statement = select(table).where(Article.id > last).order_by(Article.id).limit(batch)
        if since is not None:
            statement = statement.where(exists().where(
                Version.article_id == Article.id, Version.fetched_at >= since
            ))
        rows = session.execute(statement).all()
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1].id


def versions(
    session: Session, article_ids: Sequence[int], since: dt.datetime | None = None,
    batch: int = BATCH,
) -> Iterator[Any]:
    """Version rows of the given articles, ordered by article and number."""
    after = (0, 0)
    while True:
        statement = (
            select(*_VERSION_COLUMNS).select_from(Version.__table__)
            .where(Version.article_id.in_(article_ids))
            .where(or_(Version.article_id > after[0],
                       and_(Version.article_id == after[0], Version.number > after[1])))
            .order_by(Version.article_id, Version.number)
            .limit(batch)
        )
        if since is not None:
            statement = statement.where(Version.fetched_at >= since)
        rows = session.execute(statement).all()
        yield from rows
        if len(rows) < batch:
            return
        after = (rows[-1].article_id, rows[-1].number)


# A version's columns with its metadata's, as one row (not the join's key columns).
_VERSION_COLUMNS = (
    *(c for c in versions_table.c if c.name != "meta_id"),
    *(version_meta_table.c[name] for name in META_COLUMNS),
)


def version_row(session: Session, article_id: int, number: int) -> Any | None:
    statement = select(*_VERSION_COLUMNS).select_from(Version.__table__).where(
        Version.article_id == article_id, Version.number == number
    )
    return session.execute(statement).one_or_none()


def paragraph_ids_at(session: Session, article_id: int, number: int) -> list[int]:
    """Paragraph ids of version ``number``, decoded from the nearest key frame at or before it."""
    chain = session.execute(
        select(Version.paragraph_refs)
        .where(Version.article_id == article_id, Version.number <= number)
        .where(Version.number > number - refs.KEYFRAME_EVERY - 1)
        .order_by(Version.number)
    ).scalars().all()
    starts = [i for i, data in enumerate(chain) if refs.is_keyframe(data)]
    if not starts:
        raise ValueError(f"corrupt paragraph reference list: no key frame before version "
                         f"{number} of article {article_id}")
    return refs.decode(chain[starts[-1]:])


def paragraphs(session: Session, ids: Collection[int]) -> dict[int, tuple[str, str]]:
    """(kind, text) of each paragraph id (those stored as edits given their texts)."""
    return paragraph_queries.texts(session, ids)


def body(session: Session, version_id: int) -> Any | None:
    return session.execute(
        select(Body.__table__).where(Body.version_id == version_id)
    ).one_or_none()


# --- import ---------------------------------------------------------------------------------


def is_empty(session: Session) -> bool:
    """No article, version or paragraph stored: a database an import may fill."""
    return not any(
        session.scalar(select(func.count()).select_from(model)) for model in
        (Article, Version, Paragraph)
    )


def insert_articles(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(Article), list(rows))


def insert_versions(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert version rows given with their metadata columns (``db.meta``)."""
    meta.insert_versions(session.connection(), rows)


def insert_new_paragraphs(session: Session, rows: dict[int, tuple[str, str]]) -> int:
    """Insert the paragraphs not stored yet (content-addressed: same id, same content);
    how many were new."""
    ids = list(rows)
    added = 0
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        stored = set(session.scalars(select(Paragraph.id).where(Paragraph.id.in_(chunk))))
        new = [{"id": i, "kind": rows[i][0], "text": rows[i][1]} for i in chunk
               if i not in stored]
        if new:
            session.execute(insert(Paragraph), new)
            added += len(new)
    return added


def set_version_counts(
    session: Session, counts: dict[int, int], changed_at: dict[int, dt.datetime]
) -> None:
    """Each article's number of its latest version and when that version was fetched."""
    if counts:
        session.execute(update(Article), [
            {"id": article_id, "version_count": count, "last_changed_at": changed_at[article_id]}
            for article_id, count in counts.items()
        ])


def reset_id_sequences(session: Session) -> None:
    """After inserting explicit ids on PostgreSQL, move the id sequences past them (SQLite
    takes max(id) + 1 by itself)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in ("articles", "versions"):
        session.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - fixed names
            f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        ))
