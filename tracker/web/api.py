"""The JSON API under ``/api/v1``: the shapes of the CLI's ``--format json``, paginated by
cursor (``next``: pass it back as ``cursor`` for the following page; null on the last page).
The models below are what the OpenAPI document (``/api/v1/openapi.json``) describes; keys the
CLI leaves out (an op's ``similarity``, ``words``) are left out here too."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from tracker.articles import parse_since
from tracker.hosts import list_hosts
from tracker.sources import list_sources
from tracker.web import readmodel
from tracker.web.pages import article_filter
from tracker.web.readmodel import BadRequest, WebContext

router = APIRouter(prefix="/api/v1", tags=["api"])
Text = Annotated[str | None, Query(max_length=500)]
Limit = Annotated[int, Query(ge=1, le=500)]


class Article(BaseModel):
    id: int
    url: str
    title: str | None
    host: str
    versions: int
    last_checked: str | None
    last_changed: str | None
    next_check: str | None
    state: str
    interval: int
    base_interval: int
    failures: int
    last_error: str | None
    selector: str | None
    tags: list[str]
    developing: bool


class ArticlePage(BaseModel):
    articles: list[Article]
    next: str | None


class Op(BaseModel):
    op: str
    old: list[int]
    new: list[int]
    similarity: float | None = None
    words: list[tuple[str, str]] | None = None


class Side(BaseModel):
    paragraphs: int


class MetadataChange(BaseModel):
    old: Any
    new: Any


class Diff(BaseModel):
    old: Side
    new: Side
    ops: list[Op]
    metadata: dict[str, MetadataChange]
    summary: dict[str, int]


class ChangeArticle(BaseModel):
    id: int
    url: str
    title: str | None


class Change(BaseModel):
    article: ChangeArticle
    from_version: int
    to_version: int
    detected_at: str
    minor: bool
    diff: Diff


class ChangePage(BaseModel):
    changes: list[Change]
    next: str | None


class Version(BaseModel):
    number: int
    fetched_at: str
    title: str | None
    byline: str | None
    published: str | None
    updated: str | None
    language: str | None
    canonical_url: str | None
    lead_image: str | None
    lead_caption: str | None
    paragraphs: int
    extractor: str
    rebaseline: bool


class HistoryVersion(Version):
    summary: dict[str, int] | None
    minor: bool


class CheckRecord(BaseModel):
    started_at: str
    outcome: str
    status: int | None
    duration_ms: int
    error: str | None


class HistoryArticle(BaseModel):
    url: str
    versions: int
    last_checked: str | None
    next_check: str | None
    state: str
    interval: int
    base_interval: int
    failures: int
    last_error: str | None
    selector: str | None
    tags: list[str]
    developing: bool


class History(BaseModel):
    article: HistoryArticle
    versions: list[HistoryVersion]
    checks: list[CheckRecord]


class Paragraph(BaseModel):
    kind: str
    text: str


class UrlOnly(BaseModel):
    url: str


class Show(BaseModel):
    article: UrlOnly
    version: Version
    paragraphs: list[Paragraph]


class Source(BaseModel):
    url: str
    kind: str | None
    state: str
    match: str | None
    keywords: list[str]
    tags: list[str]
    interval: int
    article_interval: int | None
    last_checked: str | None
    next_check: str | None
    entries: int
    articles: int
    failures: int
    last_error: str | None


class SourcePage(BaseModel):
    sources: list[Source]
    next: str | None


class HostRules(BaseModel):
    host: str
    selector: str | None
    ignore_patterns: list[str]
    ignore_selectors: list[str]
    rate_per_minute: float | None
    notify_threshold: int | None
    articles: int
    template: dict[str, Any] | None = None  # the learned article template's state


class HostPage(BaseModel):
    hosts: list[HostRules]
    next: str | None


def _ctx(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.ctx
    return ctx


@router.get("/articles", response_model=ArticlePage)
def articles(
    request: Request, q: Text = None, tag: Text = None, host: Text = None, state: Text = None,
    sort: str = "changed", cursor: Text = None, limit: Limit = 50,
) -> dict[str, Any]:
    """Tracked articles (``tracker list --format json``), filtered and sorted
    (``changed``: latest change first; ``added``; ``next_check``; ``url``)."""
    where = article_filter(q, tag, host, state)
    page = readmodel.articles(_ctx(request), where, sort=sort, cursor=cursor, limit=limit)
    return {"articles": [readmodel.article_json(r) for r in page.items], "next": page.next}


@router.get("/articles/{article_id}", response_model=History)
def history(request: Request, article_id: int) -> dict[str, Any]:
    """An article's versions with their change summaries, and its recent checks
    (``tracker history --format json``)."""
    ctx = _ctx(request)
    return readmodel.history_json(ctx, readmodel.article_detail(ctx, article_id))


@router.get("/articles/{article_id}/versions/{number}", response_model=Show)
def version(request: Request, article_id: int, number: int) -> dict[str, Any]:
    """One stored version's text and metadata (``tracker show --format json``)."""
    return readmodel.show_json(readmodel.version_page(_ctx(request), article_id, number))


@router.get("/articles/{article_id}/diff/{old:int}..{new:int}", response_model=Diff,
            response_model_exclude_unset=True)
def diff(request: Request, article_id: int, old: int, new: int) -> dict[str, Any]:
    """The diff between any two stored versions (``tracker diff URL@A URL@B --format json``)."""
    return readmodel.diff_page(_ctx(request), article_id, old, new).loaded.diff.to_json()


@router.get("/changes", response_model=ChangePage, response_model_exclude_unset=True)
def changes(
    request: Request, since: Text = None, q: Text = None, tag: Text = None, host: Text = None,
    state: Text = None, article: int | None = None, minor: bool = True, cursor: Text = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """Changes newest first (``tracker changes --format json``); ``since`` is a duration back
    from now (``24h``) or an ISO time; ``minor=false`` leaves minor changes out."""
    where = article_filter(q, tag, host, state)
    start = parse_since(since) if since else None
    page = readmodel.changes(_ctx(request), where, minor=minor, since=start, article_id=article,
                             cursor=cursor, limit=limit)
    return {"changes": [item.to_json() for item in page.items], "next": page.next}


@router.get("/sources", response_model=SourcePage)
def sources(request: Request, cursor: Text = None, limit: Limit = 100) -> dict[str, Any]:
    """Followed feeds and sitemaps (``tracker sources --format json``)."""
    items = list_sources(_ctx(request).app)["sources"]
    return _sliced("sources", items, cursor, limit)


@router.get("/hosts", response_model=HostPage)
def hosts(request: Request, cursor: Text = None, limit: Limit = 100) -> dict[str, Any]:
    """Hosts with rules or tracked articles (``tracker hosts --format json``)."""
    items = list_hosts(_ctx(request).app)["hosts"]
    return _sliced("hosts", items, cursor, limit)


def _sliced(name: str, items: list[dict[str, Any]], cursor: str | None, limit: int
            ) -> dict[str, Any]:
    """A page of a short list (sources, hosts: a few hundred at most), by position."""
    after = readmodel.decode_cursor(cursor)
    start = after[0] if after else 0
    if not isinstance(start, int) or start < 0:
        raise BadRequest("the page cursor is not one this server made")
    end = start + limit
    more = end < len(items)
    return {name: items[start:end], "next": readmodel.encode_cursor([end]) if more else None}
