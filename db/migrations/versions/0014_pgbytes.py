"""content hashes as 16 bytes, events' data deflated against a dictionary, events' source and
version unique indexes only over the rows that have one, checks.version_id without its foreign
key and index

Revision ID: 0014_pgbytes
Revises: 0013_paradelta
Create Date: 2026-12-07 03:40:00

Every version stored paid 33 bytes for its content hash (32 hex digits) and about 70 for its
event's JSON data on PostgreSQL, which compresses no value that short. From this revision a
hash is stored as its 16 bytes (``db.models.ContentHash``) and an event's data as compact JSON
deflated against a preset dictionary (``db.models.EventData``; both ``db.compact``): on
SQLite under the declared types they had (VARCHAR(32), JSON), on PostgreSQL in BYTEA
columns. ``uq_events_source_id_seq`` and ``uq_events_version_id_type`` become unique indexes
over the events that have a source, a version (``WHERE … IS NOT NULL``): the same rows are
refused (NULLs were never equal), without an entry for every article event's NULL source. On
SQLite the events table is rebuilt to drop the two table constraints. ``checks.version_id``
loses its foreign key and ``ix_checks_version_id``: no query looks checks up by version, and
a version is deleted only with its article, after the article's checks
(``db.queries.delete_article``), so the key's ON DELETE SET NULL, the index's only user, never
had a row to change (on SQLite the checks table is rebuilt). Stored diffs of format 2 are
stored in format 3 (``db.diffdata``: the same JSON deflated against a dictionary).

Every value reads back as it was; the downgrade writes them back as text and JSON and gives
the constraints back.
"""

import json
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from db import compact, diffdata, jsontext

revision: str = "0014_pgbytes"
down_revision: str | None = "0013_paradelta"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 500
# (name, columns, the condition of the partial index)
_UNIQUE = (("uq_events_source_id_seq", ["source_id", "seq"], "source_id IS NOT NULL"),
           ("uq_events_version_id_type", ["version_id", "type"], "version_id IS NOT NULL"))


# checks.version_id's foreign key and the partial index its ON DELETE action needed
_CHECKS_KEY, _CHECKS_INDEX = "fk_checks_version_id_versions", "ix_checks_version_id"
_STORED = "version_id IS NOT NULL"


def upgrade() -> None:
    connection = op.get_bind()
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _convert(connection, "versions", "content_hash", "text", compact.hash_bytes)
        _convert(connection, "events", "data", "text", lambda v: compact.pack_data(json.loads(v)))
        with op.batch_alter_table("events", recreate="always") as batch:
            for name, _, _ in _UNIQUE:
                batch.drop_constraint(name, type_="unique")
        _create_partial_indexes()
    else:
        op.alter_column("versions", "content_hash", existing_type=sa.String(32),
                        type_=sa.LargeBinary(), existing_nullable=False,
                        postgresql_using=_PG_HASH_BYTES)  # fmt: skip
        # The indexes before the events' rows are rewritten and updated: an index built over
        # the dead rows of those updates would be left out of plans while an older snapshot
        # lives (pg_index.indcheckxmin).
        for name, _, _ in _UNIQUE:
            op.drop_constraint(name, "events", type_="unique")
        _create_partial_indexes()
        op.alter_column("events", "data", existing_type=sa.JSON(), type_=sa.LargeBinary(),
                        existing_nullable=False,
                        postgresql_using="convert_to(data::text, 'UTF8')")  # fmt: skip
        _repack_pg_data(connection, pack=True)
    op.drop_index(_CHECKS_INDEX, "checks")
    with op.batch_alter_table("checks", recreate="always" if sqlite else "auto") as batch:
        batch.drop_constraint(_CHECKS_KEY, type_="foreignkey")
    _convert_diffs(connection, diffdata.FORMAT_3)


def _create_partial_indexes() -> None:
    for name, columns, where in _UNIQUE:
        op.create_index(name, "events", columns, unique=True, sqlite_where=sa.text(where),
                        postgresql_where=sa.text(where))


