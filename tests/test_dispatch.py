"""Dispatching events when nobody is subscribed, and the check pass's delivery step that is
skipped when there is nothing to deliver (tracker.delivery, db.webhook_queries)."""

from __future__ import annotations

from sqlalchemy import func, select

from db import webhook_queries
from db.models import Event
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.receiver import WebhookReceiver
from tracker.app import App
from tracker.articles import add_articles
from tracker.passes import check_and_notify
from tracker.subscriptions import subscribe


def undispatched(app: App) -> int:
    with session_scope(app.reader) as session:
        return int(session.scalar(
            select(func.count()).select_from(Event).where(Event.dispatched_at.is_(None))) or 0)


def waiting(app: App) -> bool:
    with session_scope(app.reader) as session:
        return webhook_queries.delivery_work_waiting(session)


def test_events_nobody_is_subscribed_to_are_dispatched_and_not_sent_later(
    app: App, article_server: ArticleServer
) -> None:
    """With no endpoint the pass's delivery step marks its events dispatched (one statement);
    a subscriber made afterwards gets the events after it, not the earlier first_seen."""
    assert not waiting(app)
    add_articles(app, [article_server.add_article("story", 1),
                       article_server.add_article("other", 1)])
    results, deliveries, _ = check_and_notify(app, [], all_=True, concurrency=2)
    assert sorted(r.outcome for r in results) == ["first_seen", "first_seen"]
    assert deliveries == []
    assert undispatched(app) == 0
    assert not waiting(app)
    with WebhookReceiver() as receiver:
        receiver.set_secrets([subscribe(app, receiver.url).secret])
        article_server.set_version("story", 2)
        results, deliveries, _ = check_and_notify(app, [], all_=True, concurrency=2)
        assert sorted(r.outcome for r in results) == ["changed", "not_modified"]
        assert [d.outcome for d in deliveries] == ["delivered"]
        assert [m["body"]["type"] for m in receiver.received] == ["article.changed"]
    assert not waiting(app)


def test_an_event_or_a_pending_delivery_is_work_waiting(
    app: App, article_server: ArticleServer
) -> None:
    """The skip can fail: an undispatched event is work, and so is a delivery left pending
    (its receiver down), until it is delivered."""
    with WebhookReceiver() as receiver:
        receiver.set_secrets([subscribe(app, receiver.url).secret])
        add_articles(app, [article_server.add_article("story", 1)])
        receiver.respond("fail", status=500, times=1)
        check_and_notify(app, [], all_=True, concurrency=1)
        assert waiting(app)  # the first attempt failed: retried later
        assert undispatched(app) == 0
