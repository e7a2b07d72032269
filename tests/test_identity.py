"""One story, one article: tracking parameters, AMP editions and canonical links fold URLs of
the same story into one tracked article; a misleading canonical link does not."""

from __future__ import annotations

import pytest

from db import queries
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.clihelp import tracker, tracker_json
from tracker.app import App
from tracker.articles import add_articles, history
from tracker.document import ExtractedPage, Metadata, Paragraph
from tracker.identity import is_variant, normalize_url, usable_canonical
from tracker.merge import fold_duplicate
from tracker.passes import check_many

# --- URLs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("https://News.Example/a/story?utm_source=x&utm_medium=social", "https://news.example/a/story"),
        ("https://news.example/a/story?id=7&fbclid=AbC&gclid=1", "https://news.example/a/story?id=7"),
        ("https://news.example:443/a/story#comments", "https://news.example/a/story"),
        ("http://news.example:8080/a?b=2&a=1", "http://news.example:8080/a?b=2&a=1"),
        ("https://news.example/a/story?amp=1", "https://news.example/a/story"),
        ("https://news.example/a/story?outputType=amp", "https://news.example/a/story"),
        ("https://news.example", "https://news.example/"),
        ("https://news.example/a?mc_cid=1&mc_eid=2&page=2", "https://news.example/a?page=2"),
    ],
)  # fmt: skip
def test_normalize_url_drops_what_only_says_where_a_reader_came_from(
    given: str, stored: str
) -> None:
    assert normalize_url(given) == stored


def test_normalize_url_keeps_parameters_that_select_the_article() -> None:
    url = "https://news.example/article.php?id=123&cid=9&page=2&share=ok"
    assert normalize_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://news.example/politik/story/amp",
        "https://news.example/amp/politik/story",
        "https://news.example/politik/story.amp.html",
        "https://amp.news.example/politik/story",
        "https://news-example.cdn.ampproject.org/c/s/news.example/story",
        "https://m.news.example/politik/story",
        "https://mobile.news.example/politik/story",
        "https://news.example/politik/story?amp",
    ],
)
def test_amp_and_mobile_editions_are_variants(url: str) -> None:
    assert is_variant(url)


@pytest.mark.parametrize(
    "url", ["https://news.example/politik/story", "https://www.news.example/camping/story",
            "https://news.example/damp-weather"],
)  # fmt: skip
def test_pages_themselves_are_not_variants(url: str) -> None:
    assert not is_variant(url)


def test_a_canonical_link_to_the_home_page_or_to_itself_names_no_article() -> None:
    page = "https://news.example/politik/story"
    assert usable_canonical("https://news.example/", page) is None
    assert usable_canonical("https://news.example", page) is None
    assert usable_canonical(page + "#top", page) is None
    assert usable_canonical("javascript:void(0)", page) is None
    assert usable_canonical(None, page) is None
    given = "https://News.example/politik/story?utm_source=x"
    assert usable_canonical(given, page + "/amp") == page


# --- one story under three URLs ---------------------------------------------------------------


def urls_of_one_story(server: ArticleServer, slug: str = "story") -> tuple[str, str, str]:
    canonical = server.add_article(slug, 2)
    return canonical, f"{canonical}?utm_source=newsletter&utm_campaign=morning", f"{canonical}/amp"


def test_adding_a_url_with_tracking_parameters_finds_the_tracked_article(
    app: App, article_server: ArticleServer
) -> None:
    canonical, tracked_link, _ = urls_of_one_story(article_server)
    assert add_articles(app, [canonical]) == [(canonical, True)]
    assert add_articles(app, [tracked_link]) == [(canonical, False)]
    with session_scope(app.reader) as session:
        assert [a.url for a in queries.list_articles(session)] == [canonical]


def test_one_story_under_three_urls_is_tracked_once(
    app: App, article_server: ArticleServer
) -> None:
    canonical, tracked_link, amp = urls_of_one_story(article_server)
    add_articles(app, [amp, tracked_link, canonical])
    with session_scope(app.reader) as session:
        ids = [a.id for a in queries.list_articles(session)]
    assert len(ids) == 2  # the tracking parameters were dropped when it was added
    outcomes = sorted(r.outcome for r in check_many(app, ids, concurrency=1))
    # whichever is checked first stores the story; the other turns out to be the same story
    assert outcomes in (["first_seen", "merged"], ["first_seen", "unchanged"])
    check_many(app, ids, concurrency=1)
    with session_scope(app.reader) as session:
        [article] = queries.list_articles(session)
        assert article.state == "active"
        assert article.version_count == 1
        for url in (amp, tracked_link, canonical):
            assert queries.resolve_url(session, normalize_url(url)).id == article.id
        events = [e.type for e in queries.events_of(session)]
    assert events == ["article.first_seen"]
    assert add_articles(app, [amp])[0][1] is False


