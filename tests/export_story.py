"""Stored histories for the export tests: the German fixture story checked through a real
local site, and longer synthetic histories stored through the product's own queries."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

from db import queries
from db.session import session_scope
from tests.articleserver import ArticleServer
from tracker.app import App
from tracker.articles import add_articles
from tracker.check import check_article
from tracker.diffstore import record_diff

STORY_VERSIONS = 5


def track_story(
    app: App, server: ArticleServer, slug: str = "story", tags: list[str] | None = None
) -> str:
    """Publish the story under ``slug`` and check it at each of its versions; its URL."""
    url = server.add_article(slug, 1)
    add_articles(app, [url], tags=tags)
    article_id = _article_id(app, url)
    for version in range(1, STORY_VERSIONS + 1):
        server.set_version(slug, version)
        result = check_article(app, article_id)
        assert result.ok, result
    return url


def _article_id(app: App, url: str) -> int:
    with session_scope(app.reader) as session:
        row = queries.article_by_url(session, url)
        assert row is not None
        return row.id


def store_history(app: App, url: str, versions: int, *, seed: int = 1,
                  start: dt.datetime | None = None) -> None:
    """``versions`` versions of a synthetic article, each a small edit of the one before
    (a paragraph changed, inserted or removed), stored as a check would store them."""
    rng = random.Random(seed)
    paragraphs = [f"Absatz {i} von {url}: erster Stand." for i in range(12)]
    when = start or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    add_articles(app, [url])
    with session_scope(app.writer) as session:
        article = queries.article_by_url(session, url)
        assert article is not None
        previous = None
        for number in range(1, versions + 1):
            if number > 1:
                _edit(rng, paragraphs, number)
            version = queries.store_version(
                session, article, paragraphs=[("text", p) for p in paragraphs],
                fields={"title": f"Titel {number // 3}", "content_hash": f"{number:032x}",
                        "extractor": "synthetic", "rebaseline": False},
                previous=previous, now=when + dt.timedelta(minutes=number),
            )
            record_diff(session, previous, version)
            previous = version


def _edit(rng: random.Random, paragraphs: list[str], number: int) -> None:
    choice = rng.random()
    position = rng.randrange(len(paragraphs))
    if choice < 0.6 or len(paragraphs) < 6:
        paragraphs[position] = paragraphs[position].replace("Stand", f"Stand {number}", 1)
    elif choice < 0.8:
        paragraphs.insert(position, f"Neuer Absatz in Version {number}.")
    else:
        del paragraphs[position]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]
