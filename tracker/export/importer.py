"""``tracker import``: a JSON Lines export into an empty database.

What moves: articles (URL, host, state, tags, selector, interval, creation time) and every
version with its metadata and paragraphs; the paragraphs are stored once and the versions as
reference lists again (``db.refs``), so exporting the imported database gives the same files.
What does not: checks, events, webhook subscribers and deliveries, sources, host rules and
raw bodies (see docs/export.md). Changes are not imported: they are recomputed from the
versions, and stored with them (``tracker.diffstore.fill_missing``) as a check stores them.

The import is one transaction: a bad line stops it with a message naming the file and line,
and the database stays empty. Lines are read one at a time and written in batches, so memory
grows only with the number of articles (their ids and URLs are remembered to check the rows
that refer to them).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from db import export_queries, refs
from db.models import Article, Paragraph, Version
from db.session import session_scope
from tracker.app import App
from tracker.clock import utcnow
from tracker.diffstore import fill_missing
from tracker.errors import TrackerError
from tracker.export.schema import ARTICLES, VERSIONS, Field

_BATCH = 500


def _length(model: Any, column: str) -> int | None:
    return getattr(model.__mapper__.columns[column].type, "length", None)


# Longest values the columns take (PostgreSQL refuses longer ones; SQLite would not notice).
_LIMITS = {
    "host": _length(Article, "host"),
    "state": _length(Article, "state"),
    "published": _length(Version, "published"),
    "modified": _length(Version, "updated"),
    "language": _length(Version, "language"),
    "extractor": _length(Version, "extractor"),
    "content_hash": _length(Version, "content_hash"),
}
_KIND_LIMIT = _length(Paragraph, "kind")


class ImportFailed(TrackerError):
    """The export cannot be imported; nothing was stored."""


@dataclass(slots=True)
class ImportSummary:
    articles: int = 0
    versions: int = 0
    paragraphs: int = 0


def import_dataset(app: App, directory: Path) -> ImportSummary:
    """Import the JSON Lines export in ``directory`` into the (empty) database of ``app``."""
    articles_file, versions_file = directory / "articles.jsonl", directory / "versions.jsonl"
    for path in (articles_file, versions_file):
        if not path.is_file():
            raise ImportFailed(f"{path} not found: import reads a directory written by "
                               "tracker export --format jsonl")
    summary = ImportSummary()
    with session_scope(app.writer) as session:
        if not export_queries.is_empty(session):
            raise ImportFailed("the database already holds articles or versions: import only "
                               "into an empty database (nothing was changed)")
        known = _import_articles(session, articles_file, summary)
        _import_versions(session, versions_file, known, summary)
        export_queries.reset_id_sequences(session)
        fill_missing(session.connection())
    return summary


def _lines(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, object) for each line of a JSON Lines file."""
    with path.open(encoding="utf-8", errors="strict", newline="\n") as handle:
        number = 0
        try:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                where = f"{path.name} line {number}"
                try:
                    data = json.loads(line)
                except ValueError as exc:
                    raise ImportFailed(f"{where}: not JSON ({exc})") from None
                if not isinstance(data, dict):
                    raise ImportFailed(f"{where}: not a JSON object")
                yield where, data
        except UnicodeDecodeError as exc:
            raise ImportFailed(f"{path.name} after line {number}: not UTF-8 ({exc.reason})"
                               ) from None


def _import_articles(session: Session, path: Path, summary: ImportSummary) -> dict[int, str]:
    known: dict[int, str] = {}
    urls: set[str] = set()
    now = utcnow()
    batch: list[dict[str, Any]] = []
    for where, data in _lines(path):
        row = _checked(data, ARTICLES, where)
        if row["article_id"] in known or row["url"] in urls:
            raise ImportFailed(f"{where}: article {row['article_id']} ({row['url']}) twice")
        known[row["article_id"]] = row["url"]
        urls.add(row["url"])
        interval = row["base_interval"] or 600
        batch.append({
            "id": row["article_id"], "url": row["url"], "host": row["host"] or "",
            "state": row["state"] or "active", "tags": row["tags"] or [],
            "selector": row["selector"], "base_interval": interval, "interval": interval,
            "created_at": row["created_at"] or now, "next_check_at": now,
            "failure_count": 0, "version_count": 0, "event_seq": 0, "developing": False,
        })
        if len(batch) == _BATCH:
            export_queries.insert_articles(session, batch)
            batch = []
    export_queries.insert_articles(session, batch)
    summary.articles = len(known)
    return known


