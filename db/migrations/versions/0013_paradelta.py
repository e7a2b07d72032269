"""a paragraph may be stored as an edit of another (base_id + delta, no text); on SQLite the
content-addressed keys of paragraphs and version_meta are the rowid

Revision ID: 0013_paradelta
Revises: 0012_storage
Create Date: 2026-12-07 00:30:00

``paragraphs`` gains ``base_id`` and ``delta`` and its ``text`` may be NULL (``db.edits``).
The paragraphs stored before stay as they are (whole texts, which every reader reads as
before): only versions stored from now on store their edited paragraphs as edits. On SQLite
both content-addressed tables are rebuilt with ``id INTEGER PRIMARY KEY``, the rowid itself,
which drops the second index their BIGINT key needed (``sqlite_autoindex_*``), and the times
of ``COMPACT_TIMES`` are stored as integer microseconds instead of 26 characters of text
(``db.models.CompactUTCDateTime``; the declared type stays DATETIME). The downgrade writes
them back as text. Events' ids (``"evt_"`` and 24 hex digits) are stored as their bytes
(``db.models.EventUid``): on SQLite under the same declared type, on PostgreSQL in a BYTEA
column; every event keeps its id, and the downgrade writes them back as text.

The downgrade gives every edit its full text back (through the one resolver, which checks
each text against its id) before the columns go.
"""

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from db import edits, epoch
from db.models import uid_bytes, uid_text

revision: str = "0013_paradelta"
down_revision: str | None = "0012_storage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 500


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("paragraphs", recreate="always" if sqlite else "auto") as batch:
        if sqlite:
            batch.alter_column("id", existing_type=sa.BigInteger(), type_=sa.Integer(),
                               existing_nullable=False, autoincrement=False)
        batch.alter_column("text", existing_type=sa.Text(), nullable=True)
        batch.add_column(sa.Column("base_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("delta", sa.LargeBinary(), nullable=True))
    if sqlite:
        with op.batch_alter_table("version_meta", recreate="always") as batch:
            batch.alter_column("id", existing_type=sa.BigInteger(), type_=sa.Integer(),
                               existing_nullable=False, autoincrement=False)
        _convert_times(op.get_bind(), compact=True)
        _convert_uids(op.get_bind(), packed=True)
    else:
        op.alter_column("events", "uid", existing_type=sa.String(40), type_=sa.LargeBinary(),
                        existing_nullable=False, postgresql_using=_PG_PACKED)


def downgrade() -> None:
    connection = op.get_bind()
    sqlite = connection.dialect.name == "sqlite"
    _write_full_texts(connection)
    if sqlite:
        _convert_times(connection, compact=False)
        _convert_uids(connection, packed=False)
    else:
        op.alter_column("events", "uid", existing_type=sa.LargeBinary(), type_=sa.String(40),
                        existing_nullable=False, postgresql_using=_PG_TEXT)
    with op.batch_alter_table("paragraphs", recreate="always" if sqlite else "auto") as batch:
        batch.drop_column("delta")
        batch.drop_column("base_id")
        batch.alter_column("text", existing_type=sa.Text(), nullable=False)
        if sqlite:
            batch.alter_column("id", existing_type=sa.Integer(), type_=sa.BigInteger(),
                               existing_nullable=False, autoincrement=False)
    if sqlite:
        with op.batch_alter_table("version_meta", recreate="always") as batch:
            batch.alter_column("id", existing_type=sa.Integer(), type_=sa.BigInteger(),
                               existing_nullable=False, autoincrement=False)


def _write_full_texts(connection: sa.Connection) -> None:
    """Store every paragraph stored as an edit with its text instead."""
    ids = list(connection.scalars(sa.text("SELECT id FROM paragraphs WHERE text IS NULL")))
    update = sa.text("UPDATE paragraphs SET text = :text, base_id = NULL, delta = NULL "
                     "WHERE id = :id")
    for start in range(0, len(ids), _BATCH):
        resolved = edits.resolve(ids[start : start + _BATCH], lambda wanted: _rows(connection,
                                                                                   wanted))
        missing = set(ids[start : start + _BATCH]) - resolved.texts.keys()
        if missing:
            raise edits.CorruptParagraph(f"paragraphs {sorted(missing)[:5]} vanished")
        connection.execute(update, [{"id": key, "text": text} for key, (_, text) in
                                    resolved.texts.items()])  # fmt: skip


def _rows(connection: sa.Connection, ids: Sequence[int]) -> list[Any]:
    statement = sa.text("SELECT id, kind, text, base_id, delta FROM paragraphs "
                        "WHERE id IN :ids").bindparams(sa.bindparam("ids", expanding=True))
    found: list[Any] = []
    for start in range(0, len(ids), _BATCH):
        found += connection.execute(statement, {"ids": list(ids[start : start + _BATCH])}).all()
    return found


# The times SQLite stores as integer microseconds from this revision on
# (db.models.CompactUTCDateTime): (table, column).
COMPACT_TIMES = (("checks", "started_at"), ("versions", "fetched_at"), ("events", "created_at"))


def _convert_times(connection: sa.Connection, *, compact: bool) -> None:
    """On SQLite, every ``COMPACT_TIMES`` value as integer microseconds (``compact``), or
    back as the text ``UTCDateTime`` writes, in batches of rows by id."""
    stored = "text" if compact else "integer"
    for table, column in COMPACT_TIMES:
        select = sa.text(f"SELECT id, {column} FROM {table} "  # noqa: S608 - fixed names
                         f"WHERE typeof({column}) = '{stored}' AND id > :after "
                         f"ORDER BY id LIMIT {_BATCH}")
        update = sa.text(f"UPDATE {table} SET {column} = :value WHERE id = :id")  # noqa: S608
        after = -1
        while rows := connection.execute(select, {"after": after}).all():
            connection.execute(update, [{"id": key, "value": _converted(value, compact=compact)}
                                        for key, value in rows])
            after = rows[-1][0]


def _converted(value: Any, *, compact: bool) -> Any:
    if compact:
        return epoch.micros(dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC))
    return epoch.from_micros(value).strftime("%Y-%m-%d %H:%M:%S.%f")


# PostgreSQL: an event id as db.models.uid_bytes stores it, and back.
_PG_PACKED = ("CASE WHEN uid ~ '^evt_[0-9a-f]{24}$' "
              "THEN '\\x01'::bytea || decode(substr(uid, 5), 'hex') "
              "ELSE '\\x00'::bytea || convert_to(uid, 'UTF8') END")
_PG_TEXT = ("CASE WHEN get_byte(uid, 0) = 1 THEN 'evt_' || encode(substring(uid from 2), 'hex') "
            "ELSE convert_from(substring(uid from 2), 'UTF8') END")


def _convert_uids(connection: sa.Connection, *, packed: bool) -> None:
    """On SQLite, every event id as its bytes (``packed``) or back as text."""
    stored = "text" if packed else "blob"
    select = sa.text(f"SELECT id, uid FROM events WHERE typeof(uid) = '{stored}' "  # noqa: S608
                     f"AND id > :after ORDER BY id LIMIT {_BATCH}")
    update = sa.text("UPDATE events SET uid = :uid WHERE id = :id")
    after = -1
    while rows := connection.execute(select, {"after": after}).all():
        connection.execute(update, [
            {"id": key, "uid": uid_bytes(uid) if packed else uid_text(bytes(uid))}
            for key, uid in rows])
        after = rows[-1][0]