def downgrade() -> None:
    connection = op.get_bind()
    sqlite = connection.dialect.name == "sqlite"
    _convert_diffs(connection, diffdata.FORMAT_2)
    # a version deleted since is no longer the key's to refer to
    op.execute("UPDATE checks SET version_id = NULL WHERE version_id IS NOT NULL AND "
               "version_id NOT IN (SELECT id FROM versions)")
    with op.batch_alter_table("checks", recreate="always" if sqlite else "auto") as batch:
        batch.create_foreign_key(_CHECKS_KEY, "versions", ["version_id"], ["id"],
                                 ondelete="SET NULL")
    op.create_index(_CHECKS_INDEX, "checks", ["version_id"], sqlite_where=sa.text(_STORED),
                    postgresql_where=sa.text(_STORED))
    for name, _, _ in _UNIQUE:
        op.drop_index(name, "events")
    if sqlite:
        _convert(connection, "versions", "content_hash", "blob",
                 lambda v: compact.hash_text(bytes(v)))
        _convert(connection, "events", "data", "blob",
                 lambda v: jsontext.dumps(compact.unpack_data(bytes(v))))
        with op.batch_alter_table("events", recreate="always") as batch:
            for name, columns, _ in _UNIQUE:
                batch.create_unique_constraint(name, columns)
        return
    op.alter_column("versions", "content_hash", existing_type=sa.LargeBinary(),
                    type_=sa.String(32), existing_nullable=False,
                    postgresql_using=_PG_HASH_TEXT)  # fmt: skip
    _repack_pg_data(connection, pack=False)
    op.alter_column("events", "data", existing_type=sa.LargeBinary(), type_=sa.JSON(),
                    existing_nullable=False,
                    postgresql_using="convert_from(data, 'UTF8')::json")  # fmt: skip
    for name, columns, _ in _UNIQUE:
        op.create_unique_constraint(name, "events", columns)


# PostgreSQL: a content hash as db.compact.hash_bytes stores it, and back.
_PG_HASH_BYTES = (
    "CASE WHEN content_hash ~ '^[0-9a-f]{32}$' THEN decode(content_hash, 'hex') "
    "WHEN octet_length(content_hash) = 15 THEN '\\xffff'::bytea || convert_to(content_hash, "
    "'UTF8') ELSE '\\xff'::bytea || convert_to(content_hash, 'UTF8') END"
)
_PG_HASH_TEXT = (
    "CASE WHEN octet_length(content_hash) = 16 THEN encode(content_hash, 'hex') "
    "ELSE convert_from(ltrim(content_hash, '\\xff'::bytea), 'UTF8') END"
)


def _convert(connection: sa.Connection, table: str, column: str, stored: str,
             converted: Callable[[Any], Any]) -> None:  # fmt: skip
    """On SQLite, every value of ``table.column`` stored as ``stored`` (its ``typeof``) as
    ``converted`` gives it, in batches of rows by id."""
    select = sa.text(f"SELECT id, {column} FROM {table} "  # noqa: S608 - fixed names
                     f"WHERE typeof({column}) = '{stored}' AND id > :after "
                     f"ORDER BY id LIMIT {_BATCH}")
    update = sa.text(f"UPDATE {table} SET {column} = :value WHERE id = :id")  # noqa: S608
    after = -1
    while rows := connection.execute(select, {"after": after}).all():
        connection.execute(update, [{"id": key, "value": converted(value)}
                                    for key, value in rows])  # fmt: skip
        after = rows[-1][0]


def _repack_pg_data(connection: sa.Connection, *, pack: bool) -> None:
    """On PostgreSQL (the column is BYTEA), every event's data deflated (``pack``) from its
    JSON text's bytes, or back."""
    select = sa.text(f"SELECT id, data FROM events WHERE id > :after "  # noqa: S608
                     f"ORDER BY id LIMIT {_BATCH}")
    update = sa.text("UPDATE events SET data = :value WHERE id = :id")
    after = -1
    while rows := connection.execute(select, {"after": after}).all():
        values = []
        for key, data in rows:
            value = compact.unpack_data(bytes(data))
            values.append({"id": key, "value": compact.pack_data(value) if pack else
                           jsontext.dumps(value).encode()})  # fmt: skip
        connection.execute(update, values)
        after = rows[-1][0]


def _convert_diffs(connection: sa.Connection, format_: bytes) -> None:
    """Every stored diff of format 2 or 3 (``db.diffdata``) in ``format_``: the same JSON,
    deflated with or without format 3's dictionary."""
    select = sa.text(f"SELECT version_id, data FROM version_diffs WHERE version_id > :after "
                     f"ORDER BY version_id LIMIT {_BATCH}")
    update = sa.text("UPDATE version_diffs SET data = :data WHERE version_id = :id")
    after = -1
    while rows := connection.execute(select, {"after": after}).all():
        changed = [{"id": key, "data": diffdata.as_format(bytes(data), format_)}
                   for key, data in rows if bytes(data)[:1] != format_]  # fmt: skip
        if changed:
            connection.execute(update, changed)
        after = rows[-1][0]