def _import_versions(
    session: Session, path: Path, known: dict[int, str], summary: ImportSummary
) -> None:
    last: tuple[int, int] = (0, 0)
    previous: list[int] | None = None
    versions: list[dict[str, Any]] = []
    paragraphs: dict[int, tuple[str, str]] = {}
    latest: dict[int, tuple[int, dt.datetime]] = {}  # article id: (last number, its time)
    for where, data in _lines(path):
        row = _checked(data, VERSIONS, where)
        key = (row["article_id"], row["version"])
        if known.get(key[0]) != row["article_url"]:
            raise ImportFailed(f"{where}: article {key[0]} ({row['article_url']}) is not in "
                               "articles.jsonl")
        if key <= last:
            raise ImportFailed(f"{where}: versions must be ordered by article and number "
                               f"(article {key[0]} version {key[1]} after version {last[1]})")
        ids = _paragraph_ids(row, where, paragraphs)
        consecutive = last == (key[0], key[1] - 1)
        versions.append(_version(row, refs.encode(ids, previous if consecutive else None,
                                                  key[1])))
        latest[key[0]] = (key[1], row["fetched_at"])
        last, previous = key, ids
        if len(versions) == _BATCH:
            summary.paragraphs += _flush(session, versions, paragraphs, latest)
            summary.versions += len(versions)
            versions, paragraphs, latest = [], {}, {}
    summary.paragraphs += _flush(session, versions, paragraphs, latest)
    summary.versions += len(versions)


def _paragraph_ids(row: dict[str, Any], where: str,
                   paragraphs: dict[int, tuple[str, str]]) -> list[int]:
    texts, kinds = row["paragraphs"] or [], row["paragraph_kinds"] or []
    if len(texts) != len(kinds):
        raise ImportFailed(f"{where}: {len(texts)} paragraphs but {len(kinds)} paragraph kinds")
    ids = []
    for kind, text in zip(kinds, texts, strict=True):
        if _KIND_LIMIT is not None and len(kind) > _KIND_LIMIT:
            raise ImportFailed(f"{where}: paragraph kind {kind[:20]!r} is too long")
        paragraph_id = refs.paragraph_id(kind, text)
        paragraphs[paragraph_id] = (kind, text)
        ids.append(paragraph_id)
    return ids


def _version(row: dict[str, Any], paragraph_refs: bytes) -> dict[str, Any]:
    return {
        "article_id": row["article_id"], "number": row["version"],
        "fetched_at": row["fetched_at"], "content_hash": row["content_hash"] or "",
        "title": row["title"], "byline": row["byline"], "published": row["published"],
        "updated": row["modified"], "language": row["language"],
        "canonical_url": row["canonical_url"], "lead_image": row["lead_image"],
        "lead_caption": row["lead_caption"], "extractor": row["extractor"] or "",
        "rebaseline": bool(row["rebaseline"]), "paragraph_count": len(row["paragraphs"] or []),
        "paragraph_refs": paragraph_refs,
    }


def _flush(
    session: Session, versions: list[dict[str, Any]], paragraphs: dict[int, tuple[str, str]],
    latest: dict[int, tuple[int, dt.datetime]],
) -> int:
    added = export_queries.insert_new_paragraphs(session, paragraphs)
    export_queries.insert_versions(session, versions)
    export_queries.set_version_counts(session, {a: n for a, (n, _) in latest.items()},
                                      {a: when for a, (_, when) in latest.items()})
    return added


# --- validation -----------------------------------------------------------------------------


def _checked(data: dict[str, Any], fields: tuple[Field, ...], where: str) -> dict[str, Any]:
    """The row's values by field, each of the declared type (datetimes parsed)."""
    row: dict[str, Any] = {}
    for field in fields:
        value = data.get(field.name)
        if value is None:
            if field.required:
                raise ImportFailed(f"{where}: {field.name} is missing")
            row[field.name] = None
            continue
        row[field.name] = _value(value, field, where)
    return row


def _value(value: Any, field: Field, where: str) -> Any:
    problem = f"{where}: {field.name} must be "
    if field.type == "integer":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**62:
            raise ImportFailed(problem + "a whole number ≥ 0")
        return value
    if field.type == "boolean":
        if not isinstance(value, bool):
            raise ImportFailed(problem + "true or false")
        return value
    if field.type == "datetime":
        return _datetime(value, problem)
    if field.type == "array":
        wanted = int if field.item == "integer" else str
        if not isinstance(value, list) or not all(type(v) is wanted for v in value):
            raise ImportFailed(problem + f"a list of {field.item}s")
        if wanted is str and any("\x00" in v for v in value):
            raise ImportFailed(problem + "free of NUL characters")
        return value
    if not isinstance(value, str):
        raise ImportFailed(problem + "a string")
    if "\x00" in value:  # no database text column takes one (PostgreSQL refuses it)
        raise ImportFailed(problem + "free of NUL characters")
    limit = _LIMITS.get(field.name)
    if limit is not None and len(value) > limit:
        raise ImportFailed(problem + f"at most {limit} characters")
    return value


def _datetime(value: Any, problem: str) -> dt.datetime:
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed.astimezone(dt.UTC)
    raise ImportFailed(problem + "an ISO 8601 time with a zone (2026-01-31T12:00:00.000000Z)")
