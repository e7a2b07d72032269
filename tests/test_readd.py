"""Adding a tracked article or a followed source again changes only what is given: tags and
keywords add up, intervals, selectors and the match filter are replaced only when given."""

from __future__ import annotations

from typing import Any

from tests.articleserver import ArticleServer
from tests.clihelp import tracker, tracker_json


def source(database_url: str) -> dict[str, Any]:
    [found] = tracker_json(database_url, "sources")["sources"]
    return found  # type: ignore[no-any-return]


def article(database_url: str) -> dict[str, Any]:
    [found] = tracker_json(database_url, "list")["articles"]
    return found  # type: ignore[no-any-return]


def test_adding_a_source_again_keeps_what_is_not_given(
    database_url: str, article_server: ArticleServer
) -> None:
    feed = article_server.add_listing("news", "rss", [])
    tracker(database_url, "source", "add", feed, "--tag", "ausland", "--keyword", "Wahl",
            "--every", "30s", "--article-every", "1m")

    tracker(database_url, "source", "add", feed, "--match", "/news/")

    got = source(database_url)
    assert (got["tags"], got["keywords"]) == (["ausland"], ["Wahl"])
    assert (got["interval"], got["article_interval"], got["match"]) == (30, 60, "/news/")
    tracker(database_url, "source", "add", feed, "--tag", "politik", "--keyword", "Regierung",
            "--match", "", "--every", "2m")
    got = source(database_url)
    assert got["tags"] == ["ausland", "politik"]  # tags add up, as with tracker add --tag
    assert got["keywords"] == ["Regierung"]  # a filter given replaces the filter
    assert (got["interval"], got["article_interval"], got["match"]) == (120, 60, None)
    tracker(database_url, "source", "add", feed, "--keyword", "")
    assert source(database_url)["keywords"] == []


def test_adding_an_article_again_keeps_its_interval_and_selector(
    database_url: str, article_server: ArticleServer
) -> None:
    url = article_server.add_article("a", 1)
    tracker(database_url, "add", url, "--every", "30m", "--selector", "article", "--tag", "a")

    tracker(database_url, "add", url)
    tracker(database_url, "add", url, "--tag", "b")

    got = article(database_url)
    assert (got["base_interval"], got["selector"], got["tags"]) == (1800, "article", ["a", "b"])
    tracker(database_url, "add", url, "--selector", "", "--every", "1h")
    got = article(database_url)
    assert (got["base_interval"], got["selector"]) == (3600, None)
