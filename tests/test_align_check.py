"""A real check of a hostile page: one paragraph of 1.2 MB, edited, against a local server.

The diff runs inside ``check_article`` on what the extractor made of the page; before the
diff was bounded, this paragraph took 2 GB and the check died of ``MemoryError``.
"""

from __future__ import annotations

import random
import sqlite3
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from db import queries
from db.session import session_scope
from tests.articleserver import ArticleServer
from tracker import check as check_module
from tracker.app import App
from tracker.articles import add_articles
from tracker.check import check_article
from tracker.config import load_settings
from tracker.diff import diff_documents


def huge_story(root: Path) -> Path:
    """Story "huge": a headline, a normal paragraph and one of 1.2 MB; v2 edits three words."""
    rng = random.Random(9)
    words = [f"{rng.choice(['Kim', 'Putin', 'Moskau', 'Seoul'])}{k}" for k in range(120_000)]
    edited = list(words)
    for k in (30_000, 60_000, 90_000):
        edited[k] = "geändert"
    story = root / "huge"
    story.mkdir(parents=True)
    for number, body in ((1, words), (2, edited)):
        lines = ["Ein sehr langer Artikel", "Der erste Absatz ist kurz und normal.", " ".join(body)]
        (story / f"v{number}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture
def hostile_server(tmp_path: Path) -> Iterator[ArticleServer]:
    with ArticleServer(huge_story(tmp_path / "stories")) as server:
        yield server


def test_check_of_an_edited_huge_paragraph_stores_the_change_in_bounded_memory(
    sqlite_url: str, hostile_server: ArticleServer
) -> None:
    app = App(load_settings(database_url=sqlite_url))
    try:
        url = hostile_server.add_article("huge", 1, story="huge")
        add_articles(app, [url])
        with session_scope(app.reader) as session:
            row = queries.article_by_url(session, url)
            assert row is not None
            article_id = row.id
        assert check_article(app, article_id).outcome == "first_seen"
        hostile_server.set_version("huge", 2)
        tracemalloc.start()
        started = time.process_time()
        try:
            result = check_article(app, article_id)
            cpu = time.process_time() - started
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        with session_scope(app.reader) as session:
            versions = queries.versions_of(session, article_id)
            lengths = [[len(text) for _, text in queries.paragraphs_of(session, version)]
                       for version in versions]
    finally:
        app.close()
    assert (result.outcome, result.version) == ("changed", 2)
    assert min(max(sizes) for sizes in lengths) > 1_200_000  # the paragraph itself, stored
    # Python's allocations (the unbounded diff: 2 GB) and CPU time (not wall time, which other
    # processes on the machine stretch).
    assert peak < 100 * 2**20
    assert cpu < 20


def _write_lock_is_free(database: Path) -> bool:
    """Whether another writer could start a write transaction on the SQLite file now."""
    connection = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:  # "database is locked": a writer holds it
        return False
    else:
        connection.execute("ROLLBACK")
        return True
    finally:
        connection.close()


def test_the_diff_runs_before_the_write_transaction(
    sqlite_url: str, article_server: ArticleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 9: a long diff must not hold SQLite's write lock (other writers stalled 6.6 s)."""
    database = Path(sqlite_url.removeprefix("sqlite:///"))
    seen: list[bool] = []

    def diff_and_look(*args: Any, **kwargs: Any) -> Any:
        seen.append(_write_lock_is_free(database))
        return diff_documents(*args, **kwargs)

    monkeypatch.setattr(check_module, "diff_documents", diff_and_look)
    app = App(load_settings(database_url=sqlite_url))
    try:
        url = article_server.add_article("story", 1)
        add_articles(app, [url])
        with session_scope(app.reader) as session:
            row = queries.article_by_url(session, url)
            assert row is not None
            article_id = row.id
        assert check_article(app, article_id).outcome == "first_seen"
        article_server.advance("story")
        assert check_article(app, article_id).outcome == "changed"
    finally:
        app.close()
    assert seen == [True]  # diffed once, with nobody holding the write lock
    # The probe can fail: inside the write transaction the lock is taken.
    app = App(load_settings(database_url=sqlite_url))
    try:
        with session_scope(app.writer) as session:
            queries.latest_version(session, article_id)
            assert not _write_lock_is_free(database)
    finally:
        app.close()
