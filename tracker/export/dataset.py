"""The export as a stream of rows: articles, their versions, and each version's changes.

Memory does not grow with the number of versions: articles are read ``BATCH`` at a time,
their versions in keyset batches, and each version's paragraph list is rebuilt from the one
before it (``db.refs`` deltas), so only the previous version of the current article and a
batch of rows are held. Paragraph texts are fetched for the ids a batch does not already hold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from db import diff_queries, export_queries, refs
from tracker.diff import diff_documents
from tracker.document import Metadata

# Which rows are exported: the articles named (by id) and/or tagged, versions fetched since.


@dataclass(frozen=True, slots=True)
class Selection:
    article_ids: frozenset[int] | None = None  # None: every article
    tags: frozenset[str] = frozenset()  # any of them; empty: no tag filter
    since: dt.datetime | None = None

    def wants(self, article: Any) -> bool:
        if self.article_ids is not None and article.id not in self.article_ids:
            return False
        return not self.tags or bool(self.tags & set(article.tags or ()))


@dataclass(slots=True)
class Snapshot:
    """One stored version as read back: its row, paragraph ids, kinds and texts."""

    row: Any
    ids: list[int]
    kinds: list[str]
    texts: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)


def _diff_of(session: Session, before: Snapshot | None, after: Snapshot) -> dict[str, Any] | None:
    """The diff of ``after`` against its predecessor ``before`` (None: nothing to compare:
    the first version, a new baseline, or a predecessor that is not stored).

    The one place the export obtains a diff, in the JSON shape of ``tracker diff --format
    json``: the version's stored diff, or (a version stored without one) computed from the
    stored paragraphs."""
    if before is None or after.row.rebaseline:
        return None
    if before.row.number == after.row.number - 1:
        stored = diff_queries.diff_of(session, after.row.id, after.texts)
        if stored is not None:
            return stored.data
    return diff_documents(before.texts, after.texts, before.metadata, after.metadata).to_json()


def rows(session: Session, selection: Selection) -> Iterator[tuple[str, dict[str, Any]]]:
    """("articles" | "versions" | "changes", row) in a fixed order: a batch of articles,
    then the versions of those articles, each followed by its changes."""
    for batch in article_batches(session, selection):
        yield from _batch_rows(session, batch, selection.since)


def article_batches(session: Session, selection: Selection) -> Iterator[list[Any]]:
    """The selected article rows, ``BATCH`` at a time, in id order."""
    batch: list[Any] = []
    for article in export_queries.articles(session, selection.since):
        if selection.wants(article):
            batch.append(article)
        if len(batch) == export_queries.BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _batch_rows(
    session: Session, articles: list[Any], since: dt.datetime | None
) -> Iterator[tuple[str, dict[str, Any]]]:
    urls = {a.id: a.url for a in articles}
    for article in articles:
        yield "articles", article_row(article)
    previous: Snapshot | None = None
    for snapshot in _snapshots(session, list(urls), since):
        row = snapshot.row
        if previous is not None and (previous.row.article_id, previous.row.number) != (
            row.article_id, row.number - 1
        ):
            previous = None
        if previous is None and row.number > 1:
            previous = _predecessor(session, row)
        url = urls[row.article_id]
        yield "versions", version_row(url, snapshot)
        diff = _diff_of(session, previous, snapshot)
        if diff is not None:
            assert previous is not None
            for change in change_rows(url, previous, snapshot, diff):
                yield "changes", change
        previous = snapshot


def _snapshots(
    session: Session, article_ids: list[int], since: dt.datetime | None
) -> Iterator[Snapshot]:
    """Every version of the articles with its paragraphs, rebuilt one delta at a time."""
    ids: list[int] | None = None
    key: tuple[int, int] = (0, 0)
    texts: dict[int, tuple[str, str]] = {}
    pending: list[tuple[Any, list[int]]] = []
    for row in export_queries.versions(session, article_ids, since):
        if ids is not None and key == (row.article_id, row.number - 1):
            ids = refs.advance(ids, row.paragraph_refs)
        elif refs.is_keyframe(row.paragraph_refs):
            ids = refs.decode([row.paragraph_refs])
        else:  # the first version read of an article is a delta: resolve its chain
            ids = export_queries.paragraph_ids_at(session, row.article_id, row.number)
        key = (row.article_id, row.number)
        pending.append((row, ids))
        if len(pending) == export_queries.BATCH:
            yield from _resolve(session, pending, texts)
            pending = []
    yield from _resolve(session, pending, texts)


def _resolve(
    session: Session, pending: list[tuple[Any, list[int]]], known: dict[int, tuple[str, str]]
) -> Iterator[Snapshot]:
    """Snapshots of a batch, reading only the paragraphs the previous batch did not hold."""
    needed = {i for _, ids in pending for i in ids}
    missing = needed - known.keys()
    fresh = export_queries.paragraphs(session, missing)
    lost = missing - fresh.keys()
    if lost:
        raise ValueError(f"corrupt database: {len(lost)} paragraph(s) referenced by a version "
                         "are not stored")
    batch = {i: known[i] for i in needed - missing}
    batch.update(fresh)
    known.clear()
    if pending:  # keep what the next batch most likely shares: the last version's paragraphs
        known.update((i, batch[i]) for i in pending[-1][1])
    for row, ids in pending:
        yield _snapshot(row, ids, batch)


def _snapshot(row: Any, ids: list[int], paragraphs: dict[int, tuple[str, str]]) -> Snapshot:
    pairs = [paragraphs[i] for i in ids]
    return Snapshot(row, ids, [k for k, _ in pairs], [t for _, t in pairs], _metadata(row))


def _predecessor(session: Session, row: Any) -> Snapshot | None:
    """Version ``row.number - 1`` of the same article, read on its own (an export starting
    with ``--since`` after it); None when it is not stored."""
    before = export_queries.version_row(session, row.article_id, row.number - 1)
    if before is None:
        return None
    ids = export_queries.paragraph_ids_at(session, row.article_id, before.number)
    return _snapshot(before, ids, export_queries.paragraphs(session, ids))


def _metadata(row: Any) -> dict[str, Any]:
    return Metadata(
        title=row.title, byline=row.byline, published=row.published, updated=row.updated,
        language=row.language, canonical_url=row.canonical_url, lead_image=row.lead_image,
        lead_caption=row.lead_caption,
    ).to_dict()


# --- rows -----------------------------------------------------------------------------------


def article_row(article: Any) -> dict[str, Any]:
    return {
        "article_id": article.id, "url": article.url, "host": article.host,
        "state": article.state, "tags": list(article.tags or []), "selector": article.selector,
        "base_interval": article.base_interval, "created_at": article.created_at,
    }


def version_row(url: str, snapshot: Snapshot) -> dict[str, Any]:
    row = snapshot.row
    return {
        "article_id": row.article_id, "article_url": url, "version": row.number,
        "fetched_at": row.fetched_at, "title": row.title, "byline": row.byline,
        "published": row.published, "modified": row.updated, "language": row.language,
        "canonical_url": row.canonical_url, "lead_image": row.lead_image,
        "lead_caption": row.lead_caption, "extractor": row.extractor,
        "content_hash": row.content_hash, "rebaseline": bool(row.rebaseline),
        "paragraphs": snapshot.texts, "paragraph_kinds": snapshot.kinds,
    }


def change_rows(
    url: str, before: Snapshot, after: Snapshot, diff: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """One row per paragraph operation (unchanged paragraphs left out), then one per changed
    metadata field."""
    common = {"article_id": after.row.article_id, "article_url": url,
              "old_version": before.row.number, "new_version": after.row.number}
    position = 0
    for op in diff["ops"]:
        if op["op"] == "equal":
            continue
        yield {
            **common, "position": position, "op": op["op"], "field": None,
            "old_indices": op["old"], "new_indices": op["new"],
            "similarity": op.get("similarity"),
            "old_text": _joined(before.texts, op["old"]),
            "new_text": _joined(after.texts, op["new"]),
            "words": op.get("words"),
        }
        position += 1
    for name, values in diff["metadata"].items():
        yield {
            **common, "position": position, "op": "metadata", "field": name,
            "old_indices": None, "new_indices": None, "similarity": None,
            "old_text": _text(values["old"]), "new_text": _text(values["new"]), "words": None,
        }
        position += 1


def _joined(texts: Sequence[str], indices: Sequence[int]) -> str | None:
    # A blank line between paragraphs, as in the webhook payloads.
    return "\n\n".join(texts[i] for i in indices) if indices else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
