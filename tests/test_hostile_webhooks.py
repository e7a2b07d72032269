"""Webhook delivery against hostile receivers and broken endpoints: a total deadline per attempt,
a small fixed cap on the answer that is read, and one bad event or endpoint failing alone."""

from __future__ import annotations

import signal
import subprocess
import time
import tracemalloc
from collections.abc import Iterator

import pytest
from sqlalchemy import update

from db.models import Endpoint
from db.session import session_scope
from tests import hostile
from tests.clihelp import ROOT, TRACKER, environment, tracker
from tests.hostile import Answer, HostileServer
from tests.receiver import WebhookReceiver
from tracker.app import App
from tracker.articles import add_articles
from tracker.delivery import RESPONSE_EXCERPT, deliver_due, list_deliveries
from tracker.errors import BlockedAddress, TrackerError
from tracker.passes import check_many
from tracker.subscriptions import subscribe

TIMEOUT = 1.5


@pytest.fixture
def site() -> Iterator[HostileServer]:
    with HostileServer("127.0.0.2") as server:
        for slug in ("a", "b"):
            server.route(f"/news/{slug}", hostile.html())
        yield server


@pytest.fixture
def hooks() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


def one_event(app: App, site: HostileServer, slug: str = "a") -> None:
    [(url, _)] = add_articles(app, [site.url(f"/news/{slug}")])
    check_many(app, [_article_id(app, url)])


def _article_id(app: App, url: str) -> int:
    from db import queries

    with session_scope(app.reader) as session:
        row = queries.article_by_url(session, url)
        assert row is not None
        return row.id


