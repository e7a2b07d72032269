"""Helpers of the web view's tests: a story stored by real checks, the server on a free port."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import httpx

from tests.articleserver import ArticleServer
from tracker.app import App
from tracker.articles import add_articles
from tracker.passes import check_pass


def track_story(
    app: App, server: ArticleServer, slug: str = "story", versions: Iterable[int] = (1, 2, 3, 4),
    tags: Sequence[str] = (),
) -> str:
    """Publish the German fixture story under ``slug`` and store its versions by checking the
    page after each edit, as the service would; returns the article URL."""
    steps = list(versions)
    url = server.add_article(slug, steps[0])
    add_articles(app, [url], tags=list(tags) or None)
    for number, version in enumerate(steps):
        if number:
            server.set_version(slug, version)
        results = check_pass(app, [url], all_=False, concurrency=1)
        assert all(r.ok for r in results), results
    return url


def get(base_url: str, path: str, **params: object) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=30, follow_redirects=False) as client:
        return client.get(path, params={k: v for k, v in params.items() if v is not None})
