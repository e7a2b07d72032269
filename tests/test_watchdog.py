"""Watchdog events end to end: a real article server and a real webhook receiver on 127.0.0.1,
real extraction, SQLite and PostgreSQL. Each message is checked against the payload schema."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from db import queries
from db import source_queries as sq
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.receiver import WebhookReceiver
from tracker.app import App
from tracker.articles import add_articles
from tracker.check import check_article
from tracker.delivery import deliver_due
from tracker.polls import poll_source
from tracker.sources import add_source
from tracker.subscriptions import subscribe

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = Draft202012Validator(
    json.loads((ROOT / "docs" / "webhook-payload.schema.json").read_text("utf-8"))
)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hooks:
        yield hooks


def follow(app: App, server: ArticleServer, receiver: WebhookReceiver) -> int:
    created = subscribe(app, receiver.url)
    receiver.set_secrets([created.secret])
    url = server.add_article("story", 1)
    add_articles(app, [url])
    with session_scope(app.reader) as session:
        row = queries.article_by_url(session, url)
        assert row is not None
        return row.id


def outcomes(app: App, article_id: int, checks: int) -> list[str]:
    return [check_article(app, article_id).outcome for _ in range(checks)]


def messages(app: App, receiver: WebhookReceiver) -> list[dict[str, Any]]:
    """Every message delivered so far, each valid under the payload schema."""
    deliver_due(app)
    bodies = [m["body"] for m in receiver.received]
    for body in bodies:
        SCHEMA.validate(body)
    return bodies


def state(app: App, article_id: int) -> str:
    with session_scope(app.reader) as session:
        row = queries.article_by_id(session, article_id)
        assert row is not None
        return row.state


def versions(app: App, article_id: int) -> list[list[str]]:
    with session_scope(app.reader) as session:
        return [[t for _, t in queries.paragraphs_of(session, v)]
                for v in queries.versions_of(session, article_id)]


@pytest.mark.parametrize("status", ["404", "410"])
def test_deleted_after_two_gone_checks_then_restored_with_the_change(
    app: App, article_server: ArticleServer, receiver: WebhookReceiver, status: str
) -> None:
    article_id = follow(app, article_server, receiver)
    check_article(app, article_id)
    article_server.set_mode("story", status)

    assert outcomes(app, article_id, 3) == ["gone"] * 3
    assert state(app, article_id) == "deleted"
    article_server.set_mode("story", None)
    article_server.set_version("story", 2)  # it comes back edited
    assert check_article(app, article_id).outcome == "changed"
    assert state(app, article_id) == "active"

    bodies = messages(app, receiver)
    assert [b["type"] for b in bodies] == [
        "article.first_seen", "article.unavailable", "article.deleted", "article.changed",
        "article.restored",
    ]
    deleted, changed, restored = bodies[2]["data"], bodies[3]["data"], bodies[4]["data"]
    assert (deleted["status"], deleted["version"]["number"]) == (int(status), 1)
    assert (restored["since"]["number"], restored["version"]["number"]) == (1, 2)
    assert (changed["from_version"]["number"], changed["to_version"]["number"]) == (1, 2)


def test_a_404_between_good_pages_is_unavailable_and_restored_but_not_deleted(
    app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    article_id = follow(app, article_server, receiver)
    check_article(app, article_id)
    for _ in range(2):
        article_server.set_mode("story", "404")
        assert check_article(app, article_id).outcome == "gone"
        article_server.set_mode("story", None)
        assert check_article(app, article_id).outcome in {"unchanged", "not_modified"}

    assert [b["type"] for b in messages(app, receiver)] == [
        "article.first_seen"] + ["article.unavailable", "article.restored"] * 2


def test_gutted_story_is_stored_on_the_second_check_and_its_diff_shows_the_removal(
    app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    article_id = follow(app, article_server, receiver)
    check_article(app, article_id)
    [full] = versions(app, article_id)
    article_server.set_mode("story", "gutted")  # the headline and one paragraph are left

    first = check_article(app, article_id)
    assert (first.outcome, first.version) == ("shrunk", None)
    assert len(versions(app, article_id)) == 1
    second = check_article(app, article_id)
    assert (second.outcome, second.version) == ("gutted", 2)
    assert check_article(app, article_id).outcome in {"unchanged", "not_modified", "same_bytes"}

    stump = versions(app, article_id)[1]
    assert len(stump) < len(full)
    assert set(stump) <= set(full)
    bodies = messages(app, receiver)
    assert [b["type"] for b in bodies] == ["article.first_seen", "article.gutted"]
    gutted = bodies[1]["data"]
    assert gutted["to_version"]["number"] == 2
    assert gutted["summary"]["deleted"] >= len(full) - len(stump)
    assert gutted["characters"]["new"] < gutted["characters"]["old"] / 5
    removed = {c["old_text"] for c in gutted["changes"] if c["op"] == "delete"}
    assert removed == set(full) - set(stump)
    with session_scope(app.reader) as session:
        last = queries.checks_of(session, article_id, limit=2)[1]
        assert last.outcome == "gutted"
        assert last.version_id is not None  # the check that stored version 2 marks it


@pytest.mark.parametrize("mode", ["consent-wall", "error-page-200"])
def test_a_wall_or_error_page_never_becomes_a_version(
    app: App, article_server: ArticleServer, receiver: WebhookReceiver, mode: str
) -> None:
    article_id = follow(app, article_server, receiver)
    check_article(app, article_id)
    article_server.set_mode("story", mode)

    assert outcomes(app, article_id, 3) == ["no_content"] * 3
    assert len(versions(app, article_id)) == 1
    assert [b["type"] for b in messages(app, receiver)] == ["article.first_seen"]


def test_failing_once_per_episode_then_recovered(
    make_app, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(failing_after=3)
    article_id = follow(app, article_server, receiver)
    check_article(app, article_id)
    article_server.set_mode("story", "500")

    assert outcomes(app, article_id, 5) == ["failed"] * 5
    article_server.set_mode("story", None)
    assert check_article(app, article_id).ok
    article_server.set_mode("story", "500")
    assert outcomes(app, article_id, 2) == ["failed"] * 2  # a new episode, not failing yet

    bodies = messages(app, receiver)
    assert [b["type"] for b in bodies] == [
        "article.first_seen", "article.failing", "article.recovered"]
    failing, recovered = bodies[1]["data"], bodies[2]["data"]
    assert (failing["failures"], failing["outcome"], failing["status"]) == (3, "failed", 500)
    assert "500" in failing["error"]
    assert (recovered["failures"], recovered["version"]["number"]) == (5, 1)


def test_a_failing_source_is_reported_once_then_recovered(
    make_app, article_server: ArticleServer, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(failing_after=2)
    article_server.add_article("a", 1)
    feed = article_server.add_listing("news", "rss", ["a"])
    article_server.set_listing_mode("news", "500")
    add_source(app, feed)
    with session_scope(app.reader) as session:
        source = sq.source_by_url(session, feed)
        assert source is not None
    caplog.set_level(logging.INFO, logger="tracker.polls")

    assert [poll_source(app, source.id).outcome for _ in range(4)] == ["failed"] * 4
    article_server.set_listing_mode("news", None)
    assert poll_source(app, source.id).discovered == 1

    said = [r.getMessage() for r in caplog.records if r.name == "tracker.polls"]
    assert [m for m in said if "failing" in m] == [
        f"source {feed} is failing: 2 polls in a row failed"]
    assert [m for m in said if "recovered" in m] == [f"source {feed} recovered"]
