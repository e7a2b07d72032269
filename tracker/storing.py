"""A new version's rows: built before the write transaction, written with Core statements.

A check stores its page while it holds the database's write lock. On SQLite that is the write
gate every writer of the file queues on (``db.session.WriteGate``), and a holder that must win
the GIL back from threads extracting pages keeps the writers of every process waiting. So what
a new version needs is computed before ``BEGIN IMMEDIATE`` (``prepare``): the paragraphs'
content addresses and rows, the reference list against the version the page was compared with,
the packed diff, and the compressed raw body the caller hands in. Under the lock, ``write`` only
executes statements. The rows are made against one predecessor: when another check stored a
version meanwhile, the caller prepares them again against the new latest version.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from db import diff_queries, meta, queries, refs
from db.models import Article as ArticleRow
from tracker.diff import Diff
from tracker.document import ExtractedPage


@dataclass(frozen=True, slots=True)
class NewVersion:
    """The rows of one new version, but for what only the decision knows (``write``)."""

    number: int
    version: dict[str, Any]  # the versions row but fetched_at and rebaseline
    meta: dict[str, Any]  # its version_meta row (stored once per distinct value)
    paragraphs: list[dict[str, Any]]  # rows of the paragraphs its predecessor does not hold
    body: dict[str, Any] | None  # the bodies row but its version id; None: bodies not kept
    diff: Diff | None  # against the predecessor, the one ``packed`` holds
    packed: tuple[dict[str, int], bytes] | None
    texts: tuple[str, ...]  # its paragraphs' texts: a stored diff is read against them


@dataclass(frozen=True, slots=True)
class Predecessor:
    """The latest stored version a new one follows: its number and paragraph ids."""

    number: int
    ids: Sequence[int]


def prepare(
    article_id: int, article: ExtractedPage, fields: dict[str, Any], previous: Predecessor | None,
    diff: Diff | None, body: dict[str, Any] | None,
) -> NewVersion:
    """The rows of ``article`` stored as the version after ``previous`` (``fields``: its
    metadata columns, content hash and extractor; ``diff``: against ``previous``)."""
    ids = [refs.paragraph_id(p.kind, p.text) for p in article.paragraphs]
    held = set(previous.ids) if previous else set()
    paragraphs = {i: {"id": i, "kind": p.kind, "text": p.text}
                  for i, p in zip(ids, article.paragraphs, strict=True) if i not in held}
    number = previous.number + 1 if previous else 1
    meta_row, rest = meta.split(fields)
    version = {
        **rest, "article_id": article_id, "number": number, "paragraph_count": len(ids),
        "paragraph_refs": refs.encode(ids, previous.ids if previous else None, number),
    }
    texts = tuple(article.texts)
    packed = pack(diff, texts) if diff is not None else None
    return NewVersion(number, version, meta_row, list(paragraphs.values()), body, diff, packed,
                      texts)  # fmt: skip


def pack(diff: Diff, new_texts: Sequence[str]) -> tuple[dict[str, int], bytes]:
    """A diff's stored form: its summary counts and its compressed JSON, read against the new
    version's paragraph texts (``db.diffdata``)."""
    data = diff.to_json()
    return dict(data["summary"]), diff_queries.pack(data, new_texts=new_texts)


def write(
    session: Session, row: ArticleRow, new: NewVersion, diff: Diff | None, *, rebaseline: bool,
    minor: bool, fetched_at: dt.datetime,
) -> queries.StoredVersion:
    """Insert ``new`` as the article's next version, with its diff (None for a first version)
    and its body, in the session's transaction (the article row locked)."""
    stored = queries.insert_version(
        session, row, {**new.version, "fetched_at": fetched_at, "rebaseline": rebaseline},
        new.meta, new.paragraphs,
    )
    if diff is not None:
        summary, data = new.packed if diff is new.diff and new.packed else pack(diff, new.texts)
        diff_queries.insert_packed(session, stored.id, summary, data, minor=minor)
    if new.body is not None:
        queries.insert_body(session, stored.id, new.body)
    return stored
