"""``tracker list --limit/--offset``: a page of a large database (issue 15, item 5)."""

from __future__ import annotations

from tests.clihelp import tracker, tracker_json
from tracker.app import App
from tracker.articles import add_articles, list_articles

URLS = [f"https://example.org/news/story-{n}" for n in range(5)]


def test_pages_cover_every_article_once_in_the_order_added(app: App) -> None:
    add_articles(app, URLS)
    pages, offset = [], 0
    while offset is not None:
        page = list_articles(app, limit=2, offset=offset)
        pages.append([a["url"] for a in page["articles"]])
        offset = page["next_offset"]
    assert pages == [URLS[0:2], URLS[2:4], URLS[4:5]]
    assert list_articles(app, limit=5)["next_offset"] is None  # exactly full: no next page
    assert list_articles(app, limit=2, offset=10) == {"articles": [], "next_offset": None}
    assert [a["url"] for a in list_articles(app)["articles"]] == URLS
    assert "next_offset" not in list_articles(app)


def test_list_command_pages(sqlite_url: str) -> None:
    tracker(sqlite_url, "add", *URLS)
    page = tracker_json(sqlite_url, "list", "--limit", "2", "--offset", "1")
    assert [a["url"] for a in page["articles"]] == URLS[1:3]
    assert page["next_offset"] == 3
    text = tracker(sqlite_url, "list", "--limit", "1", "--offset", "4").stdout
    assert text.startswith("1 tracked article(s)")  # the table has the page's one row
    refused = tracker(sqlite_url, "list", "--limit", "0", check=False)
    assert refused.returncode == 2
