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

from sqlalchemy import Connection, Row, column, insert, inspect, select, table, update
from sqlalchemy.orm import Session

from db import refs
from db.models import Check, Paragraph, Version, VersionDiff, versions_table

# zlib level: diffs are small and written on the check's path; 6 is zlib's default balance.
_LEVEL = 6


@dataclass(frozen=True, slots=True)
class StoredDiff:
    """A version's stored diff, decoded: the JSON form and the ``minor`` flag."""

    data: dict[str, Any]
    minor: bool


def pack(diff: Mapping[str, Any]) -> bytes:
    """The stored bytes of a diff's JSON form (its runs of unchanged paragraphs folded)."""
    text = json.dumps(fold_equal(diff), ensure_ascii=False, separators=(",", ":"))
    return zlib.compress(text.encode("utf-8"), _LEVEL)


def unpack(data: bytes) -> dict[str, Any]:
    """The JSON form of a stored diff, as it was given to ``pack``."""
    found = json.loads(zlib.decompress(data).decode("utf-8"))
    if not isinstance(found, dict):
        raise ValueError("a stored diff is not a JSON object")
    return unfold_equal(found)


# --- runs of unchanged paragraphs, folded ------------------------------------------------------
# Most of a diff's operations say that paragraph i is unchanged as paragraph j, one object
# each ({"op": "equal", "old": [i], "new": [j]}); stored, consecutive ones are folded into one
# array [i, j, count] in the list of operations (objects are every other operation), which
# makes the stored diffs about a sixth smaller after compression. Diffs stored before
# (migration 0011_meta folds them) hold no array and read the same.


def fold_equal(diff: Mapping[str, Any]) -> dict[str, Any]:
    """``diff`` with each run of consecutive single-paragraph equal operations as one
    [old, new, count] array."""
    ops: list[Any] = []
    for op in diff.get("ops", ()):
        if _single_equal(op):
            old, new = op["old"][0], op["new"][0]
            last = ops[-1] if ops else None
            if isinstance(last, list) and last[0] + last[2] == old and last[1] + last[2] == new:
                last[2] += 1
                continue
            ops.append([old, new, 1])
        else:
            ops.append(op)
    return {**diff, "ops": ops} if "ops" in diff else dict(diff)


def unfold_equal(diff: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of ``fold_equal``."""
    if "ops" not in diff or not any(isinstance(op, list) for op in diff["ops"]):
        return dict(diff)
    ops: list[Any] = []
    for op in diff["ops"]:
        if isinstance(op, list):
            old, new, count = op
            ops += [{"op": "equal", "old": [old + k], "new": [new + k]} for k in range(count)]
        else:
            ops.append(op)
    return {**diff, "ops": ops}


def _single_equal(op: Any) -> bool:
    return (isinstance(op, dict) and op.keys() == {"op", "old", "new"} and op["op"] == "equal"
            and len(op["old"]) == 1 and len(op["new"]) == 1)


def refold(connection: Connection, *, fold: bool) -> int:
    """Store every stored diff folded (``fold``) or as plain JSON (migration 0011_meta and its
    downgrade, for the code of before it); how many rows, 500 at a time."""
    last, count = 0, 0
    while True:
        rows = connection.execute(
            select(VersionDiff.version_id, VersionDiff.data).where(VersionDiff.version_id > last)
            .order_by(VersionDiff.version_id).limit(500)
        ).all()
        if not rows:
            return count
        for version_id, data in rows:
            plain = unpack(data)
            stored = fold_equal(plain) if fold else plain
            text = json.dumps(stored, ensure_ascii=False, separators=(",", ":"))
            connection.execute(
                update(VersionDiff).where(VersionDiff.version_id == version_id)
                .values(data=zlib.compress(text.encode("utf-8"), _LEVEL))
            )
        count += len(rows)
        last = rows[-1].version_id


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


def insert_packed(
    session: Session, version_id: int, summary: Mapping[str, int], data: bytes, *, minor: bool
) -> None:
    """``store_diff`` of a diff packed beforehand (``pack``), as one Core statement."""
    session.connection().execute(_INSERT, {"version_id": version_id, "minor": minor,
                                           "summary": dict(summary), "data": data})


_INSERT = insert(VersionDiff)


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


# --- filling in the diffs of versions stored without one (migration 0007, tracker import) ------

# The metadata columns of a version, in the order of tracker.document.Metadata (the diff lists
# changed fields in the old version's order).
METADATA = ("title", "byline", "published", "updated", "language", "canonical_url",
            "lead_image", "lead_caption")


def articles_missing_diffs(connection: Connection) -> list[int]:
    """Ids of the articles with a version after the first that has no stored diff."""
    versions = versions_table.c  # not the join: migration 0007 runs this too
    statement = (
        select(versions.article_id).distinct()
        .outerjoin(VersionDiff, VersionDiff.version_id == versions.id)
        .where(versions.number > 1, VersionDiff.version_id.is_(None))
        .order_by(versions.article_id)
    )
    return list(connection.scalars(statement))


def history(connection: Connection, article_ids: Sequence[int]) -> list[Row[Any]]:
    """The versions of the given articles by article and number: id, article_id, number,
    paragraph_refs, the metadata columns and ``stored`` (whether a diff is stored)."""
    versions: Any = Version
    if not inspect(connection).has_table("version_meta"):
        # Migration 0007 runs this on the schema of its time: the metadata on the versions row
        names = ("id", "article_id", "number", "paragraph_refs", *METADATA)
        versions = table("versions", *(column(name) for name in names)).c
    columns = [getattr(versions, name) for name in METADATA]
    statement = (
        select(versions.id, versions.article_id, versions.number, versions.paragraph_refs,
               *columns, VersionDiff.version_id.is_not(None).label("stored"))
        .outerjoin(VersionDiff, VersionDiff.version_id == versions.id)
        .where(versions.article_id.in_(article_ids))
        .order_by(versions.article_id, versions.number)
    )
    return list(connection.execute(statement))


def paragraph_ids(versions: Sequence[Row[Any]]) -> list[list[int]]:
    """The paragraph ids of each of one article's consecutive versions (``history`` rows from
    its first version on), each decoded from the one before (``db.refs``)."""
    ids: list[list[int]] = []
    for version in versions:
        data = version.paragraph_refs
        ids.append(refs.decode([data]) if refs.is_keyframe(data) else refs.advance(ids[-1], data))
    return ids


def paragraph_texts(connection: Connection, wanted: Iterable[int]) -> dict[int, str]:
    """The text of each paragraph id wanted, 500 ids a query."""
    found: dict[int, str] = {}
    ordered = sorted(set(wanted))
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        found.update((row.id, row.text) for row in connection.execute(
            select(Paragraph.id, Paragraph.text).where(Paragraph.id.in_(chunk))
        ))
    return found


def minor_from_checks(connection: Connection) -> set[int]:
    """Ids of the versions whose check recorded the outcome "minor" (before version_diffs
    kept the flag)."""
    statement = select(Check.version_id).where(Check.outcome == "minor",
                                               Check.version_id.is_not(None))
    return {version_id for version_id in connection.scalars(statement) if version_id is not None}
