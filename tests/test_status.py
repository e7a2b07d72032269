"""``tracker status``: what it counts (on SQLite and PostgreSQL), its verdict and exit status,
and what it says when PostgreSQL or Redis is really stopped (private servers)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import update

from db.models import Article, Delivery, Endpoint, Event
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.clihelp import environment, run_tracker
from tests.services import PrivatePostgres, PrivateRedis
from tracker.app import App
from tracker.articles import add_articles
from tracker.check import check_article
from tracker.clock import utcnow
from tracker.status import redact, status


def run_status(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_tracker(["status", *args], environment(database_url, **env))


def track(app: App, server: ArticleServer, *slugs: str) -> list[str]:
    urls = [server.add_article(slug, 1) for slug in slugs]
    add_articles(app, urls, interval=3600)
    return urls


def set_article(app: App, url: str, **values: object) -> None:
    with session_scope(app.writer) as session:
        session.execute(update(Article).where(Article.url == url).values(**values))


def add_deliveries(app: App, url: str, rows: list[dict[str, object]]) -> int:
    """An endpoint with one delivery per row (of an event each), as the outbox makes them."""
    now = utcnow()
    with session_scope(app.writer) as session:
        endpoint = Endpoint(url=url, events=["*"], secret="x", created_at=now)
        session.add(endpoint)
        article = session.query(Article).first()
        assert article is not None
        session.flush()
        for seq, row in enumerate(rows, 1000):  # past the events checks wrote
            event = Event(uid=f"evt_{endpoint.id}_{seq}", article_id=article.id, seq=seq,
                          type="article.changed", created_at=now)
            session.add(event)
            session.flush()
            session.add(Delivery(event_id=event.id, endpoint_id=endpoint.id,
                                 article_id=article.id, seq=seq, next_attempt_at=now,
                                 created_at=row.pop("created_at", now), **row))
        return endpoint.id


def test_embedded_status_counts_claims_lag_and_deliveries(
    app: App, article_server: ArticleServer
) -> None:
    urls = track(app, article_server, "due", "running", "lost", "later", "stale")
    now = utcnow()
    # "due" fell due 90 s ago and was checked just now: its check started ~90 s late.
    set_article(app, urls[0], next_check_at=now - dt.timedelta(seconds=90))
    assert check_article(app, app_id(app, urls[0])).outcome == "first_seen"
    # "running" and "stale" hold leases their heartbeats renew (one of 590 s, as a
    # lease_seconds of 600 would give); "lost" ran out unrenewed: its holder is gone.
    set_article(app, urls[1], next_check_at=now - dt.timedelta(seconds=5), lease_token="a",
                lease_until=now + dt.timedelta(seconds=590))
    set_article(app, urls[2], next_check_at=now - dt.timedelta(minutes=10), lease_token="b",
                lease_until=now - dt.timedelta(seconds=1))
    set_article(app, urls[3], next_check_at=now + dt.timedelta(hours=1))
    set_article(app, urls[4], next_check_at=now + dt.timedelta(hours=1), lease_token="c",
                lease_until=now + dt.timedelta(seconds=360))
    old = now - dt.timedelta(minutes=7)
    add_deliveries(app, "https://hooks.example/a", [
        {"created_at": old}, {"attempts": 2, "state": "pending"},
        {"attempts": 8, "state": "failed"}, {"attempts": 1, "state": "delivered"},
    ])

    data = status(app, service=False)

    assert data["service"] == "embedded"
    assert data["queues"] is None
    assert data["last_tick"] is None
    articles = data["articles"]
    assert (articles["articles"], articles["due"], articles["overdue"]) == (5, 2, 1)
    assert (articles["in_progress"], articles["stranded"]) == (2, 1)
    assert 590 < articles["oldest_due_seconds"] < 700
    checks = data["checks"]
    assert checks["count"] == 1
    assert checks["by_outcome"] == {"first_seen": 1}
    assert 89 <= checks["lag_seconds"]["max"] < 150
    deliveries = data["deliveries"]
    assert (deliveries["pending"], deliveries["retrying"], deliveries["failed"]) == (1, 1, 1)
    assert 415 < deliveries["oldest_waiting_seconds"] < 500
    [endpoint] = deliveries["endpoints"]
    assert endpoint["url"] == "https://hooks.example/a"
    assert data["health"] == "degraded"
    problems = "\n".join(data["problems"])
    assert "1 check(s) stranded" in problems
    assert "1 article(s) overdue" in problems
    assert "`tracker run`" in problems
    assert "1 delivery(ies) not sent" in problems


def app_id(app: App, url: str) -> int:
    with session_scope(app.reader) as session:
        found = session.query(Article.id).filter(Article.url == url).scalar()
        assert found is not None
        return int(found)


def test_a_failing_endpoint_degrades_and_an_on_demand_check_has_no_lag(
    app: App, article_server: ArticleServer
) -> None:
    [url] = track(app, article_server, "early")
    set_article(app, url, next_check_at=utcnow() + dt.timedelta(hours=1))
    check_article(app, app_id(app, url))  # checked before it is due: not late
    endpoint = add_deliveries(app, "https://hooks.example/b", [{"attempts": 3}])
    with session_scope(app.writer) as session:
        session.execute(update(Endpoint).values(failing_since=utcnow()))
    data = status(app, service=False)
    assert data["checks"]["lag_seconds"] == {"p50": 0.0, "p95": 0.0, "max": 0.0}
    assert data["health"] == "degraded"
    assert any(line.startswith(f"endpoint {endpoint} failing since") for line in data["problems"])


def test_cli_exit_status_healthy_then_degraded_with_one_line_per_problem(
    database_url: str, app: App, article_server: ArticleServer
) -> None:
    healthy = run_status(database_url, "--format", "json")
    assert healthy.returncode == 0, healthy.stderr
    assert json.loads(healthy.stdout)["health"] == "healthy"
    [url] = track(app, article_server, "late")
    set_article(app, url, next_check_at=utcnow() - dt.timedelta(minutes=5))
    degraded = run_status(database_url)
    assert degraded.returncode == 1, degraded.stderr
    assert degraded.stdout.startswith("degraded (embedded, ")
    assert "problem: 1 article(s) overdue" in degraded.stdout


def test_hostile_endpoint_url_is_printed_escaped(
    database_url: str, app: App, article_server: ArticleServer
) -> None:
    track(app, article_server, "x")
    add_deliveries(app, "https://hooks.example/[bold]x[/bold]\x1b[31m\u202e", [{}])
    result = run_status(database_url, COLUMNS="200")
    assert "\x1b" not in result.stdout
    assert "\u202e" not in result.stdout
    assert "[bold]x[/bold]" in result.stdout


@pytest.mark.redis
def test_service_status_reads_queues_and_says_the_beat_never_ticked(
    database_url: str, broker: str
) -> None:
    result = run_status(database_url, "--format", "json", TRACKER_BROKER_URL=broker)
    data = json.loads(result.stdout)
    assert data["service"] == "celery"
    assert set(data["queues"]) == {"fetch", "deliver", "housekeeping"}
    assert data["redis"]["broker"]["ok"] is True
    assert data["problems"] == ["the beat has never ticked (is `tracker beat` running?)"]
    assert result.returncode == 1


@pytest.mark.redis
@pytest.mark.slow
def test_stopped_redis_is_down_with_one_line_and_no_traceback(
    sqlite_url: str, tmp_path: Path
) -> None:
    redis_server = PrivateRedis(tmp_path).start()
    url = redis_server.url.replace("127.0.0.1", "tracker:s3cret@127.0.0.1")
    redis_server.stop()
    result = run_status(sqlite_url, TRACKER_BROKER_URL=url)
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert "s3cret" not in result.stdout
    broker_lines = [line for line in result.stdout.splitlines() if "broker" in line]
    assert len(broker_lines) == 1
    assert "unreachable" in broker_lines[0]
    # A rate-limiting Redis that is gone only degrades: each process limits on its own.
    result = run_status(sqlite_url, "--format", "json", TRACKER_RATE_LIMIT_URL=url)
    assert result.returncode == 1
    assert json.loads(result.stdout)["redis"]["rate_limit"]["ok"] is False


@pytest.mark.postgres
@pytest.mark.slow
def test_stopped_postgresql_is_down_with_one_line_and_no_traceback() -> None:
    server = PrivatePostgres().init().start()
    try:
        url = server.url
        assert run_status(url).returncode == 0  # up (and migrated on first use)
        server.stop()
        result = run_status(url)
        text = run_status(url, "--format", "json")
    finally:
        server.remove()
    assert result.returncode == 2
    assert text.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("problem:")]
    assert len(lines) == 1
    assert "database unreachable" in lines[0]
    assert json.loads(text.stdout)["database"]["ok"] is False


def test_redact_hides_passwords() -> None:
    assert redact("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert redact("redis://u:pw@h/0") == "redis://u:***@h/0"
    assert redact("redis://h/0") == "redis://h/0"
