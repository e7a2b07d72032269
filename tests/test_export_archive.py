"""``archive_versions``: new versions captured by a web archive, here a local stand-in for Save
Page Now on 127.0.0.1; failures are retried and recorded and never touch a check."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import select, update

from db import queries
from db.models import ArchiveCapture, Event, Version
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.clihelp import ROOT
from tracker import archive
from tracker.app import App
from tracker.articles import add_articles
from tracker.check import check_article
from tracker.delivery import _event_data


class StandIn:
    """Answers GET /save/<url> like Save Page Now: a redirect to /web/<timestamp>/<url>; or,
    while ``answers`` holds statuses, those first."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.answers: list[int] = []
        self.failing: int | None = None  # answer every request with this status
        self.location: str | None = None  # overrides the redirect target
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stand_in.requests.append(self.path)
                status = stand_in.answers.pop(0) if stand_in.answers else (
                    stand_in.failing or 302)
                self.send_response(status)
                if status == 302:
                    target = self.path.removeprefix("/save/")
                    self.send_header("Location", stand_in.location or
                                     f"/web/20261206101500/{target}")
                elif status == 200 and stand_in.location:
                    self.send_header("Content-Location", stand_in.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def tracked(app: App, server: ArticleServer) -> tuple[str, int]:
    url = server.add_article("story", 1)
    add_articles(app, [url])
    with session_scope(app.reader) as session:
        row = queries.article_by_url(session, url)
        assert row is not None
        return url, row.id


def captures(app: App) -> list[ArchiveCapture]:
    with session_scope(app.reader) as session:
        return list(session.scalars(select(ArchiveCapture).order_by(ArchiveCapture.version_id)))


def test_each_new_version_is_captured_and_its_copy_recorded(
    make_app: Any, article_server: ArticleServer, stand_in: StandIn
) -> None:
    app = make_app(archive_versions=True, archive_endpoint=stand_in.base_url)
    url, article_id = tracked(app, article_server)
    assert check_article(app, article_id).outcome == "first_seen"
    article_server.set_version("story", 2)
    assert check_article(app, article_id).outcome == "changed"
    assert stand_in.requests == []  # checks never wait on the archive
    assert archive.capture_new_versions(app) == 2
    assert stand_in.requests == [f"/save/{url}", f"/save/{url}"]
    assert [(c.state, c.attempts, c.capture_url) for c in captures(app)] == [
        ("captured", 1, f"{stand_in.base_url}/web/20261206101500/{url}")] * 2
    assert archive.capture_new_versions(app) == 0  # once per version
    assert len(stand_in.requests) == 2


def test_off_by_default_nothing_is_asked(
    make_app: Any, article_server: ArticleServer, stand_in: StandIn
) -> None:
    app = make_app(archive_endpoint=stand_in.base_url)
    _, article_id = tracked(app, article_server)
    check_article(app, article_id)
    assert archive.capture_new_versions(app) == 0
    assert stand_in.requests == []
    assert captures(app) == []


def test_a_failing_archive_is_retried_then_given_up_and_checks_go_on(
    make_app: Any, article_server: ArticleServer, stand_in: StandIn
) -> None:
    app = make_app(archive_versions=True, archive_endpoint=stand_in.base_url)
    _, article_id = tracked(app, article_server)
    check_article(app, article_id)
    stand_in.answers = [503]
    assert archive.capture_new_versions(app) == 0
    [capture] = captures(app)
    assert (capture.state, capture.attempts, capture.last_error) == ("pending", 1, "HTTP 503")
    assert archive.capture_new_versions(app) == 0  # not due yet: nothing asked
    assert len(stand_in.requests) == 1
    article_server.set_version("story", 2)
    assert check_article(app, article_id).outcome == "changed"  # unaffected
    stand_in.failing = 429
    for _ in range(archive.MAX_ATTEMPTS - 1):
        _make_due(app)
        archive.capture_new_versions(app)
    first, second = captures(app)
    assert (first.state, first.attempts) == ("failed", archive.MAX_ATTEMPTS)
    assert (second.state, second.attempts) == ("pending", archive.MAX_ATTEMPTS - 1)
    stand_in.failing = None
    asked = len(stand_in.requests)
    _make_due(app)
    assert archive.capture_new_versions(app) == 1
    assert len(stand_in.requests) == asked + 1  # the given-up capture is not asked again
    first, second = captures(app)
    assert (first.state, second.state) == ("failed", "captured")
    assert first.last_error == "HTTP 429"


def _make_due(app: App) -> None:
    with session_scope(app.writer) as session:
        session.execute(update(ArchiveCapture).values(
            next_attempt_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)))