def test_the_amp_edition_checked_first_makes_its_canonical_url_find_it(
    app: App, article_server: ArticleServer
) -> None:
    canonical, _, amp = urls_of_one_story(article_server)
    [(stored, _)] = add_articles(app, [amp])
    [result] = check_many(app, _ids(app), concurrency=1)
    assert result.outcome == "first_seen"
    assert add_articles(app, [canonical]) == [(stored, False)]
    assert history(app, canonical)["article"]["url"] == amp
    with session_scope(app.reader) as session:
        assert len(queries.list_articles(session)) == 1


def test_cli_add_of_every_url_of_a_story_lists_one_article(
    sqlite_url: str, article_server: ArticleServer
) -> None:
    canonical, tracked_link, amp = urls_of_one_story(article_server)
    tracker(sqlite_url, "add", canonical)
    tracker(sqlite_url, "check")
    tracker(sqlite_url, "add", tracked_link, amp)
    tracker(sqlite_url, "check", "--all")
    listed = tracker_json(sqlite_url, "list")["articles"]
    assert [(a["url"], a["versions"]) for a in listed] == [(canonical, 1)]


# --- merging, and a canonical link that is not to be believed -------------------------------


def _ids(app: App) -> list[int]:
    with session_scope(app.reader) as session:
        return [a.id for a in queries.list_articles(session)]


def page_naming(canonical: str, title: str, texts: list[str]) -> ExtractedPage:
    return ExtractedPage(
        tuple(Paragraph(t) for t in texts), Metadata(title=title, canonical_url=canonical),
        "test extractor",
    )


def stored_story(app: App, server: ArticleServer, slug: str) -> tuple[int, str]:
    url = server.add_article(slug, 2)
    add_articles(app, [url])
    [article_id] = [i for i in _ids(app) if _url(app, i) == url]
    check_many(app, [article_id])
    return article_id, url


def _url(app: App, article_id: int) -> str:
    with session_scope(app.reader) as session:
        row = queries.article_by_id(session, article_id)
        assert row is not None
        return row.url


def test_a_canonical_link_to_another_story_merges_nothing(
    app: App, article_server: ArticleServer
) -> None:
    first, first_url = stored_story(app, article_server, "first")
    add_articles(app, ["https://news.example/other-story"])
    with session_scope(app.writer) as session:
        row = queries.article_by_url(session, "https://news.example/other-story")
        assert row is not None
        # a site pointing every page's canonical link at one article
        page = page_naming(first_url, "Ganz andere Geschichte", ["Ein anderer Text."] * 3)
        assert fold_duplicate(session, row, page, row.created_at) is None
    assert sorted(_ids(app)) == [first, first + 1]


def test_two_articles_with_history_merge_into_the_one_with_more(
    app: App, article_server: ArticleServer
) -> None:
    keeper, keeper_url = stored_story(app, article_server, "keeper")
    article_server.advance("keeper")
    check_many(app, [keeper])  # two versions
    folded, folded_url = stored_story(app, article_server, "folded")  # one version
    with session_scope(app.reader) as session:
        latest = queries.latest_version(session, keeper)
        assert latest is not None
        assert latest.title
        texts = [t for _, t in queries.paragraphs_of(session, latest)]
    with session_scope(app.writer) as session:
        row = queries.lock_article(session, folded)
        assert row is not None
        page = page_naming(keeper_url, latest.title, texts)
        survivor = fold_duplicate(session, row, page, row.created_at)
        assert survivor is not None
        assert survivor.id == keeper
    with session_scope(app.reader) as session:
        kept_history = queries.article_by_id(session, folded)
        assert kept_history is not None
        assert kept_history.state == "merged"
        assert kept_history.version_count == 1  # its history stays readable
        assert queries.resolve_url(session, folded_url).id == keeper
        assert folded not in [a.id for a in queries.list_articles(session)
                              if a.state in queries.CHECKED_STATES]
