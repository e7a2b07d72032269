"""The HTML pages: articles, recent changes, an article, a diff permalink, a version."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from db.web_queries import ArticleFilter
from tracker.changeview import META_LABELS
from tracker.clock import utcnow
from tracker.web import readmodel
from tracker.web.readmodel import STATES, BadRequest, WebContext
from tracker.web.templating import environment

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
SORTS = (("changed", "last change"), ("added", "newest added"), ("next_check", "next check"),
         ("url", "URL"))
Text = Annotated[str | None, Query(max_length=500)]


def _ctx(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.ctx
    return ctx


def render(request: Request, template: str, **values: Any) -> HTMLResponse:
    ctx = _ctx(request)
    html = environment().get_template(template).render(
        zone=ctx.zone, zone_name=str(ctx.zone), now=utcnow(), load_images=ctx.load_images,
        states=STATES, labels=META_LABELS, **values,
    )
    return HTMLResponse(html)


def article_filter(
    q: str | None, tag: str | None, host: str | None, state: str | None
) -> ArticleFilter:
    if state and state not in STATES:
        raise BadRequest(f"state must be one of {', '.join(STATES)}")
    return ArticleFilter(tag=tag or None, host=(host or "").strip().lower() or None,
                         state=state or None, search=(q or "").strip() or None)


def _query(**values: Any) -> str:
    kept = {k: v for k, v in values.items() if v not in (None, "", False)}
    return ("?" + urlencode(kept)) if kept else ""


@router.get("/", response_class=HTMLResponse)
def articles_page(
    request: Request, q: Text = None, tag: Text = None, host: Text = None, state: Text = None,
    sort: str = "changed", cursor: Text = None,
) -> HTMLResponse:
    where = article_filter(q, tag, host, state)
    page = readmodel.articles(_ctx(request), where, sort=sort, cursor=cursor, limit=PAGE_SIZE)
    common = {"q": where.search, "tag": where.tag, "host": where.host, "state": where.state,
              "sort": sort if sort != "changed" else None}
    return render(
        request, "articles.html", nav="articles", page=page, where=where, sort=sort,
        sorts=SORTS, cursor=cursor, filtered=where != ArticleFilter(),
        first_url="/" + _query(**common), next_url="/" + _query(**common, cursor=page.next),
    )


@router.get("/changes", response_class=HTMLResponse)
def changes_page(
    request: Request, q: Text = None, tag: Text = None, host: Text = None, state: Text = None,
    minor: bool = False, cursor: Text = None,
) -> HTMLResponse:
    where = article_filter(q, tag, host, state)
    page = readmodel.changes(_ctx(request), where, minor=minor, cursor=cursor, limit=PAGE_SIZE)
    common = {"q": where.search, "tag": where.tag, "host": where.host, "state": where.state,
              "minor": "1" if minor else None}
    feed = "/feeds/changes.atom" + _query(**common)
    return render(
        request, "changes.html", nav="changes", page=page, where=where, minor=minor,
        cursor=cursor, filtered=where != ArticleFilter(), feed_url=feed,
        first_url="/changes" + _query(**common),
        next_url="/changes" + _query(**common, cursor=page.next),
    )


@router.get("/articles/{article_id}", response_class=HTMLResponse)
def article_page(request: Request, article_id: int) -> HTMLResponse:
    detail = readmodel.article_detail(_ctx(request), article_id)
    return render(request, "article.html", nav=None, detail=detail)


@router.get("/articles/{article_id}/compare")
def compare(article_id: int, a: int, b: int, mode: str = "inline") -> Response:
    """The version picker's target (a GET form): on to the permalink of the pair."""
    suffix = "?mode=side" if mode == "side" else ""
    return RedirectResponse(f"/articles/{article_id}/diff/{a}..{b}{suffix}", status_code=303)


@router.get("/articles/{article_id}/diff/{old:int}..{new:int}", response_class=HTMLResponse)
def diff_page(
    request: Request, article_id: int, old: int, new: int, mode: str = "inline"
) -> HTMLResponse:
    page = readmodel.diff_page(_ctx(request), article_id, old, new)
    return render(request, "diff.html", nav=None, page=page,
                  mode="side" if mode == "side" else "inline")


@router.get("/articles/{article_id}/versions/{number}", response_class=HTMLResponse)
def version_page(request: Request, article_id: int, number: int) -> HTMLResponse:
    page = readmodel.version_page(_ctx(request), article_id, number)
    return render(request, "version.html", nav=None, page=page)


@router.get("/articles/{article_id}/versions/{number}/raw")
def raw_response(request: Request, article_id: int, number: int) -> Response:
    """The stored raw response, as a download that no browser renders in this origin."""
    body = readmodel.raw_body(_ctx(request), article_id, number)
    extension = "html" if "html" in body.content_type.lower() else "bin"
    return Response(
        body.data, media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="article-{article_id}-v{number}.'
                                   f'{extension}"',
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "X-Original-Content-Type": _header_safe(body.content_type),
        },
    )


def _header_safe(value: str) -> str:
    return "".join(c for c in value if 32 <= ord(c) < 127)[:120]
