"""Sources in the background service: real Celery worker and beat processes on Redis and
PostgreSQL poll a feed, and check what it lists (see tests/test_workers.py for the setup)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from db.models import Check, Event, Source
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.services import CeleryProcess, wait_for
from tests.test_workers import WORKER, service_env, start_with_beat, versions
from tracker.app import App
from tracker.config import load_settings
from tracker.sources import add_source

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def test_worker_and_beat_discover_a_feeds_articles_and_check_them(
    postgres_url: str,
    broker: str,
    article_server: ArticleServer,
    tmp_path: Path,
    processes: list[CeleryProcess],
) -> None:
    for slug in ("a", "b", "c", "d"):
        article_server.add_article(slug, 1)
    feed = article_server.add_listing("news", "rss", ["a", "b", "c"])
    app = App(load_settings(database_url=postgres_url))
    add_source(app, feed, interval=3600, tags=["welt"])
    env = service_env(postgres_url, broker)
    start_with_beat(processes, env, *WORKER, "-c", "2", schedule=tmp_path / "beat")
    wait_for(lambda: versions(app) == 3, 60, "the three articles of the feed")

    article_server.add_entries("news", ["d"])
    with session_scope(app.writer) as session:  # due again now, not in an hour
        session.execute(update(Source).values(next_check_at=func.now()))
    wait_for(lambda: versions(app) == 4, 60, "the article the feed gained")

    with session_scope(app.reader) as session:
        events = Counter(session.scalars(select(Event.type)))
        checks = Counter(session.scalars(select(Check.article_id)))
    assert events == {"article.discovered": 4, "article.first_seen": 4}
    assert len(checks) == 4
    assert set(checks.values()) == {1}, "an article was checked twice for one due time"
    polls = article_server.listing_requests("news")
    assert [r.status for r in polls] == [200, 200]  # one poll per due time, not one per tick


def test_workers_send_source_failing_then_recovered_once_each(
    postgres_url: str,
    broker: str,
    article_server: ArticleServer,
    tmp_path: Path,
    processes: list[CeleryProcess],
) -> None:
    from tests.receiver import WebhookReceiver
    from tests.test_webhooks import hook

    article_server.add_article("a", 1)
    feed = article_server.add_listing("news", "rss", ["a"])
    article_server.set_listing_mode("news", "500")
    app = App(load_settings(database_url=postgres_url))
    add_source(app, feed, interval=3600)

    def failures() -> int:
        with session_scope(app.reader) as session:
            return int(session.scalar(select(Source.failure_count)) or 0)

    def due_now() -> None:  # not in an hour, or two after a failure
        with session_scope(app.writer) as session:
            session.execute(update(Source).values(next_check_at=func.now()))

    with WebhookReceiver() as receiver:
        hook(app, receiver, events=["source.failing", "source.recovered"])
        env = service_env(postgres_url, broker, TRACKER_FAILING_AFTER="2")
        start_with_beat(processes, env, *WORKER, "-c", "2", schedule=tmp_path / "beat")
        for polls in (1, 2, 3):
            wait_for(lambda n=polls: failures() == n, 60, f"failed poll {polls}")
            due_now()
        receiver.wait_for(1, timeout=30)
        article_server.set_listing_mode("news", None)
        due_now()
        receiver.wait_for(2, timeout=60)
        wait_for(lambda: versions(app) == 1, 60, "the article the feed lists")
        received = [m["body"]["type"] for m in receiver.received]
    assert received == ["source.failing", "source.recovered"]
    assert receiver.duplicates() == {}
