"""Change notifications in the embedded mode: a real receiver on 127.0.0.1 verifies every
message with the standardwebhooks package, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import update

from db.models import Endpoint
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.receiver import WebhookReceiver
from tracker.app import App
from tracker.articles import add_articles
from tracker.delivery import deliver_due, list_deliveries, redeliver
from tracker.errors import BlockedAddress
from tracker.passes import check_many
from tracker.subscriptions import rotate_secret, subscribe, subscribers


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hooks:
        yield hooks


@pytest.fixture
def fast_app(make_app):  # type: ignore[no-untyped-def]
    """Retries a second apart, timeouts of one second: the schedule, scaled down."""
    return make_app(webhook_retry_schedule="1s,1s,1s", webhook_timeout=1.0)


def follow(app: App, server: ArticleServer, slug: str = "story") -> int:
    url = server.add_article(slug, 1)
    add_articles(app, [url])
    from db import queries

    with session_scope(app.reader) as session:
        row = queries.article_by_url(session, url)
        assert row is not None
        return row.id


def hook(app: App, receiver: WebhookReceiver, **filters: object) -> str:
    created = subscribe(app, receiver.url, **filters)  # type: ignore[arg-type]
    receiver.set_secrets([created.secret])
    return created.secret


def deliver_until(app: App, done, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deliver_due(app)
        if done():
            return
        time.sleep(0.2)
    raise AssertionError("deliveries did not finish in time")


def test_changes_are_delivered_signed_and_in_order(
    app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    hook(app, receiver)
    article_id = follow(app, article_server)
    check_many(app, [article_id])
    for version in (2, 3):
        article_server.set_version("story", version)
        check_many(app, [article_id])
    results = deliver_due(app)
    assert [r.outcome for r in results] == ["delivered"] * 3
    messages = receiver.received
    assert [m["body"]["type"] for m in messages] == [
        "article.first_seen",
        "article.changed",
        "article.changed",
    ]
    changed = messages[2]["body"]["data"]
    assert changed["from_version"]["number"] == 2
    assert changed["to_version"]["number"] == 3
    assert changed["summary"]["split"] == 1
    assert {c["op"] for c in changed["changes"]} >= {"split", "merge", "move", "insert"}
    assert all(c["op"] != "equal" for c in changed["changes"])
    assert len({m["id"] for m in messages}) == 3


def test_receiver_failing_twice_gets_the_message_once_after_three_attempts(
    fast_app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    hook(fast_app, receiver)
    receiver.respond("fail", status=500, times=2)
    check_many(fast_app, [follow(fast_app, article_server)])
    deliver_until(fast_app, lambda: len(receiver.received) == 1)
    [delivery] = list_deliveries(fast_app)["deliveries"]
    assert delivery["state"] == "delivered"
    assert [a["status"] for a in delivery["history"]] == [500, 500, 204]
    assert all(a["latency_ms"] >= 0 for a in delivery["history"])


def test_a_busy_receivers_retry_after_holds_back_the_retry(
    fast_app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    hook(fast_app, receiver)
    receiver.respond("fail", status=429, retry_after="600", times=1)
    check_many(fast_app, [follow(fast_app, article_server)])
    before = dt.datetime.now(dt.UTC)
    assert [r.outcome for r in deliver_due(fast_app)] == ["retry"]
    [delivery] = list_deliveries(fast_app)["deliveries"]
    assert (delivery["state"], delivery["last_status"]) == ("pending", 429)
    # the schedule says 1 s; the receiver asked for 10 minutes
    assert dt.datetime.fromisoformat(delivery["next_attempt_at"]) >= before + dt.timedelta(
        seconds=600)


def test_receiver_down_then_back_gets_the_message(
    fast_app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    hook(fast_app, receiver)
    receiver.stop()
    check_many(fast_app, [follow(fast_app, article_server)])
    deliver_due(fast_app)
    [delivery] = list_deliveries(fast_app)["deliveries"]
    assert delivery["state"] == "pending"
    assert "connection" in delivery["last_error"]
    receiver.start()
    deliver_until(fast_app, lambda: len(receiver.received) == 1)


def test_gone_receiver_disables_the_endpoint(
    app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    hook(app, receiver)
    receiver.respond("gone")
    check_many(app, [follow(app, article_server)])
    assert [r.outcome for r in deliver_due(app)] == ["disabled"]
    [endpoint] = subscribers(app)["subscribers"]
    assert endpoint["state"] == "disabled"
    assert "410" in endpoint["disabled_reason"]


def test_hanging_receiver_times_out_and_is_retried(
    fast_app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    hook(fast_app, receiver)
    receiver.respond("hang", seconds=3)
    check_many(fast_app, [follow(fast_app, article_server)])
    started = time.monotonic()
    assert [r.outcome for r in deliver_due(fast_app)] == ["retry"]
    assert time.monotonic() - started < 2.5
    receiver.respond("ok")
    deliver_until(fast_app, lambda: len(receiver.received) >= 1)
    history = list_deliveries(fast_app)["deliveries"][0]["history"]
    assert "timed out" in history[0]["error"]


def test_a_later_event_waits_for_an_earlier_one_being_retried(
    fast_app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    hook(fast_app, receiver)
    receiver.respond("fail", status=503, times=3)
    article_id = follow(fast_app, article_server)
    check_many(fast_app, [article_id])
    for version in (2, 3, 4):
        article_server.set_version("story", version)
        check_many(fast_app, [article_id])
    deliver_until(fast_app, lambda: len(receiver.received) == 4, timeout=30)
    versions = [
        (m["body"]["data"].get("to_version") or m["body"]["data"]["version"])["number"]
        for m in receiver.received
    ]
    assert versions == [1, 2, 3, 4]


def test_rotated_secret_signs_with_old_and_new(
    app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    old = hook(app, receiver)
    new = rotate_secret(app, receiver.url, grace=dt.timedelta(hours=1)).secret
    check_many(app, [follow(app, article_server)])
    receiver.set_secrets([old, new])
    deliver_due(app)
    [message] = receiver.received
    assert message["headers"]["webhook-signature"].count("v1,") == 2
    assert set(message["verified_by"]) == {0, 1}  # each secret alone verifies


def test_private_endpoint_is_refused_unless_allowed(make_app, receiver: WebhookReceiver) -> None:  # type: ignore[no-untyped-def]
    strict = make_app(allow_networks="")
    with pytest.raises(BlockedAddress, match="non-public"):
        subscribe(strict, receiver.url)
    with pytest.raises(BlockedAddress):
        subscribe(strict, "http://[::ffff:127.0.0.1]:9/hook")


def test_delivery_time_guard_refuses_a_private_address(
    make_app, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:  # type: ignore[no-untyped-def]
    relaxed = make_app()
    hook(relaxed, receiver)
    check_many(relaxed, [follow(relaxed, article_server)])
    strict = make_app(allow_networks="")
    assert [r.outcome for r in deliver_due(strict)] == ["retry"]
    assert receiver.attempts == []
    [delivery] = list_deliveries(strict)["deliveries"]
    assert "refused" in delivery["last_error"]


def test_endpoint_failing_for_five_days_is_disabled(
    app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    hook(app, receiver)
    receiver.respond("fail", status=500, times=100)
    with session_scope(app.writer) as session:
        session.execute(
            update(Endpoint).values(
                failing_since=dt.datetime.now(dt.UTC) - dt.timedelta(days=5, minutes=1)
            )
        )
    check_many(app, [follow(app, article_server)])
    assert [r.outcome for r in deliver_due(app)] == ["disabled"]
    [endpoint] = subscribers(app)["subscribers"]
    assert "5 days" in endpoint["disabled_reason"]


def test_give_up_after_the_schedule_then_redeliver(
    make_app, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(webhook_retry_schedule="1s")
    hook(app, receiver)
    receiver.respond("fail", status=500, times=2)
    check_many(app, [follow(app, article_server)])
    deliver_until(app, lambda: list_deliveries(app, failed=True)["deliveries"] != [])
    assert receiver.received == []
    assert redeliver(app, failed=True).queued == 1
    deliver_until(app, lambda: len(receiver.received) == 1)


def test_secrets_stay_out_of_logs_and_listings(
    fast_app: App,
    article_server: ArticleServer,
    receiver: WebhookReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = hook(fast_app, receiver)
    receiver.respond("fail", status=500, times=1)
    check_many(fast_app, [follow(fast_app, article_server)])
    deliver_until(fast_app, lambda: len(receiver.received) == 1)
    listing = str(list_deliveries(fast_app)) + str(subscribers(fast_app))
    key = secret.removeprefix("whsec_")
    assert key not in caplog.text
    assert key not in listing


def test_secrets_are_encrypted_at_rest_with_a_key(make_app, receiver: WebhookReceiver) -> None:  # type: ignore[no-untyped-def]
    from tracker.webhooks.secrets import generate_key

    app = make_app(secret_key=generate_key())
    secret = subscribe(app, receiver.url).secret
    with session_scope(app.reader) as session:
        [endpoint] = session.query(Endpoint).all()
        assert endpoint.secret.startswith("fernet:")
        assert secret.removeprefix("whsec_") not in endpoint.secret


def test_filters_choose_the_subscribers(
    app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    with WebhookReceiver() as other:
        hook(app, receiver, events=["article.changed"])
        hook(app, other, tag="politik")
        article_id = follow(app, article_server)
        add_articles(app, [article_server.url("story")], tags=["politik"])
        check_many(app, [article_id])
        deliver_due(app)
        assert receiver.received == []  # first_seen is not article.changed
        assert [m["body"]["type"] for m in other.received] == ["article.first_seen"]


def test_check_command_makes_the_first_delivery_attempt_before_it_exits(
    sqlite_url: str, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    from tests.clihelp import tracker, tracker_json

    output = tracker(sqlite_url, "subscribe", receiver.url, "--events", "article.changed").stdout
    receiver.set_secrets([output.split("keep it safe): ", 1)[1].strip()])
    url = article_server.add_article("story", 1)
    tracker(sqlite_url, "add", url)
    tracker(sqlite_url, "check", "--all")
    article_server.set_version("story", 2)
    result = tracker_json(sqlite_url, "check", "--all")
    assert result["notifications"] == {"delivered": 1}
    [message] = receiver.received
    assert message["body"]["data"]["to_version"]["number"] == 2
    listing = tracker_json(sqlite_url, "deliveries")
    assert listing["deliveries"][0]["state"] == "delivered"
    assert tracker_json(sqlite_url, "subscribers")["subscribers"][0]["last_success_at"]


def test_run_delivers_as_soon_as_a_change_is_stored(
    sqlite_url: str, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    import signal
    import subprocess

    from tests.clihelp import ROOT, TRACKER, environment, tracker

    output = tracker(sqlite_url, "subscribe", receiver.url).stdout
    receiver.set_secrets([output.split("keep it safe): ", 1)[1].strip()])
    tracker(sqlite_url, "add", article_server.add_article("story", 1))
    service = subprocess.Popen(
        [*TRACKER, "run"],
        env=environment(sqlite_url),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        receiver.wait_for(1, timeout=20)
    finally:
        service.send_signal(signal.SIGTERM)
        service.communicate(timeout=30)
    assert service.returncode == 0
    assert receiver.received[0]["body"]["type"] == "article.first_seen"


def test_unavailable_and_restored_articles_are_announced(
    app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    hook(app, receiver, events=["article.unavailable", "article.restored"])
    article_id = follow(app, article_server)
    check_many(app, [article_id])
    article_server.set_mode("story", "410")
    check_many(app, [article_id])
    article_server.set_mode("story", None)
    check_many(app, [article_id])
    deliver_due(app)
    gone, back = (m["body"] for m in receiver.received)
    assert (gone["type"], gone["data"]["status"]) == ("article.unavailable", 410)
    assert gone["data"]["version"]["number"] == 1
    assert back["type"] == "article.restored"
    assert back["data"]["article"]["url"] == article_server.url("story")


def test_the_default_retry_schedule_starts_in_seconds_and_spans_about_a_day() -> None:
    from tracker.config import Settings
    from tracker.delivery import retry_schedule

    delays = retry_schedule(Settings().webhook_retry_schedule)
    assert delays[:2] == [5.0, 30.0]  # a receiver back from a short outage: within a minute
    assert delays == sorted(delays)
    assert 24 * 3600 <= sum(delays) <= 30 * 3600