def drip_answer(every: float) -> hostile.Script:
    def script(answer: Answer) -> None:
        answer.drip(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", every)

    return script


def test_a_receiver_dripping_its_answer_is_cut_at_the_attempt_deadline(
    make_app, site: HostileServer, hooks: HostileServer
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(webhook_timeout=TIMEOUT)
    subscribe(app, hooks.route("/hook", drip_answer(1.0)))
    one_event(app, site)
    started = time.monotonic()
    [result] = deliver_due(app)
    elapsed = time.monotonic() - started
    assert result.outcome == "retry"
    assert result.error == f"timed out after {TIMEOUT:g} s"
    # The answer drips a byte a second for 42 s, each byte within a per-read timeout: only a
    # deadline for the whole attempt cuts it. The bounds sit far from both ends (the deadline
    # and the drip), so that a loaded machine's delays cannot decide the test.
    [delivery] = list_deliveries(app)["deliveries"]
    assert delivery["history"][0]["latency_ms"] < 4 * TIMEOUT * 1000
    assert elapsed < 14


@pytest.mark.parametrize("case", ["endless", "bomb"])
def test_only_a_small_fixed_part_of_a_receivers_answer_is_read(
    make_app, site: HostileServer, hooks: HostileServer, case: str
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(webhook_timeout=10.0)
    script = hostile.endless_body() if case == "endless" else hostile.bomb(("gzip",), 256 << 20)
    subscribe(app, hooks.route("/hook", script))
    one_event(app, site)
    tracemalloc.start()
    try:
        [result] = deliver_due(app)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.outcome == "delivered"
    [delivery] = list_deliveries(app)["deliveries"]
    assert 0 < len(delivery["history"][0]["response"].encode()) <= RESPONSE_EXCERPT * 3
    assert peak < 16 << 20


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/ho\tok", "http://127.0.0.1:9/hook\x7f", "http://xn--a-.example/hook",
     "http://127.0.0.1:9/a b"],
)
def test_subscribe_refuses_an_endpoint_url_no_delivery_could_use(app: App, url: str) -> None:
    with pytest.raises(TrackerError):
        subscribe(app, url)


def test_subscribe_refuses_a_port_that_is_not_allowed(make_app) -> None:  # type: ignore[no-untyped-def]
    strict = make_app(allowed_ports="80,443")
    with pytest.raises(BlockedAddress, match="port 6379 is not allowed"):
        subscribe(strict, "http://127.0.0.1:6379/hook")


def test_cli_subscribe_refuses_a_url_with_a_tab_in_one_line(sqlite_url: str) -> None:
    result = tracker(sqlite_url, "subscribe", "http://127.0.0.1:9/ho\tok", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("tracker: error:")
    assert len(result.stderr.strip().splitlines()) == 1


def break_endpoint(app: App, endpoint_id: int, **values: str) -> None:
    with session_scope(app.writer) as session:
        session.execute(update(Endpoint).where(Endpoint.id == endpoint_id).values(**values))


@pytest.mark.parametrize(
    "broken",
    [{"url": "http://127.0.0.1:9/ho\tok"}, {"url": "http://xn--a-.example/hook"},
     {"secret": "fernet:not-a-token"}, {"secret": "rot13:abc"}],
)  # fmt: skip
def test_one_broken_endpoint_fails_alone_and_the_others_are_delivered(
    app: App, site: HostileServer, broken: dict[str, str]
) -> None:
    with WebhookReceiver() as receiver:
        good = subscribe(app, receiver.url)
        receiver.set_secrets([good.secret])
        bad = subscribe(app, receiver.url + "?second")  # the same URL twice is refused
        break_endpoint(app, bad.endpoint_id, **broken)
        one_event(app, site)
        results = {r.delivery_id: r for r in deliver_due(app)}
        assert len(receiver.received) == 1
    assert sorted(r.outcome for r in results.values()) in (["delivered", "failed"],
                                                           ["delivered", "retry"])
    failed = [d for d in list_deliveries(app)["deliveries"] if d["state"] != "delivered"]
    assert len(failed) == 1
    assert failed[0]["last_error"]


def test_an_event_whose_payload_cannot_be_built_fails_alone(
    make_app, site: HostileServer
) -> None:  # type: ignore[no-untyped-def]
    # A feed entry with a 300 KB title: its article.discovered message cannot fit the cap
    # (only an article.changed message can be cut down).
    app = make_app()
    with WebhookReceiver() as receiver:
        receiver.set_secrets([subscribe(app, receiver.url).secret])
        [(url, _)] = add_articles(app, [site.url("/news/a")])
        _discovered(app, url, "T" * 300_000)
        one_event(app, site, "b")
        results = deliver_due(app)
        assert sorted(r.outcome for r in results) == ["delivered", "failed"]
        assert len(receiver.received) == 1
    [failed] = list_deliveries(app, failed=True)["deliveries"]
    assert "cannot be built" in failed["last_error"]
    assert failed["attempts"] == 0


def _discovered(app: App, url: str, title: str) -> None:
    from db import queries
    from tracker.clock import utcnow

    with session_scope(app.writer) as session:
        row = queries.article_by_url(session, url)
        assert row is not None
        queries.add_event(session, row, "article.discovered", now=utcnow(),
                          data={"source": url, "title": title, "published": None})


def test_an_attempt_sent_when_another_410_disables_the_endpoint_is_recorded_as_sent(
    make_app, site: HostileServer
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(webhook_concurrency=1)
    with WebhookReceiver() as receiver:
        receiver.set_secrets([subscribe(app, receiver.url).secret])
        one_event(app, site, "a")
        one_event(app, site, "b")
        receiver.respond("gone", times=1)
        results = deliver_due(app)
    assert sorted(r.outcome for r in results) == ["delivered", "disabled"]
    for delivery in list_deliveries(app)["deliveries"]:
        assert delivery["attempts"] == 1
        assert len(delivery["history"]) == 1
    assert sorted(d["state"] for d in list_deliveries(app)["deliveries"]) == [
        "delivered", "failed"]


def test_ctrl_c_stops_tracker_run_promptly_while_a_receiver_drips(
    sqlite_url: str, site: HostileServer, hooks: HostileServer
) -> None:
    url = hooks.route("/hook", drip_answer(30.0))  # a byte every 30 s, within the 60 s timeout
    tracker(sqlite_url, "subscribe", url)
    tracker(sqlite_url, "add", site.url("/news/a"))
    env = environment(sqlite_url, TRACKER_WEBHOOK_TIMEOUT="60")
    service = subprocess.Popen([*TRACKER, "-v", "run"], env=env, cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and hooks.hits("/hook") == 0:
            time.sleep(0.1)
        assert hooks.hits("/hook") == 1
        time.sleep(0.5)  # the attempt is now waiting on the drip
        stopped = time.monotonic()
        service.send_signal(signal.SIGINT)
        output, _ = service.communicate(timeout=20)
        took = time.monotonic() - stopped
    finally:
        if service.poll() is None:
            service.kill()
            service.communicate()
    assert service.returncode == 0, output
    # Prompt: not at the drip's next byte (29.5 s away) nor at the attempt's deadline (60 s).
    assert took < 10.0, output
