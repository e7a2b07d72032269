"""Stored diffs (``version_diffs``): each version's diff against the version before it, written
once with the version and read by every reader of a change.

The diff arrives and leaves as its JSON form (a mapping), stored by ``db.diffdata`` (read
against the new version's paragraph texts), so nothing in this module knows what a diff holds
beyond its ``summary`` counts, kept in a column of their own so that a list of versions
decompresses nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, column, insert, inspect, select, table, update
from sqlalchemy.orm import Session

from db import paragraph_queries, refs
from db.diffdata import FORMAT_2, FORMAT_3, summary_counts, summary_row
from db.diffdata import pack as pack
from db.diffdata import unpack as unpack
from db.models import Check, Version, VersionDiff, versions_table


@dataclass(frozen=True, slots=True)
class StoredDiff:
    """A version's stored diff, decoded: the JSON form and the ``minor`` flag."""

    data: dict[str, Any]
    minor: bool


def refold(connection: Connection, *, fold: bool) -> int:
    """Store every stored diff of format 1 folded (``fold``) or as plain JSON (migration
    0011_meta and its downgrade, for the code of before it); how many rows, 500 at a time.
    Diffs of format 2 (``db.diffdata``; written by migration 0007's fill with this code) are
    folded already, and made format 1 again by the downgrade of 0012_storage."""
    last, count = 0, 0
    while True:
        rows = connection.execute(
            select(VersionDiff.version_id, VersionDiff.data).where(VersionDiff.version_id > last)
            .order_by(VersionDiff.version_id).limit(500)
        ).all()
        if not rows:
            return count
        for version_id, data in rows:
            if data[:1] in (FORMAT_2, FORMAT_3):
                continue
            connection.execute(
                update(VersionDiff).where(VersionDiff.version_id == version_id)
                .values(data=pack(unpack(data), fold=fold))
            )
        count += len(rows)
        last = rows[-1].version_id


def repack(connection: Connection, *, counted: bool, batch: int = 100) -> int:
    """Store every stored diff again: in format 2 with its summary as a list (``counted``,
    migration 0012_storage), or in format 1 with its summary as a mapping (its downgrade, for
    the code of before it); how many rows. A batch of articles at a time, each article's
    paragraphs read once (format 2 is read against the new version's paragraph texts)."""
    versions = versions_table.c
    articles = list(connection.scalars(
        select(versions.article_id).distinct()
        .join(VersionDiff, VersionDiff.version_id == versions.id).order_by(versions.article_id)
    ))  # fmt: skip
    count = 0
    for start in range(0, len(articles), batch):
        rows = history(connection, articles[start : start + batch])
        for _, article in itertools.groupby(rows, key=lambda v: v.article_id):
            count += _repack_article(connection, list(article), counted=counted)
    return count


def _repack_article(connection: Connection, versions: list[Row[Any]], *, counted: bool) -> int:
    stored = [(v.id, ids) for v, ids in zip(versions, paragraph_ids(versions), strict=True)
              if v.stored]  # fmt: skip
    texts = paragraph_texts(connection, (i for _, ids in stored for i in ids))
    for version_id, ids in stored:
        new_texts = [texts[i] for i in ids]
        data = connection.execute(
            select(VersionDiff.data).where(VersionDiff.version_id == version_id)).scalar_one()
        diff = unpack(data, new_texts)
        connection.execute(
            update(VersionDiff).where(VersionDiff.version_id == version_id).values(
                data=pack(diff, new_texts=new_texts if counted else None),
                summary=summary_row(diff["summary"]) if counted else diff["summary"],
            )
        )
    return len(stored)


def row(
    version_id: int, diff: Mapping[str, Any], new_texts: Sequence[str], *, minor: bool
) -> dict[str, Any]:
    """The ``version_diffs`` row of a diff (for ``store_diff`` and bulk inserts);
    ``new_texts``: the version's paragraph texts."""
    return {"version_id": version_id, "minor": minor, "summary": summary_row(diff["summary"]),
            "data": pack(diff, new_texts=new_texts)}


def store_diff(
    session: Session, version_id: int, diff: Mapping[str, Any], new_texts: Sequence[str], *,
    minor: bool,
) -> None:
    """Store the diff of version ``version_id`` against its predecessor (once: the version id
    is the key, so a second write of the same version fails)."""
    session.add(VersionDiff(**row(version_id, diff, new_texts, minor=minor)))


def insert_packed(
    session: Session, version_id: int, summary: Mapping[str, int], data: bytes, *, minor: bool
) -> None:
    """``store_diff`` of a diff packed beforehand (``pack``), as one Core statement."""
    session.connection().execute(_INSERT, {"version_id": version_id, "minor": minor,
                                           "summary": summary_row(summary), "data": data})


_INSERT = insert(VersionDiff)


def insert_rows(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk insert of ``row`` values (the migration that fills the table)."""
    if rows:
        connection.execute(insert(VersionDiff), list(rows))


def diff_of(session: Session, version_id: int, new_texts: Sequence[str]) -> StoredDiff | None:
    """The stored diff of a version against its predecessor, if one is stored (read against
    the version's paragraph texts, ``new_texts``)."""
    found = session.execute(
        select(VersionDiff.data, VersionDiff.minor).where(VersionDiff.version_id == version_id)
    ).first()
    return StoredDiff(unpack(found.data, new_texts), bool(found.minor)) if found else None


def summaries(session: Session, article_id: int) -> dict[int, dict[str, int]]:
    """Version number → the summary counts of its stored diff, for one article."""
    rows = session.execute(
        select(Version.number, VersionDiff.summary)
        .join(VersionDiff, VersionDiff.version_id == Version.id)
        .where(Version.article_id == article_id)
    )
    return {number: summary_counts(summary) for number, summary in rows}


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
    """The text of each paragraph id wanted (``db.paragraph_queries``)."""
    found = paragraph_queries.texts(connection, wanted,
                                    with_edits=paragraph_queries.has_edits(connection))
    return {key: text for key, (_, text) in found.items()}


def minor_from_checks(connection: Connection) -> set[int]:
    """Ids of the versions whose check recorded the outcome "minor" (before version_diffs
    kept the flag)."""
    statement = select(Check.version_id).where(Check.outcome == "minor",
                                               Check.version_id.is_not(None))
    return {version_id for version_id in connection.scalars(statement) if version_id is not None}
