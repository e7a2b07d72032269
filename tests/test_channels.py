"""Notification channels through Apprise, against real local services on 127.0.0.1: a plain
HTTP receiver behind json://, form://, ntfy:// and gotify://, and an SMTP server (aiosmtpd)
behind mailto://; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import html
import socket
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from typing import Any

import pytest
from sqlalchemy import select, update

from db.models import Delivery, Endpoint
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.receiver import WebhookReceiver
from tests.test_webhooks import deliver_until, follow
from tracker.app import App
from tracker.articles import add_articles
from tracker.channels import (
    ChannelError,
    add_channel,
    channels,
    pause,
    remove_channel,
    resume,
    scrub,
    send_test,
)
from tracker.delivery import deliver_due, list_deliveries, redeliver
from tracker.errors import BlockedAddress, TrackerError
from tracker.passes import check_many
from tracker.subscriptions import subscribers


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(verify=False) as service:
        yield service


@pytest.fixture
def fast_app(make_app):  # type: ignore[no-untyped-def]
    return make_app(webhook_retry_schedule="1s,1s,1s", webhook_timeout=2.0,
                    public_url="https://tracker.example.org/")


def json_url(receiver: WebhookReceiver) -> str:
    return f"json://user:s3cretpass@127.0.0.1:{receiver.port}/hook"


def changed_twice(app: App, server: ArticleServer) -> int:
    """An article seen, then changed: two events (first_seen, changed)."""
    article_id = follow(app, server)
    check_many(app, [article_id])
    server.set_version("story", 2)
    check_many(app, [article_id])
    return article_id


def bodies(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    return [m["body"] for m in receiver.received]


def test_json_channel_gets_a_readable_change(
    fast_app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    add_channel(fast_app, json_url(receiver), name="desk")
    article_id = changed_twice(fast_app, article_server)
    deliver_until(fast_app, lambda: len(receiver.received) == 2)
    first, change = bodies(receiver)
    assert first["title"].startswith("Now tracking: ")
    assert "changed in" in change["title"] or change["title"].startswith("Headline changed")
    text = change["message"]
    assert article_server.url("story") in text
    assert f"https://tracker.example.org/articles/{article_id}/diff/1..2" in text
    assert "Summary:" in text
    assert "[-" in text or "{+" in text  # json:// takes text: wdiff marks
    assert receiver.duplicates() == {} or all(m["id"] is None for m in receiver.received)


def test_form_ntfy_and_gotify_targets(
    fast_app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    add_channel(fast_app, f"form://127.0.0.1:{receiver.port}/form", name="form")
    add_channel(fast_app, f"ntfy://127.0.0.1:{receiver.port}/newsdesk?format=markdown",
                name="ntfy")
    add_channel(fast_app, f"gotify://127.0.0.1:{receiver.port}/AbCdEfGhIjKlMnO", name="gotify")
    changed_twice(fast_app, article_server)
    deliver_until(fast_app, lambda: len(receiver.received) == 6)
    by_path: dict[str, list[Any]] = {}
    for attempt in receiver.attempts:
        body = receiver.received[[a["at"] for a in receiver.attempts
                                  if a["status"] == 200].index(attempt["at"])]["body"]
        by_path.setdefault(attempt["path"].split("?")[0], []).append(body)
    assert all(a["status"] == 200 for a in receiver.attempts)
    assert set(by_path) == {"/form", "/", "/message"}
    assert by_path["/form"][1]["title"]
    ntfy = by_path["/"][1]
    assert ntfy["topic"] == "newsdesk"
    assert "**Summary:**" in ntfy["message"]  # markdown dialect
    assert "~~" in ntfy["message"] or "**" in ntfy["message"]
    gotify = by_path["/message"][1]
    assert "Summary:" in gotify["message"]


def test_receiver_failing_then_back_sends_once(
    fast_app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    add_channel(fast_app, json_url(receiver), name="desk", events=["article.changed"])
    receiver.respond("fail", status=500, times=2)
    changed_twice(fast_app, article_server)
    deliver_until(fast_app, lambda: len(receiver.received) == 1)
    time.sleep(1.2)
    deliver_due(fast_app)
    assert len(receiver.received) == 1
    assert len(receiver.attempts) == 3
    [delivery] = list_deliveries(fast_app)["deliveries"]
    assert delivery["state"] == "delivered"
    assert delivery["channel"] == "desk"
    assert "s3cretpass" not in str(delivery)
    assert [h["error"] is not None for h in delivery["history"]] == [True, True, False]


def test_receiver_down_then_back_and_slow(
    fast_app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    add_channel(fast_app, json_url(receiver), name="desk", events=["article.changed"])
    receiver.stop()
    changed_twice(fast_app, article_server)
    [result] = deliver_due(fast_app)
    assert result.outcome == "retry"
    assert "s3cretpass" not in (result.error or "")
    receiver.start()
    receiver.respond("hang", seconds=5, times=1)  # slower than the 2 s timeout
    deliver_until(fast_app, lambda: len(receiver.received) >= 1, timeout=20)
    # The slow answer timed out on our side, but the service may have shown it: at least once
    assert 1 <= len(receiver.received) <= 2
    [delivery] = list_deliveries(fast_app)["deliveries"]
    assert delivery["state"] == "delivered"


def test_failing_for_days_disables_with_a_reason(
    fast_app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    add_channel(fast_app, json_url(receiver), name="desk", events=["article.changed"])
    receiver.respond("fail", status=500, times=100)
    changed_twice(fast_app, article_server)
    deliver_due(fast_app)
    with session_scope(fast_app.writer) as session:
        session.execute(update(Endpoint).values(
            failing_since=dt.datetime.now(dt.UTC) - dt.timedelta(days=6)))
        session.execute(update(Delivery).values(next_attempt_at=dt.datetime.now(dt.UTC)))
    [result] = deliver_due(fast_app)
    assert result.outcome == "disabled"
    [channel] = channels(fast_app)["channels"]
    assert channel["state"] == "disabled"
    assert "failed for 5 days" in channel["disabled_reason"]
    receiver.respond("ok")
    assert resume(fast_app, "desk") == 1
    assert redeliver(fast_app, failed=True).queued == 1
    deliver_until(fast_app, lambda: len(receiver.received) == 1)


def test_url_is_sealed_and_masked(make_app, receiver: WebhookReceiver) -> None:  # type: ignore[no-untyped-def]
    from tracker.webhooks.secrets import generate_key

    fast_app = make_app(secret_key=generate_key())  # a shared database needs a key set
    add_channel(fast_app, json_url(receiver), name="desk")
    listed = channels(fast_app)
    assert "s3cretpass" not in str(listed)
    assert listed["channels"][0]["url"].startswith("json://user:****@127.0.0.1")
    with session_scope(fast_app.reader) as session:
        row = session.scalars(select(Endpoint)).one()
        assert row.secret.startswith("fernet:")
        assert "s3cretpass" not in row.secret + row.url
    assert subscribers(fast_app) == {"subscribers": []}  # webhooks' list: webhooks only


def test_private_target_is_refused_unless_allowed(make_app, receiver: WebhookReceiver) -> None:  # type: ignore[no-untyped-def]
    strict = make_app(allow_networks="")
    for url in (json_url(receiver), "mailto://127.0.0.1:2525?user=u&pass=p&to=a@example.org&from=t@example.org",
                "ntfy://localhost/topic"):
        with pytest.raises(BlockedAddress) as refused:
            add_channel(strict, url)
        assert "u:p@" not in str(refused.value)
        assert "s3cretpass" not in str(refused.value)


def test_delivery_time_guard_refuses_a_private_address(
    make_app, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:  # type: ignore[no-untyped-def]
    relaxed = make_app()
    add_channel(relaxed, json_url(receiver), name="desk", events=["article.changed"])
    changed_twice(relaxed, article_server)
    strict = make_app(allow_networks="")
    [result] = deliver_due(strict)
    assert result.outcome == "retry"
    assert result.error is not None
    assert result.error.startswith("refused:")
    assert receiver.attempts == []


def test_filters_and_pause(
    fast_app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    add_channel(fast_app, json_url(receiver), name="changes", events=["article.changed"],
                hosts=["elsewhere.example", "127.0.0.1"], tags=["politik", "news"])
    add_channel(fast_app, json_url(receiver) + "?x=1", name="other-host",
                hosts=["elsewhere.example"])
    add_channel(fast_app, json_url(receiver) + "?x=2", name="muted")
    pause(fast_app, "muted")
    add_articles(fast_app, [article_server.add_article("story", 1)], tags=["news"])
    article_id = follow(fast_app, article_server)
    check_many(fast_app, [article_id])
    article_server.set_version("story", 2)
    check_many(fast_app, [article_id])
    deliver_due(fast_app)
    assert len(receiver.received) == 1  # "changes" only, and only the change
    assert "changed" in bodies(receiver)[0]["title"]
    resume(fast_app, "muted")
    deliver_due(fast_app)
    assert len(receiver.received) == 1  # muted meanwhile: not queued


@pytest.mark.parametrize(("minimum", "words", "sent"), [
    (None, 3, True), (5, 3, False), (5, 5, True), (5, None, True), (0, 1, True),
])
def test_min_words_holds_back_small_changes(
    minimum: int | None, words: int | None, sent: bool
) -> None:
    from db.models import Article, Event
    from tracker.delivery import wants as _matches

    channel = Endpoint(kind="channel", events=["*"], min_words=minimum)
    data = {"words": words} if words is not None else {}
    article = Article(url="https://example.org/a", host="example.org", tags=[])
    assert _matches(channel, Event(type="article.changed", data=data), article) is sent
    assert _matches(channel, Event(type="article.first_seen", data={}), article)


def test_manage_channels(fast_app: App, receiver: WebhookReceiver) -> None:
    made = add_channel(fast_app, json_url(receiver))
    assert made.name == "json"
    assert add_channel(fast_app, json_url(receiver) + "?x=1").name == "json-2"
    with pytest.raises(ChannelError, match="already"):
        add_channel(fast_app, json_url(receiver), name="json")
    with pytest.raises(ChannelError, match="Apprise cannot use"):
        add_channel(fast_app, "nosuchservice://x:supersecret@example.org")
    with pytest.raises(TrackerError, match="unknown event"):
        add_channel(fast_app, json_url(receiver), events=["article.nope"])
    assert send_test(fast_app, "json").ok
    assert bodies(receiver)[0]["title"] == "Test message: tracker is set up"
    receiver.respond("fail", status=503)
    failed = send_test(fast_app, "json")
    assert not failed.ok
    assert failed.error
    assert "s3cretpass" not in failed.error
    assert remove_channel(fast_app, "json").startswith("json://user:****@")
    assert [c["name"] for c in channels(fast_app)["channels"]] == ["json-2"]


def test_scrub_removes_every_secret_part() -> None:
    url = "tgram://123456789:AAbbCCddEE/5551234?token=zzzz9999"
    text = "could not reach tgram://123456789:AAbbCCddEE/5551234 with zzzz9999"
    cleaned = scrub(url, text)
    for secret in ("123456789", "AAbbCCddEE", "5551234", "zzzz9999"):
        assert secret not in cleaned


# --- e-mail -------------------------------------------------------------------------------------


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def _any_login(*_: Any) -> Any:
    from aiosmtpd.smtp import AuthResult

    return AuthResult(success=True)


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Mailbox]]:
    from aiosmtpd.controller import Controller

    box = _Mailbox()
    with socket.socket() as probe:  # a free port (the controller checks it by connecting)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port, auth_require_tls=False,
                            authenticator=_any_login)
    controller.start()
    try:
        yield port, box
    finally:
        controller.stop()


def test_mailto_sends_an_html_change(
    fast_app: App, article_server: ArticleServer, smtp: tuple[int, _Mailbox]
) -> None:
    port, box = smtp
    add_channel(fast_app, f"mailto://127.0.0.1:{port}?from=tracker@example.org"
                          "&to=desk@example.org&mode=insecure", name="mail",
                events=["article.changed"])
    article_id = changed_twice(fast_app, article_server)
    deliver_until(fast_app, lambda: len(box.messages) == 1)
    [mail] = box.messages
    assert mail["To"] == "desk@example.org"
    assert "changed in" in mail["Subject"] or mail["Subject"].startswith("Headline changed")
    html = mail.get_body(("html",)).get_content()
    assert "<ins style=" in html or "<del style=" in html
    assert f"https://tracker.example.org/articles/{article_id}/diff/1..2" in html


# --- digests ------------------------------------------------------------------------------------


def test_digest_sends_one_message_per_period(
    fast_app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    add_channel(fast_app, json_url(receiver), name="hourly", digest="1h")
    article_id = changed_twice(fast_app, article_server)
    article_server.set_version("story", 3)
    check_many(fast_app, [article_id])
    assert deliver_due(fast_app) == []  # the period is not over
    with session_scope(fast_app.writer) as session:  # as if the hour had passed
        session.execute(update(Delivery).values(next_attempt_at=dt.datetime.now(dt.UTC)))
    deliver_until(fast_app, lambda: len(receiver.received) == 1)
    [digest] = bodies(receiver)
    assert digest["title"] == "3 updates in the last hour"
    assert digest["message"].count("Article:") == 3
    states = [d["state"] for d in list_deliveries(fast_app)["deliveries"]]
    assert states == ["delivered"] * 3
    deliver_due(fast_app)
    assert len(receiver.received) == 1


# --- hostile articles, end to end ---------------------------------------------------------------

HOSTILE = ("@channel @here <!everyone> <@U024BE7LH> [Jetzt klicken](http://evil.example/) "
           "**Eilmeldung** <img src=x onerror=alert(1)> ![bild](http://evil.example/p.png)")


def hostile_page(extra: str) -> bytes:
    paragraphs = [
        "Die Abgeordneten berieten am Donnerstag stundenlang über den Haushalt des Landes.",
        "Der Finanzminister verteidigte die geplanten Kürzungen bei den Kommunen scharf.",
        f"Die Opposition kündigte Widerstand an. {extra}",
    ]
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    title = html.escape(f"Haushalt {HOSTILE}")
    return (f"<!DOCTYPE html><html lang='de'><head><title>{title}</title></head><body>"
            f"<article><h1>{title}</h1>{body}</article></body></html>").encode()


def test_hostile_article_text_reaches_no_channel_as_markup(
    fast_app: App, receiver: WebhookReceiver, smtp: tuple[int, _Mailbox]
) -> None:
    from tests.pageserver import PageServer

    port, box = smtp
    add_channel(fast_app, f"json://127.0.0.1:{receiver.port}/text", name="text",
                events=["article.changed"])
    add_channel(fast_app, f"ntfy://127.0.0.1:{receiver.port}/desk?format=markdown",
                name="md", events=["article.changed"])
    add_channel(fast_app, f"mailto://127.0.0.1:{port}?from=t@example.org&to=d@example.org"
                          "&mode=insecure", name="mail", events=["article.changed"])
    with PageServer() as site:
        url = site.put("/haushalt", hostile_page("Mehr folgt."))
        add_articles(fast_app, [url])
        article_id = follow_url(fast_app, url)
        check_many(fast_app, [article_id])
        site.put("/haushalt", hostile_page(f"Neu: {HOSTILE}"))
        check_many(fast_app, [article_id])
    deliver_until(fast_app, lambda: len(receiver.received) == 2 and len(box.messages) == 1)
    text = next(m["body"] for m in receiver.received if "topic" not in m["body"])
    markdown = next(m["body"] for m in receiver.received if "topic" in m["body"])
    html_body = box.messages[0].get_body(("html",)).get_content()
    for shown in (text["title"], text["message"], markdown["title"], markdown["message"],
                  box.messages[0]["Subject"], html_body):
        assert "@channel" not in shown
        assert "@here" not in shown
        assert "<!everyone>" not in shown
        assert "<@U024BE7LH>" not in shown
    assert "[Jetzt klicken](http" not in markdown["message"]
    assert "![bild](http" not in markdown["message"]
    assert "**Eilmeldung**" not in markdown["message"]
    assert "<img" not in html_body
    assert "&lt;img src=x" in html_body
    assert "{+" in text["message"]  # the inserted words are still shown, marked


def follow_url(app: App, url: str) -> int:
    from db import queries

    with session_scope(app.reader) as session:
        row = queries.article_by_url(session, url)
        assert row is not None
        return row.id


# --- hostile services and URLs ------------------------------------------------------------------


def test_a_service_dripping_its_answer_is_cut_at_the_attempt_deadline(
    make_app, article_server: ArticleServer
) -> None:  # type: ignore[no-untyped-def]
    from tests.hostile import Answer, HostileServer

    def drip(answer: Answer) -> None:
        answer.drip(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", 0.4)

    app = make_app(webhook_timeout=1.5)
    with HostileServer() as service:
        service.route("/hook", drip)
        add_channel(app, f"json://127.0.0.1:{service.port}/hook", name="slow",
                    events=["article.changed"])
        changed_twice(app, article_server)
        started = time.monotonic()
        [result] = deliver_due(app)
    # the answer takes 16 s to drip; cut at the 1.5 s deadline (with room for a loaded machine)
    assert time.monotonic() - started < 8
    assert result.outcome == "retry"


@pytest.mark.parametrize("url", [
    "json://127.0.0.1:9/ho\tok", "json://127.0.0.1:9/hook\x00", "nosuch://example.org/x",
    "json://", "x" * 5000, "mailto://", "ntfy://user:pa\nss@127.0.0.1/t",
])
def test_notify_add_refuses_a_url_no_message_could_use(app: App, url: str) -> None:
    with pytest.raises(TrackerError) as refused:
        add_channel(app, url)
    assert "pa\nss" not in str(refused.value)
    assert channels(app) == {"channels": []}


def test_a_digest_outlives_the_removal_of_its_first_article(
    fast_app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    from tracker.articles import remove_articles

    add_channel(fast_app, json_url(receiver), name="hourly", digest="1h",
                events=["article.first_seen"])
    first = article_server.add_article("first", 1)
    second = article_server.add_article("second", 1)
    add_articles(fast_app, [first, second])
    check_many(fast_app, [follow_url(fast_app, first), follow_url(fast_app, second)])
    assert deliver_due(fast_app) == []
    carrier_url = first if _carrier_article(fast_app) == follow_url(fast_app, first) else second
    remove_articles(fast_app, [carrier_url])
    with session_scope(fast_app.writer) as session:
        session.execute(update(Delivery).values(next_attempt_at=dt.datetime.now(dt.UTC)))
    deliver_until(fast_app, lambda: len(receiver.received) == 1)
    [digest] = bodies(receiver)
    assert digest["title"] == "1 update in the last hour"
    assert ({first, second} - {carrier_url}).pop() in digest["message"]


def _carrier_article(app: App) -> int:
    with session_scope(app.reader) as session:
        return session.scalars(select(Delivery.article_id).where(
            Delivery.digest_of.is_(None))).one()


def test_secrets_encrypt_reseals_channel_urls_under_a_new_key(
    make_app, receiver: WebhookReceiver
) -> None:  # type: ignore[no-untyped-def]
    from tracker.subscriptions import encrypt_secrets
    from tracker.webhooks.secrets import generate_key

    old, new = generate_key(), generate_key()
    add_channel(make_app(secret_key=old), json_url(receiver), name="desk")
    assert encrypt_secrets(make_app(secret_key=f"{new},{old}")).changed == 1
    assert send_test(make_app(secret_key=new), "desk").ok
    with pytest.raises(TrackerError):
        send_test(make_app(secret_key=old), "desk")


# --- watchdog events --------------------------------------------------------------------------


def test_watchdog_events_reach_a_channel_readably(
    fast_app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    from tracker.check import check_article

    add_channel(fast_app, json_url(receiver), name="watch",
                events=["article.deleted", "article.restored", "article.gutted"])
    article_id = follow(fast_app, article_server)
    check_article(fast_app, article_id)
    article_server.set_mode("story", "gutted")
    check_article(fast_app, article_id)
    check_article(fast_app, article_id)  # gutted: confirmed on the second check
    article_server.set_mode("story", "404")
    check_article(fast_app, article_id)
    check_article(fast_app, article_id)  # deleted: confirmed on the second check
    deliver_until(fast_app, lambda: len(receiver.received) == 2)
    gutted, deleted = bodies(receiver)
    assert gutted["title"].startswith("Article gutted: ")
    assert "[-" in gutted["message"]  # the removed text, marked deleted
    assert "/diff/1..2" in gutted["message"]
    assert deleted["title"].startswith("Article deleted: ")
    assert "status: 404" in deleted["message"]


def test_webhook_commands_leave_channels_alone(fast_app: App, receiver: WebhookReceiver) -> None:
    from tracker.subscriptions import rotate_secret, unsubscribe

    made = add_channel(fast_app, json_url(receiver), name="desk")
    [channel] = channels(fast_app)["channels"]
    for key in (str(channel["id"]), "desk"):
        with pytest.raises(TrackerError, match="is channel 'desk'"):
            rotate_secret(fast_app, key, grace=dt.timedelta(hours=1))
        with pytest.raises(TrackerError, match="is channel 'desk'"):
            unsubscribe(fast_app, key)
    assert send_test(fast_app, made.name).ok
