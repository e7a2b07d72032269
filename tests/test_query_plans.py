"""SQLite's plans of the reads that join an article to its latest version.

``db.models.Version`` is mapped over ``versions JOIN version_meta``. An outer join to it is an
outer join to a nested join, which SQLite materialises whole (every version of every article)
before looking up the one it needs: 250 ms for each article page, article row and batch of
check targets at 100,000 articles. These reads join the two tables one after the other, so
each step is an index lookup; every statement they send is planned here, on a database with
enough versions for the planner to tell.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from db import meta, queries, refs, web_queries
from db.models import Article
from db.session import session_scope
from tracker.app import App
from tracker.config import load_settings

pytestmark = pytest.mark.usefixtures("sqlite_url")

ARTICLES = 300


def _database(url: str) -> App:
    app = App(load_settings(database_url=url))
    import datetime as dt

    now = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
    pid = refs.paragraph_id("text", "Ein Absatz.")
    with session_scope(app.writer) as session:
        queries._insert_paragraphs(session, {pid: ("text", "Ein Absatz.")})
    articles, versions = [], []
    for n in range(1, ARTICLES + 1):
        articles.append({"id": n, "url": f"https://news.example/{n}", "host": "news.example",
                         "state": "active", "base_interval": 600, "interval": 600,
                         "next_check_at": now, "created_at": now, "version_count": 2,
                         "tags": []})  # fmt: skip
        for number in (1, 2):
            versions.append({"article_id": n, "number": number, "fetched_at": now,
                             "content_hash": f"{n * 10 + number:032x}",
                             "title": f"Schlagzeile {n}.{number}", "extractor": "test",
                             "rebaseline": False, "paragraph_count": 1,
                             "paragraph_refs": refs.encode([pid], None, 1)})  # fmt: skip
    with app.engine.begin() as connection:
        connection.execute(insert(Article), articles)
        meta.insert_versions(connection, versions)
        connection.exec_driver_sql("ANALYZE")
    return app


def _plans(app: App, read: Callable[[Session], Any]) -> tuple[Any, list[list[str]]]:
    """What ``read`` returns, and SQLite's plan of every statement it sent."""
    sent: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    event.listen(app.engine, "before_cursor_execute", keep)
    try:
        with session_scope(app.reader) as session:
            found = read(session)
    finally:
        event.remove(app.engine, "before_cursor_execute", keep)
    plans = []
    with app.engine.connect() as connection:
        for statement, parameters in sent:
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            plans.append([row[-1] for row in rows])
    return found, plans


def _no_whole_join(plans: list[list[str]]) -> None:
    assert plans
    for plan in plans:
        assert not any("MATERIALIZE" in step for step in plan), plan
        assert not any(step.startswith("SCAN versions") for step in plan), plan


@pytest.fixture
def app(sqlite_url: str) -> Any:
    made = _database(sqlite_url)
    yield made
    made.close()


def test_an_article_row_looks_its_latest_version_up(app: App) -> None:
    row, plans = _plans(app, lambda session: web_queries.article_row(session, 7))
    assert (row.id, row.title) == (7, "Schlagzeile 7.2")
    _no_whole_join(plans)


def test_the_articles_page_looks_each_latest_version_up(app: App) -> None:
    for sort in web_queries.ARTICLE_SORTS:
        rows, plans = _plans(app, lambda session, sort=sort: web_queries.article_page(
            session, web_queries.ArticleFilter(), sort=sort, limit=5))  # fmt: skip
        assert len(rows) == 5
        assert all(row.title == f"Schlagzeile {row.id}.2" for row in rows)
        _no_whole_join(plans)


def test_the_check_targets_look_each_latest_version_up(app: App) -> None:
    rows, plans = _plans(app, lambda session: queries.check_targets(session, [3, 4, 5]))
    assert sorted((r.id, r.content_hash, r.extractor) for r in rows) == [
        (n, f"{n * 10 + 2:032x}", "test") for n in (3, 4, 5)
    ]
    _no_whole_join(plans)


def test_the_changes_page_looks_the_version_before_up(app: App) -> None:
    rows, plans = _plans(app, lambda session: web_queries.change_page(
        session, web_queries.ArticleFilter(), limit=5))  # fmt: skip
    assert len(rows) == 5
    assert all(row.previous_hash == f"{row.article_id * 10 + 1:032x}" for row in rows)
    for plan in plans:
        assert not any("MATERIALIZE" in step for step in plan), plan
