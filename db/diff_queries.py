"""Stored diffs (``version_diffs``): each version's diff against the version before it, written
once with the version and read by every reader of a change.

The diff arrives and leaves as its JSON form (a mapping); here it is only compressed JSON, so
nothing in this module knows what a diff holds beyond its ``summary`` counts, kept in a column
of their own so that a list of versions decompresses nothing.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from db.models import Version, VersionDiff

# zlib level: diffs are small and written on the check's path; 6 is zlib's default balance.
_LEVEL = 6


@dataclass(frozen=True, slots=True)
class StoredDiff:
    """A version's stored diff, decoded: the JSON form and the ``minor`` flag."""

    data: dict[str, Any]
    minor: bool


def pack(diff: Mapping[str, Any]) -> bytes:
    """The stored bytes of a diff's JSON form."""
    text = json.dumps(diff, ensure_ascii=False, separators=(",", ":"))
    return zlib.compress(text.encode("utf-8"), _LEVEL)


def unpack(data: bytes) -> dict[str, Any]:
    found = json.loads(zlib.decompress(data).decode("utf-8"))
    if not isinstance(found, dict):
        raise ValueError("a stored diff is not a JSON object")
    return found


def row(version_id: int, diff: Mapping[str, Any], *, minor: bool) -> dict[str, Any]:
    """The ``version_diffs`` row of a diff (for ``store_diff`` and bulk inserts)."""
    return {"version_id": version_id, "minor": minor, "summary": dict(diff["summary"]),
            "data": pack(diff)}


def store_diff(
    session: Session, version_id: int, diff: Mapping[str, Any], *, minor: bool
) -> None:
    """Store the diff of version ``version_id`` against its predecessor (once: the version id
    is the key, so a second write of the same version fails)."""
    session.add(VersionDiff(**row(version_id, diff, minor=minor)))


def insert_rows(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk insert of ``row`` values (the migration that fills the table)."""
    if rows:
        connection.execute(insert(VersionDiff), list(rows))


def diff_of(session: Session, version_id: int) -> StoredDiff | None:
    """The stored diff of a version against its predecessor, if one is stored."""
    found = session.execute(
        select(VersionDiff.data, VersionDiff.minor).where(VersionDiff.version_id == version_id)
    ).first()
    return StoredDiff(unpack(found.data), bool(found.minor)) if found else None


def summaries(session: Session, article_id: int) -> dict[int, dict[str, int]]:
    """Version number → the summary counts of its stored diff, for one article."""
    rows = session.execute(
        select(Version.number, VersionDiff.summary)
        .join(VersionDiff, VersionDiff.version_id == Version.id)
        .where(Version.article_id == article_id)
    )
    return {number: dict(summary) for number, summary in rows}


def minor_ids(session: Session, version_ids: Iterable[int]) -> set[int]:
    """Those of the given versions stored as minor changes."""
    wanted = sorted(set(version_ids))
    found: set[int] = set()
    for start in range(0, len(wanted), 500):
        found.update(session.scalars(
            select(VersionDiff.version_id).where(
                VersionDiff.version_id.in_(wanted[start : start + 500]), VersionDiff.minor
            )
        ))
    return found
