"""Sources from the outside: the ``tracker`` command in subprocesses (as a user or a cron line
runs it), the embedded service, and the article.discovered webhook a subscriber receives."""

from __future__ import annotations

import signal

import pytest

from tests.articleserver import ArticleServer
from tests.clihelp import tracker, tracker_json
from tests.receiver import WebhookReceiver
from tests.test_payload import assert_valid
from tests.test_run import count, make_due, start_run, wait_for
from tracker.app import App
from tracker.delivery import deliver_due
from tracker.polls import poll_due_sources
from tracker.sources import add_source
from tracker.subscriptions import subscribe


def test_check_all_discovers_and_checks_the_new_articles_in_one_pass(
    database_url: str, article_server: ArticleServer
) -> None:
    for slug in ("a", "b", "c", "d"):
        article_server.add_article(slug, 1)
    feed = article_server.add_listing("news", "rss", ["a", "b", "c"])
    added = tracker(database_url, "source", "add", feed, "--tag", "welt", "--article-every", "15m")
    assert added.stdout.strip() == f"added source: {feed}"

    data = tracker_json(database_url, "check", "--all")
    [polled] = data["sources"]
    assert (polled["url"], polled["outcome"], polled["discovered"]) == (feed, "polled", 3)
    assert data["outcomes"] == {"first_seen": 3}
    articles = tracker_json(database_url, "list")["articles"]
    assert sorted(a["url"] for a in articles) == [article_server.url(s) for s in "abc"]
    assert {(a["versions"], a["base_interval"], tuple(a["tags"])) for a in articles} == {
        (1, 900, ("welt",))
    }
    [source] = tracker_json(database_url, "sources")["sources"]
    assert (source["kind"], source["entries"], source["articles"]) == ("feed", 3, 3)

    article_server.add_entries("news", ["d"])
    article_server.remove_entries("news", ["a"])
    text = tracker(database_url, "check", "--all").stdout
    assert f"discovered 1 new article(s) in {feed}" in text
    assert f"first_seen {article_server.url('d')}" in text
    assert "polled 1 source(s): 1 new article(s)" in text
    assert tracker(database_url, "source", "remove", feed).stdout.strip() == "removed 1 source(s)"
    assert tracker_json(database_url, "sources") == {"sources": []}
    assert len(tracker_json(database_url, "list")["articles"]) == 4


def test_check_polls_the_due_sources_before_the_due_articles(
    sqlite_url: str, article_server: ArticleServer
) -> None:
    article_server.add_article("a", 1)
    feed = article_server.add_listing("news", "sitemap", ["a"])
    tracker(sqlite_url, "source", "add", feed, "--every", "1h")
    first = tracker_json(sqlite_url, "check")
    assert [s["discovered"] for s in first["sources"]] == [1]
    assert first["outcomes"] == {"first_seen": 1}
    second = tracker_json(sqlite_url, "check")  # the source is not due again for an hour
    assert (second["sources"], second["results"]) == ([], [])
    named = tracker_json(sqlite_url, "check", article_server.url("a"))
    assert named["sources"] == []  # named articles: no sources polled


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["source", "add", "http://127.0.0.1/feed", "--match", "politik-("],
         "--match 'politik-(' is not a valid regular expression"),
        (["source", "add", "ftp://127.0.0.1/feed"], "only http:// and https://"),
        (["source", "add", "http://127.0.0.1/feed", "--every", "5s"], "below the minimum of 10s"),
        (["source", "add", "http://127.0.0.1/feed", "--article-every", "soon"], "not a duration"),
        (["source", "remove", "http://127.0.0.1/unknown"], "is not a source"),
    ],
)
def test_source_mistakes_are_one_clear_line(sqlite_url: str, args: list[str], message: str) -> None:
    result = tracker(sqlite_url, *args, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("tracker: error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert tracker_json(sqlite_url, "sources") == {"sources": []}


def test_sources_prints_a_table(
    sqlite_url: str, article_server: ArticleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: no cell is folded
    feed = article_server.add_listing("news", "atom", [])
    tracker(sqlite_url, "source", "add", feed, "--match", "/news/", "--keyword", "Kim",
            "--keyword", "Putin", "--every", "2m")
    table = tracker(sqlite_url, "sources").stdout
    assert "1 source(s)" in table
    row = next(line for line in table.splitlines() if feed in line)
    assert "match /news/; keywords Kim, Putin" in row
    assert "│ 2m " in row


def test_run_follows_a_feed_as_it_gains_entries(
    sqlite_url: str, article_server: ArticleServer
) -> None:
    for slug in ("first", "second"):
        article_server.add_article(slug, 1)
    feed = article_server.add_listing("news", "atom", ["first"])
    tracker(sqlite_url, "source", "add", feed, "--every", "10s")
    service = start_run(sqlite_url)
    try:
        wait_for(lambda: count(sqlite_url, "select count(*) from versions") == 1)
        article_server.add_entries("news", ["second"])
        make_due(sqlite_url)  # the feed's next poll now rather than at the end of its 10 s
        wait_for(lambda: count(sqlite_url, "select count(*) from versions") == 2, timeout=25)
    finally:
        service.send_signal(signal.SIGINT)
        output, _ = service.communicate(timeout=30)
    assert service.returncode == 0, output
    assert count(sqlite_url, "select count(*) from events where type = 'article.discovered'") == 2


def test_subscribers_receive_article_discovered(
    app: App, article_server: ArticleServer
) -> None:
    article_server.add_article("a", 1)
    feed = article_server.add_listing("news", "rss", ["a"], titles={"a": "Eilmeldung"})
    with WebhookReceiver() as receiver:
        receiver.set_secrets([subscribe(app, receiver.url, events=["article.discovered"]).secret])
        add_source(app, feed)
        [poll] = poll_due_sources(app)
        assert poll.discovered == 1
        assert [d.outcome for d in deliver_due(app)] == ["delivered"]
        [message] = receiver.received
    body = assert_valid(message["body"])
    assert body["type"] == "article.discovered"
    assert body["data"]["article"] == {"url": article_server.url("a"), "title": "Eilmeldung"}
    assert body["data"]["source"] == feed
    assert body["data"]["title"] == "Eilmeldung"
    assert body["data"]["published"].endswith("Z")