def test_an_unusable_answer_is_a_failure_not_a_stored_url(
    make_app: Any, article_server: ArticleServer, stand_in: StandIn
) -> None:
    app = make_app(archive_versions=True, archive_endpoint=stand_in.base_url)
    _, article_id = tracked(app, article_server)
    check_article(app, article_id)
    stand_in.location = "javascript:alert(1)"
    archive.capture_new_versions(app)
    [capture] = captures(app)
    assert capture.capture_url is None
    assert capture.last_error
    stand_in.answers, stand_in.location = [200], "ftp://archive.example/copy"
    _make_due(app)
    archive.capture_new_versions(app)
    [capture] = captures(app)
    assert capture.capture_url is None
    assert capture.last_error is not None
    assert "unusable location" in capture.last_error
    stand_in.answers, stand_in.location = [200], None  # a 200 that names no copy
    _make_due(app)
    archive.capture_new_versions(app)
    assert captures(app)[0].last_error == "HTTP 200, no location of a copy"


def test_the_capture_url_reaches_the_webhook_payload(
    make_app: Any, article_server: ArticleServer, stand_in: StandIn
) -> None:
    from tracker.webhooks.payload import build_payload

    app = make_app(archive_versions=True, archive_endpoint=stand_in.base_url)
    url, article_id = tracked(app, article_server)
    check_article(app, article_id)
    article_server.set_version("story", 2)
    check_article(app, article_id)
    schema = json.loads((ROOT / "docs" / "webhook-payload.schema.json").read_text("utf-8"))
    validator = Draft202012Validator(schema)

    def payload(event_type: str) -> dict[str, Any]:
        with session_scope(app.reader) as session:
            event = session.scalars(select(Event).where(Event.type == event_type)).one()
            body = build_payload(event.type, event.created_at, *_event_data(session, event))
        data: dict[str, Any] = json.loads(body)
        validator.validate(data)
        return data

    assert "archive_url" not in payload("article.changed")["data"]["to_version"]
    archive.capture_new_versions(app)
    with session_scope(app.reader) as session:
        numbers = dict(session.execute(select(Version.id, Version.number)).all())
    copies = {numbers[c.version_id]: c.capture_url for c in captures(app)}
    changed = payload("article.changed")["data"]
    assert changed["from_version"]["archive_url"] == copies[1]
    assert changed["to_version"]["archive_url"] == copies[2]
    assert payload("article.first_seen")["data"]["version"]["archive_url"] == copies[1]
    assert url in copies[2]


def test_tracker_run_captures_new_versions_after_storing_them(
    sqlite_url: str, article_server: ArticleServer, stand_in: StandIn
) -> None:
    import signal
    import subprocess
    import time

    from tests.clihelp import TRACKER, environment, tracker

    url = article_server.add_article("story", 1)
    tracker(sqlite_url, "add", url, "--every", "1h")
    service = subprocess.Popen(
        [*TRACKER, "run"], cwd=ROOT, text=True, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=environment(sqlite_url, TRACKER_ARCHIVE_VERSIONS="1",
                        TRACKER_ARCHIVE_ENDPOINT=stand_in.base_url),
    )
    app = App(_settings(sqlite_url))
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not [
            c for c in captures(app) if c.state == "captured"
        ]:
            time.sleep(0.1)
    finally:
        service.send_signal(signal.SIGTERM)
        output, _ = service.communicate(timeout=30)
    try:
        assert service.returncode == 0, output
        assert stand_in.requests == [f"/save/{url}"]
        [capture] = captures(app)
        assert capture.state == "captured"
    finally:
        app.close()


def _settings(database_url: str) -> Any:
    from tracker.config import load_settings

    return load_settings(database_url=database_url)
