"""What the pages, the API and the feeds show, read from the database as plain values.

Every function takes the ``WebContext`` and opens its own read-only session. Lists come a page
at a time (``db.web_queries``, keyset cursors); diffs come through ``tracker.diffstore``, so a
request computes no diff another request already did. The JSON shapes are those of the CLI's
``--format json`` (``tracker list``, ``history``, ``show``, ``changes``, ``diff``), with a few
keys added (``id``, ``title``, ``host``, ``last_changed``; ``next`` on pages).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from db import queries, web_queries
from db.session import HEAD_REVISION, current_revision, session_scope
from db.states import ArticleState
from db.web_queries import ArticleFilter
from tracker.app import App
from tracker.changeview import ChangeView, summary_line
from tracker.clock import iso
from tracker.diff import Summary
from tracker.diffstore import DiffCache, LoadedDiff, UnknownVersion, load_diff, summaries
from tracker.errors import TrackerError

STATES = tuple(ArticleState)
META_FIELDS = ("title", "byline", "published", "updated", "lead_image", "lead_caption",
               "canonical_url", "language")


class NotFound(TrackerError):
    """Nothing stored under what the request names (a 404)."""


class BadRequest(TrackerError):
    """A parameter that makes no sense (a 400)."""


class Fragments:
    """Rendered pieces of pages that depend only on stored, unchanging data (a feed entry's
    HTML for one change): kept so that a feed polled every minute renders only what is new.
    Least recently used dropped first beyond ``size`` pieces; thread-safe."""

    def __init__(self, size: int = 2_000) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], make: Callable[[], str]) -> str:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        made = make()
        with self._lock:
            self._items[key] = made
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return made


@dataclass
class WebContext:
    """What every request reads: the App (database), the caches and display settings."""

    app: App
    cache: DiffCache = field(default_factory=DiffCache)
    zone: dt.tzinfo = dt.UTC
    load_images: bool = False
    fragments: Fragments = field(default_factory=Fragments)


def plain(row: Any) -> SimpleNamespace:
    """A result row as a plain object: templates read each attribute several times, and a
    SQLAlchemy row's attribute costs ten times a plain one."""
    return SimpleNamespace(**row._mapping)


# --- cursors ------------------------------------------------------------------------------------


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None) -> list[Any] | None:
    if not text:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        values = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("the page cursor is not one this server made") from None
    if not isinstance(values, list) or not values or len(values) > 2:
        raise BadRequest("the page cursor is not one this server made")
    if not all(isinstance(v, str | int) or v is None for v in values):
        raise BadRequest("the page cursor is not one this server made")
    return values


# --- articles -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Any]
    next: str | None


def article_json(row: Any) -> dict[str, Any]:
    """An article as ``tracker list --format json`` shows it, plus id, title, host and
    last_changed."""
    return {
        "id": row.id,
        "url": row.url,
        "title": row.title,
        "host": row.host,
        "versions": row.version_count,
        "last_checked": iso(row.last_checked_at),
        "last_changed": iso(row.last_changed_at),
        "next_check": iso(row.next_check_at),
        "state": row.state,
        "interval": row.interval,
        "base_interval": row.base_interval,
        "failures": row.failure_count,
        "last_error": row.last_error,
        "selector": row.selector,
        "tags": list(row.tags or []),
        "developing": bool(row.developing),
    }


def articles(
    ctx: WebContext, where: ArticleFilter, *, sort: str, cursor: str | None, limit: int
) -> Page:
    if sort not in web_queries.ARTICLE_SORTS:
        raise BadRequest(f"sort must be one of {', '.join(web_queries.ARTICLE_SORTS)}")
    after = decode_cursor(cursor)
    with session_scope(ctx.app.reader) as session:
        try:
            rows = web_queries.article_page(session, where, sort=sort, after=after, limit=limit)
        except (ValueError, TypeError):
            raise BadRequest("the page cursor is not one this server made") from None
    more = len(rows) == limit
    cursor = encode_cursor(web_queries.article_cursor(rows[-1], sort)) if more else None
    return Page([plain(r) for r in rows], cursor)


