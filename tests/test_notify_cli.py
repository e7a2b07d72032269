"""`tracker notify` as a new user runs it (docs/notify.md): the real command in a subprocess,
an ntfy target and a mailto target on 127.0.0.1, then `tracker check` delivering the change."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.articleserver import ArticleServer
from tests.clihelp import tracker, tracker_json
from tests.receiver import WebhookReceiver
from tests.test_channels import _Mailbox, smtp  # noqa: F401 - the fixture


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(verify=False) as service:
        yield service


def test_a_new_user_adds_ntfy_and_mail_and_reads_a_change(
    sqlite_url: str, article_server: ArticleServer, receiver: WebhookReceiver,
    smtp: tuple[int, _Mailbox],  # noqa: F811
) -> None:
    port, box = smtp
    added = tracker(sqlite_url, "notify", "add",
                    f"ntfy://reader:hunter22@127.0.0.1:{receiver.port}/desk?format=markdown",
                    "--name", "phone", "--events", "article.changed")
    assert "channel phone: ntfy://reader:****@127.0.0.1" in added.stdout
    assert "hunter22" not in added.stdout + added.stderr
    tracker(sqlite_url, "notify", "add", f"mailto://127.0.0.1:{port}?user=u&pass=mailpass99"
            "&from=tracker@example.org&to=desk@example.org&mode=insecure", "--name", "mail",
            "--events", "article.changed", "--min-words", "1")
    listed = tracker(sqlite_url, "notify", "list")
    assert "phone" in listed.stdout
    assert "hunter22" not in listed.stdout
    assert "mailpass99" not in listed.stdout
    assert "min-words=1" in listed.stdout
    as_json = tracker_json(sqlite_url, "notify", "list", "--format", "json")
    assert [c["name"] for c in as_json["channels"]] == ["phone", "mail"]
    assert "mailpass99" not in json.dumps(as_json)

    assert "sent a test message to phone" in tracker(sqlite_url, "notify", "test", "phone").stdout
    assert receiver.received[-1]["body"]["title"] == "Test message: tracker is set up"

    url = article_server.add_article("story", 1)
    tracker(sqlite_url, "add", url)
    tracker(sqlite_url, "check", "--all")
    article_server.set_version("story", 2)
    tracker(sqlite_url, "check", "--all")
    receiver.wait_for(2)
    change = receiver.received[-1]["body"]
    assert change["topic"] == "desk"
    assert "**Summary:**" in change["message"]
    assert url in change["message"]
    assert len(box.messages) == 1
    assert "<ins style=" in box.messages[0].get_body(("html",)).get_content()

    tracker(sqlite_url, "notify", "pause", "phone")
    assert "paused" in tracker(sqlite_url, "notify", "list").stdout
    again = tracker(sqlite_url, "notify", "pause", "phone", check=False)
    assert again.returncode != 0
    assert "is paused" in again.stderr
    tracker(sqlite_url, "notify", "resume", "phone")
    shown = tracker_json(sqlite_url, "deliveries", "--endpoint", "phone", "--format", "json")
    assert [d["channel"] for d in shown["deliveries"]] == ["phone"]
    assert shown["deliveries"][0]["state"] == "delivered"
    assert "hunter22" not in json.dumps(shown)
    assert "removed: ntfy://reader:****@" in tracker(sqlite_url, "notify", "remove",
                                                      "phone").stdout
    missing = tracker(sqlite_url, "notify", "test", "phone", check=False)
    assert missing.returncode != 0
    assert "no channel 'phone'" in missing.stderr


def test_a_failing_test_message_says_why_without_the_secret(
    sqlite_url: str, receiver: WebhookReceiver
) -> None:
    tracker(sqlite_url, "notify", "add",
            f"json://bot:tok3n5ecret@127.0.0.1:{receiver.port}/hook", "--name", "desk")
    receiver.respond("fail", status=500)
    failed = tracker(sqlite_url, "notify", "test", "desk", check=False)
    assert failed.returncode != 0
    assert "not sent" in failed.stderr
    assert "tok3n5ecret" not in failed.stderr + failed.stdout
