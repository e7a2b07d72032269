"""The test webhook receiver (tests/receiver.py), driven by our signing module and httpx."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.receiver import WebhookReceiver
from tracker.webhooks.signing import headers, new_secret

SECRET = new_secret()
BODY = json.dumps({"type": "article.restored", "data": {"version": 3}}).encode()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver([SECRET]) as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as http:
        yield http


def post(
    client: httpx.Client, url: str, msg_id: str = "evt_1", secrets: list[str] | None = None
) -> httpx.Response:
    signed = headers(secrets or [SECRET], msg_id, int(time.time()), BODY)
    return client.post(url, content=BODY, headers=signed)


def test_a_signed_message_is_accepted_and_recorded(
    receiver: WebhookReceiver, client: httpx.Client
) -> None:
    assert receiver.url == f"http://127.0.0.1:{receiver.port}/hook"
    assert post(client, receiver.url).status_code == 204
    [message] = receiver.wait_for(1)
    assert message["id"] == "evt_1"
    assert message["body"] == json.loads(BODY)
    assert message["verified_by"] == [0]
    assert message["headers"]["content-type"] == "application/json"
    assert abs(message["timestamp"] - time.time()) < 5
    assert receiver.attempts[0]["status"] == 204


def test_a_bad_signature_gets_401_and_is_not_received(
    receiver: WebhookReceiver, client: httpx.Client
) -> None:
    assert post(client, receiver.url, secrets=[new_secret()]).status_code == 401
    [attempt] = receiver.attempts
    assert (attempt["status"], attempt["verified_by"]) == (401, [])
    assert "No matching signature" in attempt["error"]
    assert receiver.received == []


def test_without_secrets_nothing_verifies(client: httpx.Client) -> None:
    with WebhookReceiver() as receiver:
        assert post(client, receiver.url).status_code == 401
        assert receiver.attempts[0]["error"] == "no secret configured"


def test_during_rotation_any_secret_verifies_and_is_named(
    receiver: WebhookReceiver, client: httpx.Client
) -> None:
    new = new_secret()
    receiver.set_secrets([SECRET, new])
    post(client, receiver.url, "evt_both", secrets=[new, SECRET])
    post(client, receiver.url, "evt_new", secrets=[new])
    assert [m["verified_by"] for m in receiver.wait_for(2)] == [[0, 1], [1]]


def test_fail_then_ok(receiver: WebhookReceiver, client: httpx.Client) -> None:
    receiver.respond("fail", status=503, times=2)
    statuses = [post(client, receiver.url).status_code for _ in range(3)]
    assert statuses == [503, 503, 204]
    assert len(receiver.received) == 1
    assert [a["status"] for a in receiver.attempts] == [503, 503, 204]


def test_gone_answers_410(receiver: WebhookReceiver, client: httpx.Client) -> None:
    receiver.respond("gone")
    assert post(client, receiver.url).status_code == 410
    assert receiver.received == []


def test_redirect_points_elsewhere_and_records_no_follow(
    receiver: WebhookReceiver, client: httpx.Client
) -> None:
    receiver.respond("redirect")
    response = post(client, receiver.url)  # httpx does not follow unless asked
    assert response.status_code == 302
    assert response.headers["location"] == f"http://127.0.0.1:{receiver.port}/elsewhere"
    assert [a["path"] for a in receiver.attempts] == ["/hook"]


def test_duplicates_are_recorded(receiver: WebhookReceiver, client: httpx.Client) -> None:
    for msg_id in ("evt_a", "evt_b", "evt_a"):
        post(client, receiver.url, msg_id)
    assert [m["duplicate"] for m in receiver.wait_for(3)] == [False, False, True]
    assert receiver.duplicates() == {"evt_a": 2}


def test_stop_and_start_again_on_the_same_port(
    receiver: WebhookReceiver, client: httpx.Client
) -> None:
    url = receiver.url
    assert post(client, url, "evt_before").status_code == 204
    receiver.stop()
    with pytest.raises(httpx.ConnectError):
        post(client, url, "evt_down")  # the kept-alive connection was cut as well
    receiver.start()
    assert receiver.url == url
    assert post(client, url, "evt_after").status_code == 204
    assert receiver.ids() == ["evt_before", "evt_after"]


def test_a_hanging_request_does_not_block_others_and_stop_wakes_it(
    receiver: WebhookReceiver,
) -> None:
    receiver.respond("hang", seconds=30, times=1)
    outcome: list[object] = []

    def hanging() -> None:
        with httpx.Client(timeout=30) as own:
            try:
                outcome.append(post(own, receiver.url, "evt_slow"))
            except httpx.HTTPError as exc:
                outcome.append(exc)

    thread = threading.Thread(target=hanging)
    thread.start()
    receiver.wait_until(lambda: receiver.in_progress == 1)
    started = time.monotonic()
    with httpx.Client(timeout=5) as other:
        assert post(other, receiver.url, "evt_fast").status_code == 204
    assert time.monotonic() - started < 5  # far below the 30 s hang
    receiver.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert isinstance(outcome[0], httpx.HTTPError)  # cut without an answer
    assert receiver.ids() == ["evt_fast"]


def test_wait_for_says_what_arrived_when_it_times_out(receiver: WebhookReceiver) -> None:
    with pytest.raises(AssertionError, match="expected 1 verified message"):
        receiver.wait_for(1, timeout=0.1)
