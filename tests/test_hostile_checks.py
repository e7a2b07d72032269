"""One hostile page or feed never ends a pass or ``tracker run``: whatever its check raises becomes
that article's failed check, recorded with ``last_error`` and with its claim released, while the
other articles are checked as usual. Real ``tracker`` processes against a hostile server."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from tests import hostile
from tests.clihelp import ROOT, TRACKER, environment, tracker, tracker_json
from tests.hostile import HostileServer

HOSTILE = ("retry-after-b2", "retry-after-huge", "retry-after-9999", "idn-redirect")


class Sites:
    """One site per case, each on its own loopback address: a 503 pauses only its own host."""

    def __init__(self) -> None:
        self.servers: dict[str, HostileServer] = {}
        for number, case in enumerate((*HOSTILE, "good"), start=2):
            server = HostileServer(f"127.0.0.{number}").start()
            script = hostile.html() if case == "good" else hostile.CATALOGUE[case]()
            server.route(f"/news/{case}", script)
            self.servers[case] = server

    def url(self, path: str) -> str:
        case = path.rsplit("/", 1)[1]
        return self.servers[case].url(path)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


@pytest.fixture
def site() -> Iterator[Sites]:
    sites = Sites()
    yield sites
    sites.stop()


def rows(database_url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(text(sql))]
    finally:
        engine.dispose()


def test_hostile_answers_become_failed_checks_and_the_pass_goes_on(
    sqlite_url: str, site: Sites
) -> None:
    urls = [site.url(f"/news/{case}") for case in (*HOSTILE, "good")]
    tracker(sqlite_url, "add", *urls)
    result = tracker(sqlite_url, "check", check=False)
    assert "Traceback" not in result.stderr, result.stderr
    listed = {a["url"]: a for a in tracker_json(sqlite_url, "list")["articles"]}
    assert listed[site.url("/news/good")]["versions"] == 1
    for case in HOSTILE:
        article = listed[site.url(f"/news/{case}")]
        assert article["failures"] == 1, case
        assert article["last_error"], case
    assert rows(sqlite_url, "select count(*) from articles where lease_token is not null") == [(0,)]
    assert rows(sqlite_url, "select count(*) from checks") == [(len(urls),)]
    history = tracker_json(sqlite_url, "history", site.url("/news/idn-redirect"))
    assert "invalid URL" in json.dumps(history)


def test_retry_after_far_in_the_future_cannot_switch_an_article_off(
    sqlite_url: str, site: Sites
) -> None:
    url = site.url("/news/retry-after-9999")
    tracker(sqlite_url, "add", url)
    tracker(sqlite_url, "check", url, check=False)
    [(due,)] = rows(sqlite_url, "select next_check_at from articles")
    when = dt.datetime.fromisoformat(str(due)).replace(tzinfo=dt.UTC)
    assert when - dt.datetime.now(dt.UTC) < dt.timedelta(hours=2)


def test_unexpected_exception_in_one_check_is_recorded_with_its_type(
    make_app, site: Sites, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from tracker import templates as extracting
    from tracker.articles import add_articles
    from tracker.passes import check_many

    app = make_app()
    add_articles(app, [site.url("/news/good")])

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("something nobody foresaw")

    monkeypatch.setattr(extracting, "explain_page", broken)  # what a check extracts with
    [result] = check_many(app, [1])
    assert result.outcome == "failed"
    assert result.error == "unexpected KeyError: 'something nobody foresaw'"


def test_tracker_run_survives_hostile_pages_and_stops_on_ctrl_c(
    sqlite_url: str, site: Sites
) -> None:
    urls = [site.url(f"/news/{case}") for case in (*HOSTILE, "good")]
    tracker(sqlite_url, "add", *urls)
    service = subprocess.Popen([*TRACKER, "-v", "run"], env=environment(sqlite_url), cwd=ROOT,
                               text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and rows(
            sqlite_url, "select count(*) from checks") != [(len(urls),)]:
            time.sleep(0.2)
        assert service.poll() is None, "tracker run ended"
        service.send_signal(signal.SIGINT)
        output, _ = service.communicate(timeout=15)
    finally:
        if service.poll() is None:
            service.kill()
            service.communicate()
    assert rows(sqlite_url, "select count(*) from checks") == [(len(urls),)]
    assert service.returncode == 0, output
    assert "Traceback" not in output
