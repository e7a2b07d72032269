"""Atom feeds of changes (all, per article, per tag, per host) and the self-contained HTML
report; both for the web (``/feeds/…``) and for ``tracker changes --format atom|html``.

Each feed entry is one change: its id is stable wherever the feed is served from (a ``tag:``
URI made of the article's URL and the version pair), its link the diff permalink (or, without
a server, the article itself), its content the change rendered as HTML by the same templates as
the web page, minus the unchanged text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markupsafe import Markup

from db.web_queries import ArticleFilter
from tracker.app import App
from tracker.clock import iso, utcnow
from tracker.web import readmodel
from tracker.web.readmodel import ChangeItem, Fragments, WebContext
from tracker.web.templating import environment, inline_css

router = APIRouter(prefix="/feeds", include_in_schema=False)
FEED_SIZE = 50
ATOM = "application/atom+xml; charset=utf-8"
Text = Annotated[str | None, Query(max_length=500)]
Size = Annotated[int, Query(ge=1, le=200)]


@dataclass(frozen=True, slots=True)
class FeedInfo:
    id: str
    title: str
    updated: str
    self_url: str | None
    html_url: str | None


def entry_id(item: ChangeItem) -> str:
    pair = f"{item.from_version}..{item.to_version}"
    return f"tag:tracker,2024:{quote(item.url, safe=':/?=&%')}@{pair}"


def entry_title(item: ChangeItem) -> str:
    return f"{item.title or item.url}: {item.summary}"


def render_feed(
    items: Sequence[ChangeItem], info: FeedInfo, link: Callable[[ChangeItem], str],
    fragments: Fragments | None = None,
) -> str:
    env = environment()
    fragment = env.get_template("feed_entry.html")
    fragments = fragments or Fragments()
    entries = []
    for item in items:
        href, key = link(item), entry_id(item)
        render = partial(fragment.render, item=item, link=href, title=item.title or item.url)
        content = fragments.get(("atom", key, href, item.loaded.new.id, item.minor), render)
        entries.append({"id": key, "title": entry_title(item), "updated": iso(item.detected_at),
                        "link": href, "summary": item.summary, "content": content})
    return env.get_template("feed.xml").render(feed=info, entries=entries)


def render_report(
    items: Sequence[ChangeItem], since: dt.datetime, zone: dt.tzinfo
) -> str:
    """One HTML file that stands alone: inline CSS, no script, nothing loaded from anywhere."""
    groups: dict[int, list[ChangeItem]] = {}
    for item in sorted(items, key=lambda i: (i.article_id, i.to_version)):
        groups.setdefault(item.article_id, []).append(item)
    return environment().get_template("report.html").render(
        groups=list(groups.values()), count=len(items), since=since, now=utcnow(), zone=zone,
        css=Markup(inline_css()),  # noqa: S704 - our own stylesheet, shipped in the package
    )


# --- tracker changes --format atom|html ---------------------------------------------------------


def cli_changes(
    app: App, since: dt.datetime, article_id: int | None, *, limit: int = 10_000
) -> list[ChangeItem]:
    """Every change since ``since`` (minor ones included, as ``tracker changes`` lists them),
    newest first, at most ``limit``."""
    from tracker.clock import display_zone

    ctx = WebContext(app, zone=display_zone())
    items: list[ChangeItem] = []
    cursor = None
    while len(items) < limit:
        page = readmodel.changes(ctx, ArticleFilter(), minor=True, since=since,
                                 article_id=article_id, cursor=cursor, limit=500)
        items += page.items
        if page.next is None:
            break
        cursor = page.next
    return items[:limit]


def cli_atom(items: Sequence[ChangeItem], since: dt.datetime, base_url: str | None) -> str:
    base = base_url.rstrip("/") if base_url else None

    def link(item: ChangeItem) -> str:
        if base:
            return f"{base}/articles/{item.article_id}/diff/{item.from_version}..{item.to_version}"
        return item.url

    info = FeedInfo(
        id=f"tag:tracker,2024:changes-since-{iso(since)}", title="tracker: changes",
        updated=iso(items[0].detected_at if items else utcnow()) or "",
        self_url=None, html_url=f"{base}/changes" if base else None,
    )
    return render_feed(items, info, link)


# --- /feeds/… -----------------------------------------------------------------------------------


def _feed(request: Request, title: str, key: str, where: ArticleFilter, *,
          article_id: int | None = None, minor: bool = False, limit: int = FEED_SIZE
          ) -> Response:
    ctx: WebContext = request.app.state.ctx
    page = readmodel.changes(ctx, where, minor=minor, article_id=article_id, limit=limit)
    base = str(request.base_url).rstrip("/")

    def link(item: ChangeItem) -> str:
        return f"{base}/articles/{item.article_id}/diff/{item.from_version}..{item.to_version}"

    html = f"{base}/articles/{article_id}" if article_id else f"{base}/changes"
    info = FeedInfo(
        id=f"tag:tracker,2024:feed/{quote(key, safe='/')}", title=title,
        updated=iso(page.items[0].detected_at if page.items else utcnow()) or "",
        self_url=str(request.url), html_url=html,
    )
    return Response(render_feed(page.items, info, link, ctx.fragments), media_type=ATOM)


@router.get("/changes.atom")
def all_changes(
    request: Request, q: Text = None, tag: Text = None, host: Text = None, state: Text = None,
    minor: bool = False, limit: Size = FEED_SIZE,
) -> Response:
    from tracker.web.pages import article_filter

    where = article_filter(q, tag, host, state)
    return _feed(request, "tracker: recent changes", "changes", where, minor=minor, limit=limit)


@router.get("/articles/{article_id:int}.atom")
def article_changes(request: Request, article_id: int, minor: bool = False,
                    limit: Size = FEED_SIZE) -> Response:
    ctx: WebContext = request.app.state.ctx
    row = readmodel.article(ctx, article_id)
    title = f"tracker: {row.title or row.url}"
    return _feed(request, title, f"article/{article_id}", ArticleFilter(),
                 article_id=article_id, minor=minor, limit=limit)


@router.get("/tags/{tag}.atom")
def tag_changes(request: Request, tag: str, minor: bool = False, limit: Size = FEED_SIZE
                ) -> Response:
    return _feed(request, f"tracker: changes tagged {tag}", f"tag/{tag}", ArticleFilter(tag=tag),
                 minor=minor, limit=limit)


@router.get("/hosts/{host}.atom")
def host_changes(request: Request, host: str, minor: bool = False, limit: Size = FEED_SIZE
                 ) -> Response:
    name = host.strip().lower()
    return _feed(request, f"tracker: changes on {name}", f"host/{name}",
                 ArticleFilter(host=name), minor=minor, limit=limit)
