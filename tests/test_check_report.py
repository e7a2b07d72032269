"""``tracker check --report``: one command does a cron job's work, printing the changes the pass
found like ``tracker changes`` (issue 15, item 2)."""

from __future__ import annotations

import json

from db import queries
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.clihelp import tracker, tracker_json
from tracker import report
from tracker.app import App
from tracker.articles import add_articles
from tracker.check import check_article
from tracker.clock import utcnow


def test_report_prints_the_changes_of_the_pass_and_nothing_else(
    sqlite_url: str, article_server: ArticleServer
) -> None:
    urls = [article_server.add_article(slug, 2) for slug in ("one", "two", "three")]
    tracker(sqlite_url, "add", *urls)
    first = tracker(sqlite_url, "check", "--all", "--report")
    assert first.stdout == ""  # first sightings are not changes: cron sends no mail
    article_server.advance("two")
    text = tracker(sqlite_url, "check", "--all", "--report").stdout
    assert urls[1] in text
    assert "version 1 → 2" in text
    assert urls[0] not in text
    assert urls[2] not in text
    assert "checked" not in text  # the summary is not printed with --report
    assert tracker(sqlite_url, "check", "--all", "--report").stdout == ""


def test_report_as_json_adds_the_changes_to_the_pass_summary(
    sqlite_url: str, article_server: ArticleServer
) -> None:
    urls = [article_server.add_article(slug, 2) for slug in ("one", "two")]
    tracker(sqlite_url, "add", *urls)
    tracker(sqlite_url, "check", "--all")
    article_server.advance("one")
    data = json.loads(tracker(sqlite_url, "check", "--all", "--report", "--format", "json").stdout)
    assert data["outcomes"] == {"changed": 1, "not_modified": 1}
    [change] = data["changes"]
    assert (change["article"]["url"], change["from_version"], change["to_version"]) == (
        urls[0], 1, 2)
    # the same entry as the changes report shows
    assert tracker_json(sqlite_url, "changes", "--since", "1h")["changes"] == [change]


def test_report_as_markdown(sqlite_url: str, article_server: ArticleServer) -> None:
    url = article_server.add_article("one", 2)
    tracker(sqlite_url, "add", url)
    tracker(sqlite_url, "check", "--all")
    article_server.advance("one")
    markdown = tracker(sqlite_url, "check", "--all", "--report", "--format", "markdown").stdout
    assert markdown.startswith("## [")
    assert url in markdown
    # exactly what the changes report prints for the same change
    assert markdown == tracker(sqlite_url, "changes", "--since", "1h", "--format",
                               "markdown").stdout  # fmt: skip


def test_markdown_without_report_is_a_usage_error(sqlite_url: str) -> None:
    result = tracker(sqlite_url, "check", "--all", "--format", "markdown", check=False)
    assert result.returncode == 2
    assert "--report" in result.stderr


def test_failed_checks_go_to_stderr_with_the_report(
    sqlite_url: str, article_server: ArticleServer
) -> None:
    good, bad = article_server.add_article("good", 2), article_server.add_article("bad", 2)
    tracker(sqlite_url, "add", good, bad)
    tracker(sqlite_url, "check", "--all")
    article_server.advance("good")
    article_server.set_mode("bad", "500")
    result = tracker(sqlite_url, "check", "--all", "--report", check=False)
    assert result.returncode == 3
    assert good in result.stdout
    assert bad not in result.stdout
    assert f"failed {bad}" in result.stderr
    assert good not in result.stderr


def test_report_is_limited_to_the_versions_of_the_pass(
    app: App, article_server: ArticleServer
) -> None:
    """A change stored meanwhile by another process (another article) is not this pass's."""
    urls = [article_server.add_article(slug, 2) for slug in ("mine", "other")]
    add_articles(app, urls)
    with session_scope(app.reader) as session:
        ids = [queries.article_by_url(session, url).id for url in urls]  # type: ignore[union-attr]
    for article_id in ids:
        check_article(app, article_id)
    started = utcnow()
    article_server.advance("mine")
    article_server.advance("other")
    mine, other = (check_article(app, article_id) for article_id in ids)
    assert (mine.outcome, other.outcome) == ("changed", "changed")
    entries = report.changes(app, started, only={(mine.article_id, mine.version)})
    assert [entry.url for entry in entries] == [urls[0]]
    assert len(report.changes(app, started)) == 2
    assert report.changes(app, started, only=set()) == []