# --- changes ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChangeItem:
    """One change in a list: the version, its article, and what changed in counts."""

    article_id: int
    url: str
    host: str
    tags: list[str]
    title: str | None
    from_version: int
    to_version: int
    detected_at: dt.datetime
    minor: bool
    loaded: LoadedDiff

    @property
    def summary(self) -> str:
        diff = self.loaded.diff
        return summary_line(diff.summary.to_json(), diff.metadata_keys)

    @property
    def view(self) -> ChangeView:
        return self.loaded.view

    def to_json(self) -> dict[str, Any]:
        """An entry of ``tracker changes --format json``, plus the article's id."""
        return {
            "article": {"id": self.article_id, "url": self.url, "title": self.title},
            "from_version": self.from_version,
            "to_version": self.to_version,
            "detected_at": iso(self.detected_at),
            "minor": self.minor,
            "diff": self.loaded.diff.to_json(),
        }


def changes(
    ctx: WebContext, where: ArticleFilter, *, minor: bool = False,
    since: dt.datetime | None = None, article_id: int | None = None, cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """Changes newest first, each with its diff (through the cache)."""
    after = decode_cursor(cursor)
    with session_scope(ctx.app.reader) as session:
        try:
            rows = web_queries.change_page(session, where, minor=minor, since=since,
                                           article_id=article_id, after=after, limit=limit)
        except (ValueError, TypeError):
            raise BadRequest("the page cursor is not one this server made") from None
        items = [
            ChangeItem(row.article_id, row.url, row.host, list(row.tags or []), row.title,
                       row.number - 1, row.number, row.fetched_at, bool(row.minor),
                       load_diff(session, row.article_id, row.number - 1, row.number, ctx.cache,
                                 hashes=_hashes(row)))
            for row in rows
        ]
    more = len(rows) == limit
    return Page(items, encode_cursor(web_queries.change_cursor(rows[-1])) if more else None)


def _hashes(row: Any) -> tuple[str, str] | None:
    return (row.previous_hash, row.content_hash) if row.previous_hash else None


# --- one article --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VersionItem:
    row: Any
    summary: Summary | None  # against the version before; None for a first or rebaseline
    changed_fields: tuple[str, ...]  # metadata that differs from the version before

    @property
    def summary_text(self) -> str:
        if self.row.rebaseline:
            return "re-baseline (new extractor or rules)"
        if self.summary is None:
            return "first seen"
        return summary_line(self.summary.to_json(), self.changed_fields)


@dataclass(frozen=True, slots=True)
class MetaChange:
    number: int
    fetched_at: dt.datetime
    field: str
    value: str | None


@dataclass(frozen=True, slots=True)
class ArticleDetail:
    row: Any
    versions: list[VersionItem]
    checks: list[Any]
    paragraphs: list[tuple[str, str]]  # the latest version's, (kind, text)
    metadata_history: list[MetaChange]
    has_body: bool

    @property
    def latest(self) -> Any | None:
        return self.versions[-1].row if self.versions else None


def article(ctx: WebContext, article_id: int) -> Any:
    """The article's row (with its latest title); ``NotFound`` when there is none."""
    with session_scope(ctx.app.reader) as session:
        row = web_queries.article_row(session, article_id)
    if row is None:
        raise NotFound(f"no article {article_id}")
    return plain(row)


def article_detail(ctx: WebContext, article_id: int) -> ArticleDetail:
    with session_scope(ctx.app.reader) as session:
        row = web_queries.article_row(session, article_id)
        if row is None:
            raise NotFound(f"no article {article_id}")
        rows = [plain(r) for r in web_queries.version_rows(session, article_id)]
        found = summaries(session, article_id, [(r.number, r.content_hash) for r in rows],
                          ctx.cache)
        checks = queries.checks_of(session, article_id)
        latest = queries.latest_version(session, article_id)
        paragraphs = queries.paragraphs_of(session, latest) if latest else []
        body = web_queries.has_body(session, latest.id) if latest else False
    versions, history = [], []
    previous = None
    for version in rows:
        fields = _changed_fields(previous, version)
        summary = found.get(version.number) if not version.rebaseline else None
        versions.append(VersionItem(version, summary, fields))
        for name in fields if previous is not None else _present_fields(version):
            history.append(MetaChange(version.number, version.fetched_at, name,
                                      getattr(version, name)))
        previous = version
    return ArticleDetail(plain(row), versions, checks, paragraphs, history, body)


def _changed_fields(previous: Any | None, version: Any) -> tuple[str, ...]:
    if previous is None:
        return ()
    return tuple(f for f in META_FIELDS if getattr(previous, f) != getattr(version, f))


def _present_fields(version: Any) -> tuple[str, ...]:
    return tuple(f for f in META_FIELDS if getattr(version, f) is not None)


def history_json(ctx: WebContext, detail: ArticleDetail) -> dict[str, Any]:
    """``tracker history --format json`` of the article (its summaries are the full diff
    summaries, read through the cache)."""
    versions = [
        {**version_json(item.row), "summary": item.summary.to_json() if item.summary else None,
         "minor": bool(item.row.minor)}
        for item in detail.versions
    ]
    checks = [
        {"started_at": iso(c.started_at), "outcome": c.outcome, "status": c.status_code,
         "duration_ms": c.duration_ms, "error": c.error}
        for c in detail.checks
    ]
    article = {k: v for k, v in article_json(detail.row).items()
               if k not in ("id", "title", "host", "last_changed")}
    return {"article": article, "versions": versions, "checks": checks}


def version_json(row: Any) -> dict[str, Any]:
    return {
        "number": row.number,
        "fetched_at": iso(row.fetched_at),
        "title": row.title,
        "byline": row.byline,
        "published": row.published,
        "updated": row.updated,
        "language": row.language,
        "canonical_url": row.canonical_url,
        "lead_image": row.lead_image,
        "lead_caption": row.lead_caption,
        "paragraphs": row.paragraph_count,
        "extractor": row.extractor,
        "rebaseline": row.rebaseline,
    }


# --- a diff, a version --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DiffPage:
    article: Any
    loaded: LoadedDiff
    view: ChangeView
    numbers: list[int]  # every stored version number, to pick others


def diff_page(ctx: WebContext, article_id: int, old: int, new: int) -> DiffPage:
    with session_scope(ctx.app.reader) as session:
        article = web_queries.article_row(session, article_id)
        if article is None:
            raise NotFound(f"no article {article_id}")
        try:
            loaded = load_diff(session, article_id, old, new, ctx.cache)
        except UnknownVersion as exc:
            raise NotFound(str(exc)) from None
        numbers = list(range(1, article.version_count + 1))
    return DiffPage(plain(article), loaded, loaded.view, numbers)


@dataclass(frozen=True, slots=True)
class VersionPage:
    article: Any
    version: Any
    paragraphs: list[tuple[str, str]]
    has_body: bool


def version_page(ctx: WebContext, article_id: int, number: int) -> VersionPage:
    with session_scope(ctx.app.reader) as session:
        article = web_queries.article_row(session, article_id)
        if article is None:
            raise NotFound(f"no article {article_id}")
        version = queries.version_by_number(session, article_id, number)
        if version is None:
            raise NotFound(f"article {article_id} has no version {number}")
        paragraphs = queries.paragraphs_of(session, version)
        body = web_queries.has_body(session, version.id)
        row = web_queries.version_rows(session, article_id, number)[0]
    return VersionPage(plain(article), plain(row), paragraphs, body)


def show_json(page: VersionPage) -> dict[str, Any]:
    """``tracker show --format json``."""
    return {
        "article": {"url": page.article.url},
        "version": version_json(page.version),
        "paragraphs": [{"kind": kind, "text": text} for kind, text in page.paragraphs],
    }


@dataclass(frozen=True, slots=True)
class RawBody:
    data: bytes
    content_type: str


def raw_body(ctx: WebContext, article_id: int, number: int) -> RawBody:
    """The stored raw response of a version, uncompressed (bounded by what was stored)."""
    import zlib

    with session_scope(ctx.app.reader) as session:
        body = web_queries.body_row(session, article_id, number)
        if body is None:
            raise NotFound(f"no raw response kept for version {number} of article {article_id}")
        data, content_type, encoding = body.data, body.content_type, body.encoding
    return RawBody(zlib.decompress(data) if encoding == "zlib" else data, content_type)


# --- health -------------------------------------------------------------------------------------


def readiness(ctx: WebContext) -> dict[str, Any]:
    """Whether the database answers and its schema is the newest; raises when unreachable."""
    with session_scope(ctx.app.reader) as session:
        web_queries.ping(session)
    revision = current_revision(ctx.app.engine)
    return {"database": "reachable", "schema": revision, "expected": HEAD_REVISION,
            "current": revision == HEAD_REVISION}
