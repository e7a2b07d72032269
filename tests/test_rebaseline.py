"""A change of the extraction rules (a host's ignore rules or selector, an article's own
selector) re-baselines at once, so the next real edit of the page is reported as a change, in
``changes`` and with an event, instead of disappearing into a re-baseline."""

from __future__ import annotations

from sqlalchemy import select

from db.models import Article, Event, Version
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.clihelp import tracker, tracker_json
from tracker.app import App
from tracker.articles import add_articles
from tracker.check import check_article
from tracker.hosts import set_host

HOST = "127.0.0.1"


def stored(app: App) -> list[tuple[int, bool]]:
    with session_scope(app.reader) as session:
        rows = session.execute(select(Version.number, Version.rebaseline).order_by(Version.id))
        return [(number, rebaseline) for number, rebaseline in rows]


def event_types(app: App) -> list[str]:
    with session_scope(app.reader) as session:
        return list(session.scalars(select(Event.type).order_by(Event.id)))


def test_an_edit_after_a_host_rule_change_is_reported(
    database_url: str, app: App, article_server: ArticleServer
) -> None:
    """The issue's case: the page's bytes did not change (304), the rules did, then an editor
    changed the story."""
    url = article_server.add_article("story", 1)
    tracker(database_url, "add", url)
    tracker(database_url, "check", url)
    assert "not_modified" in tracker(database_url, "check", url).stdout  # the same page

    out = tracker(database_url, "host", "set", HOST, "--ignore", "^Mehr zum Thema").stdout
    article_server.advance("story")
    result = tracker(database_url, "check", url)

    assert "re-baselined 1 article(s)" in out
    assert "changed" in result.stdout
    changes = tracker_json(database_url, "changes")["changes"]
    assert [(c["from_version"], c["to_version"]) for c in changes] == [(2, 3)]
    assert stored(app) == [(1, False), (2, True), (3, False)]
    assert event_types(app) == ["article.first_seen", "article.changed"]


def test_an_edit_after_an_articles_own_selector_changed_is_reported(
    app: App, article_server: ArticleServer
) -> None:
    url = article_server.add_article("story", 1)
    [(_, _)] = add_articles(app, [url])
    with session_scope(app.reader) as session:
        article_id = session.scalar(select(Article.id))
    assert article_id is not None
    assert check_article(app, article_id).outcome == "first_seen"

    add_articles(app, [url], selector="div.article__content")
    article_server.advance("story")

    assert check_article(app, article_id).outcome == "changed"
    assert stored(app) == [(1, False), (2, True), (3, False)]


def test_without_kept_pages_the_next_check_rebaselines_even_if_the_page_is_the_same(
    make_app: object, article_server: ArticleServer
) -> None:
    app: App = make_app(keep_bodies_days=0)  # type: ignore[operator]
    url = article_server.add_article("story", 1)
    add_articles(app, [url])
    with session_scope(app.reader) as session:
        article_id = session.scalar(select(Article.id))
    assert article_id is not None
    check_article(app, article_id)

    set_host(app, HOST, ignore=["^Mehr zum Thema"])  # nothing stored to re-extract
    assert check_article(app, article_id).outcome == "rebaseline"  # no 304: extracted anew
    article_server.advance("story")

    assert check_article(app, article_id).outcome == "changed"
    assert event_types(app) == ["article.first_seen", "article.changed"]


def test_rules_that_change_nothing_for_an_article_store_nothing(
    app: App, article_server: ArticleServer
) -> None:
    url = article_server.add_article("story", 1)
    add_articles(app, [url], selector="div.article__content")  # its own selector wins
    with session_scope(app.reader) as session:
        article_id = session.scalar(select(Article.id))
    assert article_id is not None
    check_article(app, article_id)

    set_host(app, HOST, selector="article")

    assert stored(app) == [(1, False)]
    assert check_article(app, article_id).outcome in {"unchanged", "not_modified"}
