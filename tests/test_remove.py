"""``tracker remove``: an article that has been checked, changed and notified about is removed
with everything stored about it, on SQLite and PostgreSQL; ``--keep-history`` only pauses it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from db.models import (
    Article,
    ArticleAlias,
    Body,
    Check,
    Delivery,
    DeliveryAttempt,
    Event,
    Paragraph,
    Version,
)
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.clihelp import tracker, tracker_json
from tracker.app import App

UNREACHABLE_HOOK = "http://127.0.0.1:9/hook"  # the discard port: nothing listens; deliveries wait


def count(app: App, model: Any, *where: Any) -> int:
    with session_scope(app.reader) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_remove_deletes_a_checked_article_and_everything_about_it(
    database_url: str, app: App, article_server: ArticleServer
) -> None:
    gone = article_server.add_article("gone", 1)
    kept = article_server.add_article("kept", 1)
    tracker(database_url, "subscribe", UNREACHABLE_HOOK)
    tracker(database_url, "add", gone, kept, gone + "?utm_source=feed")
    tracker(database_url, "check", "--all", check=False)
    article_server.advance("gone")
    tracker(database_url, "check", gone, check=False)
    with session_scope(app.reader) as session:
        gone_id = session.scalar(select(Article.id).where(Article.url == gone))
    assert count(app, Version, Version.article_id == gone_id) == 2
    assert count(app, Delivery, Delivery.article_id == gone_id) == 2  # waiting, unreachable
    with session_scope(app.reader) as session:
        gone_deliveries = list(session.scalars(
            select(Delivery.id).where(Delivery.article_id == gone_id)))
    assert count(app, DeliveryAttempt, DeliveryAttempt.delivery_id.in_(gone_deliveries)) >= 1
    kept_attempts = count(app, DeliveryAttempt) - count(
        app, DeliveryAttempt, DeliveryAttempt.delivery_id.in_(gone_deliveries))

    result = tracker(database_url, "remove", gone)

    assert "removed: " + gone in result.stdout
    assert "2 versions" in result.stdout
    for model, column in ((Version, Version.article_id), (Check, Check.article_id),
                          (Event, Event.article_id), (Delivery, Delivery.article_id),
                          (ArticleAlias, ArticleAlias.article_id)):
        assert count(app, model, column == gone_id) == 0, model.__name__
    assert count(app, Article, Article.id == gone_id) == 0
    assert count(app, Body) == 1  # the kept article's page
    # only the kept article's attempts remain (how many depends on when its retry fell due)
    assert count(app, DeliveryAttempt, DeliveryAttempt.delivery_id.in_(gone_deliveries)) == 0
    assert count(app, DeliveryAttempt) == kept_attempts > 0
    assert [a["url"] for a in tracker_json(database_url, "list")["articles"]] == [kept]
    assert "not tracked" in tracker(database_url, "history", gone, check=False).stderr

    from tracker.housekeeping import vacuum_paragraphs

    before = count(app, Paragraph)
    assert vacuum_paragraphs(app) > 0
    assert 0 < count(app, Paragraph) < before
    assert tracker_json(database_url, "show", kept)["paragraphs"]  # still complete


def test_remove_with_an_unknown_url_removes_nothing(
    sqlite_url: str, article_server: ArticleServer
) -> None:
    url = article_server.add_article("one", 1)
    tracker(sqlite_url, "add", url)
    tracker(sqlite_url, "check", url)
    result = tracker(sqlite_url, "remove", url, url + "-typo", check=False)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "not tracked" in result.stderr
    assert tracker_json(sqlite_url, "list")["articles"][0]["versions"] == 1


def test_keep_history_pauses_and_add_resumes(app: App, article_server: ArticleServer) -> None:
    from tracker.articles import add_articles, history, remove_articles
    from tracker.check import check_article
    from tracker.scheduling import claim_due

    url = article_server.add_article("paused", 1)
    [(_, _)] = add_articles(app, [url])
    with session_scope(app.reader) as session:
        article_id = session.scalar(select(Article.id))
    assert check_article(app, article_id).outcome == "first_seen"

    remove_articles(app, [url], keep_history=True)

    data = history(app, url)
    assert data["article"]["state"] == "paused"
    assert len(data["versions"]) == 1
    assert claim_due(app) == []  # never checked while paused
    add_articles(app, [url])
    assert history(app, url)["article"]["state"] == "active"
    assert [c.article_id for c in claim_due(app)] == [article_id]
