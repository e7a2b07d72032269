"""source.failing and source.recovered (issue 12): a feed served by the local news site fails
``failing_after`` polls in a row, then comes back; a signed webhook receiver and a json://
channel on 127.0.0.1 are told once each, in order; on SQLite and PostgreSQL."""

from __future__ import annotations

import html
from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import select, text

from db import source_queries as sq
from db import webhook_queries as wq
from db.models import Delivery, Event
from db.session import (
    HEAD_REVISION,
    alembic_config,
    current_revision,
    make_engine,
    session_scope,
    upgrade,
)
from tests.articleserver import ArticleServer
from tests.pageserver import PageServer
from tests.receiver import WebhookReceiver
from tests.test_payload import assert_valid
from tests.test_webhooks import deliver_until, hook
from tracker.app import App
from tracker.channels import add_channel
from tracker.delivery import deliver_due, dispatch_events
from tracker.polls import poll_source
from tracker.sources import add_source, remove_source
from tracker.subscriptions import subscribe

FAILING_AFTER = 3


@pytest.fixture
def watch_app(make_app):  # type: ignore[no-untyped-def]
    return make_app(failing_after=FAILING_AFTER, webhook_retry_schedule="1s,1s,1s",
                    webhook_timeout=2.0)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hooks:
        yield hooks


@pytest.fixture
def chat() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(verify=False) as service:
        yield service


def follow_feed(app: App, server: ArticleServer) -> tuple[int, str]:
    server.add_article("a", 1)
    feed = server.add_listing("news", "rss", ["a"])
    add_source(app, feed, interval=60)
    with session_scope(app.reader) as session:
        row = sq.source_by_url(session, feed)
        assert row is not None
        return row.id, feed


def poll(app: App, source_id: int, times: int) -> list[str | None]:
    return [poll_source(app, source_id).episode for _ in range(times)]


def source_events(app: App) -> list[Event]:
    with session_scope(app.reader) as session:
        statement = select(Event).where(Event.source_id.is_not(None)).order_by(Event.id)
        return list(session.scalars(statement))


def types(receiver: WebhookReceiver) -> list[str]:
    return [m["body"]["type"] for m in receiver.received]


def test_one_failing_then_one_recovered_reach_a_webhook_and_a_channel(
    watch_app: App, article_server: ArticleServer, receiver: WebhookReceiver,
    chat: WebhookReceiver,
) -> None:
    watchdog = ["source.failing", "source.recovered"]  # not the article the feed lists
    hook(watch_app, receiver, events=watchdog)
    add_channel(watch_app, f"json://127.0.0.1:{chat.port}/desk", name="desk", events=watchdog)
    source_id, feed = follow_feed(watch_app, article_server)
    article_server.set_listing_mode("news", "500")

    episodes = poll(watch_app, source_id, FAILING_AFTER + 3)  # failing goes on: said once
    assert episodes == [None] * (FAILING_AFTER - 1) + ["source.failing"] + [None] * 3
    deliver_until(watch_app, lambda: len(receiver.received) == 1 and len(chat.received) == 1)

    article_server.set_listing_mode("news", None)
    assert poll(watch_app, source_id, 2) == ["source.recovered", None]
    deliver_until(watch_app, lambda: len(receiver.received) == 2 and len(chat.received) == 2)
    deliver_due(watch_app)

    assert types(receiver) == ["source.failing", "source.recovered"]
    assert receiver.duplicates() == {}
    failing, recovered = (assert_valid(m["body"]) for m in receiver.received)
    assert "article" not in failing["data"]
    assert failing["data"]["source"] == {"url": feed, "kind": None}  # never polled well yet
    assert failing["data"]["failures"] == FAILING_AFTER
    assert failing["data"]["outcome"] == "failed"
    assert "HTTP 500" in failing["data"]["error"]
    assert recovered["data"]["source"] == {"url": feed, "kind": "feed"}
    assert recovered["data"]["failures"] == FAILING_AFTER + 3
    assert recovered["data"]["outcome"] == "polled"
    assert "HTTP 500" in recovered["data"]["error"]  # the episode's last failure

    said, back = (m["body"] for m in chat.received)
    assert said["title"] == f"Feed failing: {feed}"
    assert "HTTP 500" in said["message"]
    assert feed in html.unescape(said["message"])
    assert back["title"] == f"Feed recovered: {feed}"
    assert [e.seq for e in source_events(watch_app)] == [1, 2]  # per source


