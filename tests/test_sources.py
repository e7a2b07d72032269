"""Following feeds and sitemaps (tracker.sources, tracker.polls) against the local news site,
on SQLite and PostgreSQL: what a poll creates, what a second poll does not, filters, sitemap
indexes, failures, and the constraints that keep a discovery single."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from db import source_queries as sq
from db.models import Article, Event, Source, SourceEntry
from db.session import session_scope
from tests.articleserver import ArticleServer
from tracker.app import App
from tracker.articles import add_articles, list_articles
from tracker.clock import utcnow
from tracker.errors import BlockedAddress, TrackerError
from tracker.polls import PollResult, claim_due_sources, poll_due_sources, poll_source
from tracker.sources import UnknownSource, add_source, list_sources, remove_source


def publish(server: ArticleServer, slugs: list[str]) -> None:
    for slug in slugs:
        server.add_article(slug, 1)


def follow(app: App, url: str, **options: Any) -> int:
    add_source(app, url, **options)
    with session_scope(app.reader) as session:
        row = sq.source_by_url(session, url)
        assert row is not None
        return row.id


def count(app: App, model: type[Any], *conditions: Any) -> int:
    with session_scope(app.reader) as session:
        statement = select(func.count()).select_from(model).where(*conditions)
        return int(session.scalar(statement) or 0)


def tracked_urls(app: App) -> list[str]:
    return [a["url"] for a in list_articles(app)["articles"]]


def entries(app: App, source_id: int) -> dict[str, SourceEntry]:
    with session_scope(app.reader) as session:
        return {e.url: e for e in sq.entries_of(session, source_id)}


def source_row(app: App, source_id: int) -> Source:
    with session_scope(app.reader) as session:
        row = sq.source_by_id(session, source_id)
        assert row is not None
        return row


def discovered_events(app: App) -> list[Event]:
    with session_scope(app.reader) as session:
        statement = select(Event).where(Event.type == "article.discovered").order_by(Event.id)
        return list(session.scalars(statement))


# --- the first poll -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rss", "atom", "sitemap"])
def test_a_poll_tracks_each_entry_with_one_discovered_event(
    app: App, article_server: ArticleServer, kind: str
) -> None:
    slugs = ["a", "b", "c"]
    publish(article_server, slugs)
    feed = article_server.add_listing("news", kind, slugs)
    source_id = follow(app, feed, tags=["welt", "asien"], article_interval=900)
    before = utcnow()

    result = poll_source(app, source_id)

    assert (result.outcome, result.kind) == ("polled", "sitemap" if kind == "sitemap" else "feed")
    assert (result.entries, result.new, result.discovered, result.linked) == (3, 3, 3, 0)
    assert sorted(tracked_urls(app)) == sorted(article_server.url(s) for s in slugs)
    with session_scope(app.reader) as session:
        articles = list(session.scalars(select(Article)))
    for article in articles:
        assert article.state == "active"
        assert article.next_check_at <= utcnow()  # due now: checked in the same pass
        assert article.source_id == source_id
        assert article.tags == ["asien", "welt"]
        assert article.base_interval == article.interval == 900
    events = discovered_events(app)
    assert sorted(e.article_id for e in events) == sorted(a.id for a in articles)
    headline = article_server._pages("story_de")[0].lines[0]
    for event in events:
        assert event.seq == 1
        assert event.data["source"] == feed
        assert event.data["title"] == headline
        assert event.created_at >= before
    assert {e.listed for e in entries(app, source_id).values()} == {True}
    assert source_row(app, source_id).entry_count == 3


def test_articles_without_an_article_interval_get_the_default(
    make_app, article_server: ArticleServer  # type: ignore[no-untyped-def]
) -> None:
    app = make_app(default_interval=1234)
    publish(article_server, ["a"])
    poll_source(app, follow(app, article_server.add_listing("news", "rss", ["a"])))
    [article] = list_articles(app)["articles"]
    assert article["base_interval"] == 1234


# --- polls with nothing new -----------------------------------------------------------------


def test_a_second_poll_with_validators_is_a_304_and_creates_nothing(
    app: App, article_server: ArticleServer
) -> None:
    publish(article_server, ["a", "b"])
    source_id = follow(app, article_server.add_listing("news", "rss", ["a", "b"]))
    poll_source(app, source_id)
    second = poll_source(app, source_id)
    assert second.outcome == "not_modified"
    [_, again] = article_server.listing_requests("news")
    assert again.status == 304
    assert again.headers.get("if-none-match")
    assert count(app, Article) == 2
    assert count(app, Event) == 2
    assert count(app, SourceEntry) == 2


def test_a_second_poll_without_validators_reads_it_all_and_creates_nothing(
    app: App, article_server: ArticleServer
) -> None:
    """No ETag, and every body differs (a build time, a comment): the whole path runs again,
    and finds every entry known."""
    publish(article_server, ["a", "b"])
    article_server.conditional = False
    source_id = follow(app, article_server.add_listing("news", "rss", ["a", "b"]))
    poll_source(app, source_id)
    second = poll_source(app, source_id)
    assert (second.outcome, second.matched, second.new, second.discovered) == ("polled", 2, 0, 0)
    _, again = article_server.listing_requests("news")
    assert (again.status, "if-none-match" in again.headers) == (200, False)
    assert count(app, Article) == 2
    assert count(app, Event) == 2
    assert count(app, SourceEntry) == 2


def test_the_same_bytes_again_is_nothing_to_do(app: App, article_server: ArticleServer) -> None:
    publish(article_server, ["a"])
    article_server.conditional = False  # sitemaps are byte-stable: the digest says "the same"
    source_id = follow(app, article_server.add_listing("news", "sitemap", ["a"]))
    poll_source(app, source_id)
    assert poll_source(app, source_id).outcome == "same_bytes"
    assert count(app, Article) == 1


def test_a_re_run_of_the_same_poll_is_refused_by_the_constraints(
    app: App, article_server: ArticleServer
) -> None:
    publish(article_server, ["a"])
    source_id = follow(app, article_server.add_listing("news", "rss", ["a"]))
    poll_source(app, source_id)
    [entry] = entries(app, source_id).values()
    now = utcnow()
    with pytest.raises(IntegrityError), session_scope(app.writer) as session:
        session.execute(insert(SourceEntry).values(
            source_id=source_id, url=entry.url, listed=True, first_seen_at=now, last_seen_at=now,
        ))
    with pytest.raises(IntegrityError), session_scope(app.writer) as session:
        session.execute(insert(Article).values(
            url=entry.url, host="127.0.0.1", state="active", base_interval=600, interval=600,
            next_check_at=now, created_at=now, failure_count=0, version_count=0, event_seq=0,
            tags=[], developing=False,
        ))


def test_concurrent_polls_of_one_source_discover_each_article_once(
    make_app, article_server: ArticleServer  # type: ignore[no-untyped-def]
) -> None:
    slugs = [f"s{i:02}" for i in range(30)]
    publish(article_server, slugs)
    article_server.conditional = False
    first, second = make_app(), make_app()
    source_id = follow(first, article_server.add_listing("news", "rss", slugs))
    results: list[PollResult] = []
    start = threading.Barrier(2)

    def poll(app: App) -> None:
        start.wait()
        results.append(poll_source(app, source_id))

    threads = [threading.Thread(target=poll, args=(a,)) for a in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # the source's row lock makes them take turns: the second finds every entry known
    assert sorted(r.discovered for r in results) == [0, 30]
    assert count(first, Article) == 30
    assert count(first, Event) == 30
    assert count(first, SourceEntry) == 30


# --- feeds that change ----------------------------------------------------------------------


def test_a_feed_that_gains_entries_tracks_only_the_new_ones(
    app: App, article_server: ArticleServer
) -> None:
    publish(article_server, ["a", "b", "c", "d"])
    source_id = follow(app, article_server.add_listing("news", "atom", ["a", "b"]))
    poll_source(app, source_id)
    article_server.add_entries("news", ["c", "d"])
    result = poll_source(app, source_id)
    assert (result.outcome, result.entries, result.new, result.discovered) == ("polled", 4, 2, 2)
    assert count(app, Article) == 4
    new_events = discovered_events(app)[2:]
    with session_scope(app.reader) as session:
        urls = {session.get(Article, e.article_id).url for e in new_events}  # type: ignore[union-attr]
    assert urls == {article_server.url("c"), article_server.url("d")}


def test_a_feed_that_loses_entries_keeps_their_articles(
    app: App, article_server: ArticleServer
) -> None:
    publish(article_server, ["a", "b", "c"])
    source_id = follow(app, article_server.add_listing("news", "rss", ["a", "b", "c"]))
    poll_source(app, source_id)
    article_server.remove_entries("news", ["a", "c"])
    result = poll_source(app, source_id)
    assert (result.entries, result.unlisted, result.discovered) == (1, 2, 0)
    listed = {url: e.listed for url, e in entries(app, source_id).items()}
    assert listed == {article_server.url("a"): False, article_server.url("b"): True,
                      article_server.url("c"): False}
    assert count(app, Article) == 3  # an article is never removed because its entry left
    assert count(app, Article, Article.state == "active") == 3

    article_server.add_entries("news", ["a"])  # listed again: the same entry, no new article
    result = poll_source(app, source_id)
    assert (result.new, result.discovered, result.unlisted) == (0, 0, 0)
    assert entries(app, source_id)[article_server.url("a")].listed
    assert count(app, Event) == 3


def test_an_entry_whose_url_is_tracked_already_is_linked_not_duplicated(
    app: App, article_server: ArticleServer
) -> None:
    publish(article_server, ["old", "new"])
    add_articles(app, [article_server.url("old")], interval=3600, tags=["mine"])
    source_id = follow(app, article_server.add_listing("news", "rss", ["new", "old"]),
                       tags=["feed"], article_interval=60)
    result = poll_source(app, source_id)
    assert (result.discovered, result.linked) == (1, 1)
    with session_scope(app.reader) as session:
        old = session.scalars(select(Article).where(Article.url == article_server.url("old"))).one()
    assert (old.base_interval, old.tags, old.source_id) == (3600, ["mine"], None)
    assert entries(app, source_id)[old.url].article_id == old.id
    assert [e.article_id for e in discovered_events(app)] != [old.id]
    assert count(app, Event, Event.article_id == old.id) == 0


def test_a_removed_article_is_not_brought_back_by_its_source(
    app: App, article_server: ArticleServer
) -> None:
    from tracker.articles import remove_articles

    publish(article_server, ["a"])
    article_server.conditional = False
    source_id = follow(app, article_server.add_listing("news", "rss", ["a"]))
    poll_source(app, source_id)
    remove_articles(app, [article_server.url("a")])
    poll_source(app, source_id)
    assert count(app, Article) == 0
    assert entries(app, source_id)[article_server.url("a")].article_id is None


# --- filters --------------------------------------------------------------------------------


def test_match_and_keywords_choose_the_entries(app: App, article_server: ArticleServer) -> None:
    slugs = ["politik-1", "politik-2", "sport-1", "politik-3"]
    publish(article_server, slugs)
    titles = {"politik-1": "Hitzewelle in Südeuropa", "politik-2": "Notenbank senkt Zinsen",
              "sport-1": "HITZEWELLE beim Marathon", "politik-3": "Neue Regierung"}
    feed = article_server.add_listing("news", "rss", slugs, titles=titles)
    source_id = follow(app, feed, match=r"/news/politik-\d+$", keywords=["hitzewelle", "Zinsen"])
    result = poll_source(app, source_id)
    assert (result.entries, result.matched, result.discovered) == (4, 2, 2)
    assert sorted(tracked_urls(app)) == [article_server.url("politik-1"),
                                         article_server.url("politik-2")]
    assert set(entries(app, source_id)) == set(tracked_urls(app))


def test_keywords_are_searched_in_the_summary_too(app: App, article_server: ArticleServer) -> None:
    publish(article_server, ["a"])
    # the listings' summary is the story's lead: it speaks of Pjöngjang, the title does not
    feed = article_server.add_listing("news", "rss", ["a"], titles={"a": "Staatsbesuch"})
    poll_source(app, follow(app, feed, keywords=["PJÖNGJANG"]))
    assert tracked_urls(app) == [article_server.url("a")]


def test_changing_the_filters_later_picks_up_entries_passed_over(
    app: App, article_server: ArticleServer
) -> None:
    publish(article_server, ["keep", "skip"])
    article_server.conditional = False
    feed = article_server.add_listing("news", "sitemap", ["keep", "skip"])
    source_id = follow(app, feed, match="keep")
    poll_source(app, source_id)
    assert tracked_urls(app) == [article_server.url("keep")]
    add_source(app, feed, match="")  # the same bytes, read again: the filters changed
    poll_source(app, source_id)
    assert sorted(tracked_urls(app)) == sorted(article_server.url(s) for s in ("keep", "skip"))


# --- sitemap indexes and compressed sitemaps ------------------------------------------------


def test_a_sitemap_index_is_followed_into_its_two_children(
    app: App, article_server: ArticleServer
) -> None:
    publish(article_server, ["a", "b", "c", "d"])
    article_server.add_listing("politik", "sitemap", ["a", "b"])
    article_server.add_listing("wirtschaft", "sitemap", ["c", "b"])
    index = article_server.add_listing("index", "sitemapindex", ["politik", "wirtschaft"])
    source_id = follow(app, index)
    result = poll_source(app, source_id)
    assert (result.kind, result.entries, result.discovered) == ("sitemapindex", 3, 3)
    assert sorted(tracked_urls(app)) == sorted(article_server.url(s) for s in "abc")

    assert poll_source(app, source_id).outcome == "same_bytes"  # index and children unchanged
    article_server.add_entries("wirtschaft", ["d"])  # a child changes, the index does not
    result = poll_source(app, source_id)
    assert (result.outcome, result.discovered) == ("polled", 1)
    assert article_server.url("d") in tracked_urls(app)
    assert len(article_server.listing_requests("wirtschaft")) == 3


def test_a_failing_child_sitemap_unlists_nothing(app: App, article_server: ArticleServer) -> None:
    publish(article_server, ["a", "b", "c"])
    article_server.add_listing("one", "sitemap", ["a"])
    article_server.add_listing("two", "sitemap", ["b"])
    source_id = follow(app, article_server.add_listing("index", "sitemapindex", ["one", "two"]))
    poll_source(app, source_id)
    article_server.set_listing_mode("two", "500")
    article_server.add_entries("one", ["c"])
    result = poll_source(app, source_id)
    assert (result.outcome, result.discovered, result.unlisted) == ("polled", 1, 0)
    assert result.error is not None
    assert "1 of 2 child sitemaps failed" in result.error
    assert entries(app, source_id)[article_server.url("b")].listed  # unknown, not gone
    assert source_row(app, source_id).last_error == result.error


def test_a_gzip_compressed_sitemap_is_read(app: App, article_server: ArticleServer) -> None:
    publish(article_server, ["a", "b"])
    feed = article_server.add_listing("news", "sitemap", ["a", "b"])
    article_server.set_listing_mode("news", "gzip")
    assert poll_source(app, follow(app, feed)).discovered == 2


def test_max_source_entries_caps_a_poll(make_app, article_server: ArticleServer) -> None:  # type: ignore[no-untyped-def]
    app = make_app(max_source_entries=3)
    slugs = [f"s{i}" for i in range(5)]
    publish(article_server, slugs)
    article_server.add_listing("one", "sitemap", slugs[:2])
    article_server.add_listing("two", "sitemap", slugs[2:])
    result = poll_source(app, follow(app, article_server.add_listing("i", "sitemapindex",
                                                                     ["one", "two"])))
    assert (result.entries, result.discovered) == (3, 3)


# --- failures -------------------------------------------------------------------------------


def test_a_failing_source_backs_off_and_recovers(app: App, article_server: ArticleServer) -> None:
    publish(article_server, ["a"])
    feed = article_server.add_listing("news", "rss", ["a"])
    article_server.set_listing_mode("news", "500")
    source_id = follow(app, feed, interval=60)
    delays = []
    for _ in range(2):
        started = utcnow()
        result = poll_source(app, source_id)
        assert result.outcome == "failed"
        assert result.error is not None
        assert "HTTP 500" in result.error
        row = source_row(app, source_id)
        delays.append((row.next_check_at - started).total_seconds())
    assert row.failure_count == 2
    assert row.last_error == result.error
    assert 54 <= delays[0] <= 67  # 1×, 2× the interval, ±10 %
    assert 108 <= delays[1] <= 133
    assert count(app, Article) == 0

    article_server.set_listing_mode("news", None)
    assert poll_source(app, source_id).discovered == 1
    row = source_row(app, source_id)
    assert (row.failure_count, row.last_error) == (0, None)


@pytest.mark.parametrize(
    ("mode", "message"),
    [("junk", "not an RSS or Atom feed or a sitemap"), ("404", "HTTP 404")],
)
def test_bad_sources_are_recorded_not_raised(
    app: App, article_server: ArticleServer, mode: str, message: str
) -> None:
    feed = article_server.add_listing("news", "rss", [])
    article_server.set_listing_mode("news", mode)
    result = poll_source(app, follow(app, feed))
    assert result.outcome == "failed"
    assert result.error is not None
    assert message in result.error
    assert message in (list_sources(app)["sources"][0]["last_error"] or "")


def test_an_html_page_given_as_a_source_names_its_feed(
    app: App, article_server: ArticleServer
) -> None:
    feed = article_server.add_listing("news", "rss", [])
    result = poll_source(app, follow(app, article_server.base_url + "/"))
    assert result.outcome == "failed"
    assert result.error is not None
    assert "an HTML page" in result.error
    assert feed in result.error


def test_an_article_page_given_as_a_source_says_it_is_html(
    app: App, article_server: ArticleServer
) -> None:
    result = poll_source(app, follow(app, article_server.add_article("a", 1)))
    assert result.error is not None
    assert "an HTML page, not a feed or sitemap" in result.error


# --- managing sources -----------------------------------------------------------------------


def test_add_validates_before_storing(app: App) -> None:
    with pytest.raises(TrackerError, match="not a valid regular expression"):
        add_source(app, "https://news.example/feed", match="politik-(")
    with pytest.raises(BlockedAddress, match="only http:// and https://"):
        add_source(app, "ftp://news.example/feed")
    with pytest.raises(TrackerError, match="below the minimum"):
        add_source(app, "https://news.example/feed", interval=5)
    assert list_sources(app) == {"sources": []}


def test_adding_again_updates_and_remove_keeps_the_articles(
    app: App, article_server: ArticleServer
) -> None:
    publish(article_server, ["a"])
    feed = article_server.add_listing("news", "rss", ["a"])
    assert add_source(app, feed, keywords=["not in the feed"]) == (feed, True)
    source_id = follow(app, feed, keywords=[""])  # again: '' removes the keywords
    poll_source(app, source_id)
    [listed] = list_sources(app)["sources"]
    assert set(listed) == {"url", "kind", "state", "match", "keywords", "tags", "interval",
                           "article_interval", "last_checked", "next_check", "entries",
                           "articles", "failures", "last_error"}
    assert (listed["url"], listed["kind"], listed["state"]) == (feed, "feed", "active")
    assert (listed["entries"], listed["articles"], listed["failures"]) == (1, 1, 0)
    assert listed["interval"] == app.settings.source_interval
    assert listed["last_checked"].endswith("Z")

    with pytest.raises(UnknownSource, match="is not a source"):
        remove_source(app, [feed, "https://news.example/unknown"])
    assert remove_source(app, [feed]) == 1
    assert list_sources(app) == {"sources": []}
    assert count(app, SourceEntry) == 0
    assert tracked_urls(app) == [article_server.url("a")]


def test_keywords_and_tags_are_cleaned(app: App) -> None:
    add_source(app, "https://news.example/feed", keywords=[" Kim ", "Kim", ""],
               tags=["b", "a", "b"], interval=120, article_interval=30)
    [listed] = list_sources(app)["sources"]
    assert (listed["keywords"], listed["tags"]) == (["Kim"], ["a", "b"])
    assert (listed["interval"], listed["article_interval"]) == (120, 30)


# --- scheduling -----------------------------------------------------------------------------


def test_due_sources_are_claimed_once_and_a_stale_claim_stores_nothing(
    app: App, article_server: ArticleServer
) -> None:
    publish(article_server, ["a"])
    source_id = follow(app, article_server.add_listing("news", "rss", ["a"]))
    [claim] = claim_due_sources(app)
    assert claim_due_sources(app) == []  # leased
    assert poll_source(app, source_id, lease_token="not-the-token").outcome == "skipped"
    assert count(app, Article) == 0
    assert poll_source(app, source_id, lease_token=claim.token).discovered == 1
    assert claim_due_sources(app) == []  # polled: next due in an interval
    with session_scope(app.writer) as session:
        session.execute(update(Source).values(next_check_at=utcnow() - dt.timedelta(seconds=1)))
    assert len(claim_due_sources(app)) == 1


def test_poll_due_sources_polls_due_ones_or_all(app: App, article_server: ArticleServer) -> None:
    publish(article_server, ["a", "b"])
    first = follow(app, article_server.add_listing("one", "rss", ["a"]))
    second = follow(app, article_server.add_listing("two", "rss", ["b"]))
    poll_source(app, first)
    assert [r.url for r in poll_due_sources(app)] == [article_server.listing_url("two")]
    assert poll_due_sources(app) == []
    assert len(poll_due_sources(app, all_=True)) == 2
    with session_scope(app.writer) as session:
        session.execute(update(Source).where(Source.id == first).values(state="paused"))
    assert [r.source_id for r in poll_due_sources(app, all_=True)] == [second]
