"""Version metadata stored once per distinct value (``version_meta``), content-addressed.

A version's headline, byline, publication date, language, canonical URL, lead image and
caption and the extractor that read them rarely change from one version to the next (its
modification date does, and stays on the version row), so each distinct combination is stored
once, keyed by the first 63 bits of SHA-256 over the values (as
``db.refs.paragraph_id`` keys a paragraph), and a version refers to it by ``meta_id``. An
existing row with the same key holds the same values: inserting it again is skipped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, Insert, delete, insert, select

from db.models import META_COLUMNS, version_meta_table, versions_table


def meta_id(values: Mapping[str, Any]) -> int:
    """Content address of a metadata row: 63 bits of SHA-256 over its values, in column order
    (a missing key counts as None)."""
    text = json.dumps([values.get(name) for name in META_COLUMNS], ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def split(fields: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the version_meta row, the other fields with its ``meta_id``) of a version's fields
    given with its metadata columns."""
    meta = {name: fields.get(name) for name in META_COLUMNS}
    meta["id"] = meta_id(meta)
    rest = {k: v for k, v in fields.items() if k not in META_COLUMNS}
    return meta, {**rest, "meta_id": meta["id"]}


def insert_meta(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert metadata rows, skipping those already stored (same key, same values)."""
    unique = list({row["id"]: row for row in rows}.values())
    if unique:
        connection.execute(_ignore_existing(connection.dialect.name), unique)


@cache  # one statement per dialect, built once
def _ignore_existing(dialect: str) -> Insert:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(version_meta_table).on_conflict_do_nothing(index_elements=["id"])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(version_meta_table).on_conflict_do_nothing(index_elements=["id"])


def insert_version(connection: Connection, fields: Mapping[str, Any]) -> int:
    """Insert one version given with its metadata columns; its id."""
    return insert_split(connection, *split(fields))


def insert_split(
    connection: Connection, meta: dict[str, Any], version: Mapping[str, Any]
) -> int:
    """Insert one version already split (``split``): its metadata row unless stored, then its
    versions row; the version's id."""
    insert_meta(connection, [meta])
    return int(connection.execute(_INSERT_VERSION, version).scalar_one())


def insert_versions(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert versions given with their metadata columns (and their ids), in one statement."""
    pairs = [split(row) for row in rows]
    insert_meta(connection, [meta for meta, _ in pairs])
    if pairs:
        connection.execute(insert(versions_table), [version for _, version in pairs])


_INSERT_VERSION = insert(versions_table).returning(versions_table.c.id)


def prune(connection: Connection) -> int:
    """Delete the metadata rows no version refers to (after articles were removed)."""
    used = select(versions_table.c.meta_id)
    result = connection.execute(
        delete(version_meta_table).where(version_meta_table.c.id.not_in(used))
    )
    return int(result.rowcount or 0)
