"""A new version's rows: built before the write transaction, written with Core statements.

A check stores its page while it holds the database's write lock. On SQLite that is the write
gate every writer of the file queues on (``db.session.WriteGate``), and a holder that must win
the GIL back from threads extracting pages keeps the writers of every process waiting. So what
a new version needs is computed before ``BEGIN IMMEDIATE`` (``prepare``): the paragraphs'
content addresses and rows, the reference list against the version the page was compared with,
the packed diff, the edited paragraphs' edit scripts (``db.edits``: a paragraph the diff matched
to one of the predecessor's is stored as an edit of it when that is clearly smaller, against
the texts the comparison read), and the compressed raw body the caller hands in. Under the
lock, ``write`` only executes statements. The rows are made against one predecessor: when
another check stored a version meanwhile, the caller prepares them again against the new
latest version.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from db import diff_queries, edits, meta, queries, refs
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
    """The latest stored version a new one follows: its number and paragraph ids, and for
    those whose texts were read (``db.edits.Resolved.sources``), the full-text paragraph
    (id, text) an edit of each would be made against."""

    number: int
    ids: Sequence[int]
    sources: Mapping[int, tuple[int, str]] = field(default_factory=dict)


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
    if previous is not None and diff is not None:
        _as_edits(paragraphs, ids, previous, diff)
    edits.compact(paragraphs.values())
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


def _as_edits(
    paragraphs: dict[int, dict[str, Any]], ids: Sequence[int], previous: Predecessor, diff: Diff,
) -> None:
    """Store as an edit (``base_id`` + ``delta``, no text) each new paragraph the diff matched
    to paragraphs of ``previous`` whose texts are known, when that is clearly smaller."""
    for new, olds in _matched(diff):
        row = paragraphs.get(ids[new])
        if row is None or "delta" in row:
            continue
        bases = {previous.sources[key] for key in (previous.ids[i] for i in olds
                                                   if i < len(previous.ids))
                 if key in previous.sources and previous.sources[key][0] != ids[new]}  # fmt: skip
        edit = edits.edit_of(row["text"], sorted(bases))
        if edit is not None:
            row.update(text=None, base_id=edit[0], delta=edit[1])


# The ops whose new paragraphs continue old ones (a split's parts, a merge of several).
_CONTINUED = frozenset({"modify", "split", "merge"})


def _matched(diff: Diff) -> Iterator[tuple[int, tuple[int, ...]]]:
    """(new index, the old indices it continues) of each paragraph a diff matched."""
    for op in diff.ops:
        if op.op in _CONTINUED:
            for new in op.new:
                yield new, op.old


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