def test_a_recovery_waits_for_the_failing_event_being_retried(
    watch_app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    hook(watch_app, receiver)
    source_id, _ = follow_feed(watch_app, article_server)
    article_server.set_listing_mode("news", "500")
    poll(watch_app, source_id, FAILING_AFTER)
    receiver.respond("fail", status=500, times=2)
    deliver_due(watch_app)  # source.failing: refused once, retried a second later
    article_server.set_listing_mode("news", None)
    poll(watch_app, source_id, 1)  # source.recovered, plus the article it discovers

    deliver_until(watch_app, lambda: "source.recovered" in types(receiver))
    sources = [t for t in types(receiver) if t.startswith("source.")]
    assert sources == ["source.failing", "source.recovered"]


def test_events_and_host_filters_apply_tag_and_article_filters_do_not(
    watch_app: App, article_server: ArticleServer
) -> None:
    source_id, _ = follow_feed(watch_app, article_server)
    host = "127.0.0.1"
    wanted = {
        "all": subscribe(watch_app, "http://127.0.0.1:9/all"),
        "its host": subscribe(watch_app, "http://127.0.0.1:9/h", host=host),
        "a tag": subscribe(watch_app, "http://127.0.0.1:9/t", tag="politics"),
        "an article": subscribe(watch_app, "http://127.0.0.1:9/a",
                                article="https://news.example/x"),
    }
    unwanted = {
        "other host": subscribe(watch_app, "http://127.0.0.1:9/o", host="example.org"),
        "other events": subscribe(watch_app, "http://127.0.0.1:9/e",
                                  events=["article.changed"]),
    }
    add_channel(watch_app, "json://127.0.0.1:9/c", name="c", hosts=["example.org"])
    article_server.set_listing_mode("news", "500")
    poll(watch_app, source_id, FAILING_AFTER)
    dispatch_events(watch_app)
    with session_scope(watch_app.reader) as session:
        got = set(session.scalars(select(Delivery.endpoint_id).where(
            Delivery.source_id == source_id)))
        channel = wq.find_channel(session, "c")
        assert channel is not None
    assert got == {s.endpoint_id for s in wanted.values()}
    assert not got & ({s.endpoint_id for s in unwanted.values()} | {channel.id})


HOSTILE_HREF = "/feed?q=@everyone+<!channel>+**loud**+[click](https://evil.example/)"


def test_a_hostile_page_cannot_mention_anyone_through_the_error(
    watch_app: App, chat: WebhookReceiver
) -> None:
    page = (f'<html><head><link rel="alternate" type="application/rss+xml" '
            f'href="{html.escape(HOSTILE_HREF)}"></head><body>@here</body></html>').encode()
    add_channel(watch_app, f"json://127.0.0.1:{chat.port}/desk", name="text")
    add_channel(watch_app, f"ntfy://127.0.0.1:{chat.port}/desk?format=markdown", name="md")
    with PageServer() as site:
        url = site.put("/", page)
        add_source(watch_app, url, interval=60)
        with session_scope(watch_app.reader) as session:
            row = sq.source_by_url(session, url)
            assert row is not None
            source_id = row.id
        poll(watch_app, source_id, FAILING_AFTER)
    deliver_until(watch_app, lambda: len(chat.received) == 2)
    [event] = source_events(watch_app)
    assert "@everyone" in event.data["error"]  # the page's own words, kept in the event …
    messages = {m["body"].get("topic", "text"): m["body"]["message"] for m in chat.received}
    for message in messages.values():
        assert message.startswith("Feed: ") or "[Feed](" in message
        assert "@everyone" not in message  # … mention nobody in a channel
        assert "<!channel" not in message
    assert "](https://evil" not in messages["desk"]  # no link smuggled into markdown
    assert "**loud**" not in messages["desk"]


def test_downgrade_drops_source_events_and_upgrade_brings_the_columns_back(
    watch_app: App, article_server: ArticleServer, database_url: str
) -> None:
    source_id, _ = follow_feed(watch_app, article_server)
    subscribe(watch_app, "http://127.0.0.1:9/all")
    article_server.set_listing_mode("news", "500")
    poll(watch_app, source_id, FAILING_AFTER)
    dispatch_events(watch_app)
    assert len(source_events(watch_app)) == 1
    watch_app.close()
    engine = make_engine(database_url)
    try:
        config = alembic_config(database_url)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0007_channels")
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM events")) == 0
            assert connection.scalar(text("SELECT count(*) FROM deliveries")) == 0
        upgrade(engine)
        assert current_revision(engine) == HEAD_REVISION
    finally:
        engine.dispose()


def test_removing_a_source_removes_its_events_and_deliveries(
    watch_app: App, article_server: ArticleServer
) -> None:
    source_id, feed = follow_feed(watch_app, article_server)
    subscribe(watch_app, "http://127.0.0.1:9/all")
    article_server.set_listing_mode("news", "500")
    poll(watch_app, source_id, FAILING_AFTER)
    dispatch_events(watch_app)
    assert remove_source(watch_app, [feed]) == 1
    assert source_events(watch_app) == []
    with session_scope(watch_app.reader) as session:
        assert list(session.scalars(select(Delivery.id))) == []
