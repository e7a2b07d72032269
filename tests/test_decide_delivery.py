"""One delivery attempt's decision (``tracker.decide_delivery``) alone: no server, no database.

The rules are the documented ones (docs/notify.md, docs/webhooks.md), written out here rather
than read from the module, so a changed rule fails a test."""

from __future__ import annotations

import datetime as dt
import email.utils

import pytest

from db.states import DeliveryOutcome, DeliveryState
from tracker.decide_delivery import (
    Answer,
    Before,
    DeliveryDecision,
    Disable,
    Episode,
    Rules,
    Stored,
    Unbuilt,
    decide_delivery,
    disabling,
    sendable,
    spread,
)

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
SENT_AT = NOW - dt.timedelta(seconds=2)  # the attempt went out a little before it is recorded
RULES = Rules((5.0, 30.0, 120.0), dt.timedelta(days=5), jitter=float)
PENDING = Before(DeliveryState.PENDING, 0)


def after(seconds: float) -> dt.datetime:
    return NOW + dt.timedelta(seconds=seconds)


def answer(
    status: int | None = None, *, error: str | None = None, retry_after: str | None = None,
    latency_ms: int = 0, response: str | None = None, sent: bool = False,
) -> Answer:
    return Answer(SENT_AT, status, error, retry_after, latency_ms, response, sent)


def decide(attempt: Answer | Unbuilt, before: Before = PENDING,
           rules: Rules = RULES) -> DeliveryDecision:
    return decide_delivery(before, attempt, rules, NOW)


# --- delivered ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 204, 299])
def test_a_2xx_answer_is_delivered_and_its_attempt_stored(status: int) -> None:
    decision = decide(answer(status, latency_ms=31, response="ok"))

    assert decision.outcome == DeliveryOutcome.DELIVERED
    assert (decision.state, decision.attempts, decision.error) == (DeliveryState.DELIVERED, 1,
                                                                    None)
    assert decision.stored == Stored(SENT_AT, status, 31, "ok", None)
    assert (decision.next_attempt_at, decision.failing_since, decision.episode) == (None, None,
                                                                                    None)
    assert decision.writes


@pytest.mark.parametrize("status", [199, 300])
def test_an_answer_just_outside_2xx_is_not_delivered(status: int) -> None:
    decision = decide(answer(status))

    assert decision.outcome == DeliveryOutcome.RETRY
    assert decision.error == f"HTTP {status}"


def test_a_channel_message_the_service_took_is_delivered_without_a_status() -> None:
    decision = decide(answer(sent=True, latency_ms=80))

    assert decision.outcome == DeliveryOutcome.DELIVERED
    assert decision.stored == Stored(SENT_AT, None, 80, None, None)


def test_a_channel_message_the_service_refused_is_retried_with_its_reason() -> None:
    decision = decide(answer(error="the service did not accept it"))

    assert (decision.outcome, decision.error) == (DeliveryOutcome.RETRY,
                                                  "the service did not accept it")
    assert decision.last_error == "the service did not accept it"


def test_delivered_after_failing_ends_the_endpoints_failing_streak() -> None:
    since = NOW - dt.timedelta(hours=3)
    decision = decide(answer(200), Before(DeliveryState.PENDING, 4, since))

    assert (decision.failing_since, decision.episode) == (None, Episode.RECOVERED)
    assert decision.attempts == 5


def test_delivered_counts_even_when_the_delivery_was_cancelled_meanwhile() -> None:
    decision = decide(answer(200), Before(DeliveryState.CANCELLED, 1))

    assert (decision.outcome, decision.state) == (DeliveryOutcome.DELIVERED,
                                                  DeliveryState.DELIVERED)


# --- failures that are retried -------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 400, 404, 422, 500, 502])
def test_any_other_status_is_retried_on_the_schedule(status: int) -> None:
    decision = decide(answer(status, response="nope"))

    assert (decision.outcome, decision.state) == (DeliveryOutcome.RETRY, None)
    assert (decision.error, decision.last_error) == (f"HTTP {status}", f"HTTP {status}")
    assert decision.next_attempt_at == after(5)
    assert decision.stored == Stored(SENT_AT, status, 0, "nope", None)


@pytest.mark.parametrize("error", [
    "timed out after 10 s",
    "connection failed: ConnectError: [Errno 111] Connection refused",
    "refused: a private address",
    "interrupted: tracker was stopping",
    "cannot be sent: InvalidURL: bad",
])
def test_an_attempt_without_an_answer_is_retried_with_its_error(error: str) -> None:
    decision = decide(answer(error=error))

    assert (decision.outcome, decision.error, decision.status) == (DeliveryOutcome.RETRY, error,
                                                                   None)
    assert decision.next_attempt_at == after(5)
    assert decision.stored == Stored(SENT_AT, None, 0, None, error)


def test_an_answer_is_judged_by_its_status_however_long_it_was() -> None:
    cut = "x" * 2048  # the sender keeps the first 2 KiB of a huge answer
    ok, bad = decide(answer(200, response=cut)), decide(answer(500, response=cut))

    assert (ok.outcome, bad.outcome) == (DeliveryOutcome.DELIVERED, DeliveryOutcome.RETRY)
    assert ok.stored == Stored(SENT_AT, 200, 0, cut, None)
    assert bad.stored == Stored(SENT_AT, 500, 0, cut, None)


def test_each_retry_waits_the_next_delay_of_the_schedule() -> None:
    waits = [decide(answer(500), Before(DeliveryState.PENDING, n)).next_attempt_at
             for n in range(3)]

    assert waits == [after(5), after(30), after(120)]


def test_the_retry_delay_is_spread_by_the_jitter() -> None:
    doubled = Rules(RULES.retry_schedule, RULES.disable_after, jitter=lambda d: d * 2)

    assert decide(answer(500), rules=doubled).next_attempt_at == after(10)


def test_a_zero_delay_in_the_schedule_retries_at_once() -> None:
    at_once = Rules((0.0, 0.0), RULES.disable_after, jitter=float)

    assert decide(answer(500), rules=at_once).next_attempt_at == NOW
    assert decide(answer(429, retry_after="0"), rules=at_once).next_attempt_at == NOW


def test_spread_keeps_a_delay_within_a_fifth_of_itself() -> None:
    delays = {spread(100.0) for _ in range(200)}

    assert all(80.0 <= d <= 120.0 for d in delays)
    assert len(delays) > 1


def test_spread_reaches_a_fifth_either_way() -> None:
    assert spread(100.0, lambda low, high: low) == pytest.approx(80.0)
    assert spread(100.0, lambda low, high: high) == pytest.approx(120.0)


def test_an_answer_knows_nothing_it_was_not_told() -> None:
    decision = decide(Answer(SENT_AT, 500))

    assert decision.stored == Stored(SENT_AT, 500, 0, None, None)
    assert decision.next_attempt_at == after(5)  # no Retry-After
    assert not Answer(SENT_AT).delivered  # neither a status nor a service that took it


def test_the_first_failure_starts_the_endpoints_failing_streak_once() -> None:
    first = decide(answer(500))
    second = decide(answer(500), Before(DeliveryState.PENDING, 1, SENT_AT))

    assert (first.failing_since, first.episode) == (SENT_AT, Episode.FAILING)
    assert (second.failing_since, second.episode) == (SENT_AT, None)


def test_a_failure_keeps_the_streaks_start() -> None:
    since = NOW - dt.timedelta(days=1)
    decision = decide(answer(500), Before(DeliveryState.PENDING, 2, since))

    assert decision.failing_since == since


# --- Retry-After ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_hold_back_the_retry(status: int) -> None:
    decision = decide(answer(status, retry_after="120"))

    assert decision.outcome == DeliveryOutcome.RETRY
    assert decision.next_attempt_at == after(120)


def test_retry_after_as_an_http_date_holds_back_the_retry() -> None:
    when = email.utils.format_datetime(NOW + dt.timedelta(minutes=10), usegmt=True)

    assert decide(answer(429, retry_after=when)).next_attempt_at == after(600)


def test_retry_after_sooner_than_the_schedule_does_not_hurry_it() -> None:
    assert decide(answer(429, retry_after="1")).next_attempt_at == after(5)
    assert decide(answer(429, retry_after="5")).next_attempt_at == after(5)


def test_retry_after_is_cut_to_an_hour() -> None:
    assert decide(answer(503, retry_after="99999999")).next_attempt_at == after(3600)


@pytest.mark.parametrize("value", ["soon", "", "-5", "²"])
def test_an_unreadable_retry_after_leaves_the_schedule(value: str) -> None:
    assert decide(answer(429, retry_after=value)).next_attempt_at == after(5)


@pytest.mark.parametrize(("status", "retry_at"), [(500, after(5)), (502, after(5)),
                                                  (410, None), (200, None)])
def test_retry_after_counts_only_on_429_and_503(status: int, retry_at: dt.datetime | None) -> None:
    assert decide(answer(status, retry_after="600")).next_attempt_at == retry_at


def test_retry_after_gives_no_attempt_beyond_the_schedule() -> None:
    decision = decide(answer(429, retry_after="60"), Before(DeliveryState.PENDING, 3))

    assert (decision.outcome, decision.next_attempt_at) == (DeliveryOutcome.FAILED, None)


# --- giving up -----------------------------------------------------------------------------


def test_the_last_delay_of_the_schedule_is_used_before_giving_up() -> None:
    decision = decide(answer(500), Before(DeliveryState.PENDING, 2))

    assert (decision.outcome, decision.attempts) == (DeliveryOutcome.RETRY, 3)
    assert decision.next_attempt_at == after(120)


def test_a_failure_after_the_schedule_is_used_up_fails_the_delivery() -> None:
    decision = decide(answer(500), Before(DeliveryState.PENDING, 3))

    assert (decision.outcome, decision.state) == (DeliveryOutcome.FAILED, DeliveryState.FAILED)
    assert (decision.attempts, decision.error, decision.last_error) == (4, "HTTP 500",
                                                                         "HTTP 500")
    assert (decision.next_attempt_at, decision.disable) == (None, None)


def test_an_endpoint_failing_for_disable_after_is_disabled() -> None:
    since = NOW - dt.timedelta(days=5)
    decision = decide(answer(error="timed out after 10 s"), Before(DeliveryState.PENDING, 1,
                                                                    since))

    assert (decision.outcome, decision.state) == (DeliveryOutcome.DISABLED,
                                                  DeliveryState.FAILED)
    assert decision.error == "timed out after 10 s"
    assert decision.disable == Disable("every delivery failed for 5 days")
    assert decision.next_attempt_at is None


def test_an_endpoint_failing_a_moment_less_than_disable_after_is_retried() -> None:
    since = NOW - dt.timedelta(days=5) + dt.timedelta(seconds=1)
    decision = decide(answer(500), Before(DeliveryState.PENDING, 1, since))

    assert (decision.outcome, decision.disable) == (DeliveryOutcome.RETRY, None)


def test_disabling_after_a_fraction_of_a_day_says_so() -> None:
    half = Rules(RULES.retry_schedule, dt.timedelta(hours=12), jitter=float)
    since = NOW - dt.timedelta(hours=12)
    decision = decide(answer(500), Before(DeliveryState.PENDING, 1, since), half)

    assert decision.disable == Disable("every delivery failed for 0.5 days")


def test_disable_after_zero_disables_at_the_first_failure_and_still_starts_the_streak() -> None:
    at_once = Rules(RULES.retry_schedule, dt.timedelta(0), jitter=float)
    decision = decide(answer(500), rules=at_once)

    assert decision.outcome == DeliveryOutcome.DISABLED
    assert decision.episode == Episode.FAILING


def test_410_gone_fails_the_delivery_and_disables_its_endpoint() -> None:
    decision = decide(answer(410), Before(DeliveryState.PENDING, 2))

    assert (decision.outcome, decision.state) == (DeliveryOutcome.DISABLED,
                                                  DeliveryState.FAILED)
    assert (decision.error, decision.status) == ("endpoint disabled (410)", 410)
    assert decision.disable == Disable("the receiver answered 410 Gone", gone=True)
    assert (decision.last_error, decision.attempts, decision.episode) == (None, 3, None)


def test_410_leaves_the_failing_streak_as_it_was() -> None:
    since = NOW - dt.timedelta(hours=1)

    assert decide(answer(410)).failing_since is None
    assert decide(answer(410), Before(DeliveryState.PENDING, 1, since)).failing_since == since


# --- not sent, not claimed, cancelled ------------------------------------------------------


def test_a_delivery_that_cannot_be_built_fails_at_once_without_an_attempt() -> None:
    decision = decide(Unbuilt("cannot be built: PayloadTooLarge"), Before(DeliveryState.PENDING,
                                                                           2, SENT_AT))

    assert (decision.outcome, decision.state) == (DeliveryOutcome.FAILED, DeliveryState.FAILED)
    assert decision.error == decision.last_error == "cannot be built: PayloadTooLarge"
    assert (decision.stored, decision.attempts, decision.status) == (None, 2, None)
    assert (decision.failing_since, decision.episode, decision.disable) == (SENT_AT, None, None)
    assert decision.writes


@pytest.mark.parametrize("attempt", [answer(200), answer(500), Unbuilt("broken")])
def test_an_attempt_whose_claim_expired_writes_nothing(attempt: Answer | Unbuilt) -> None:
    decision = decide(attempt, Before(DeliveryState.PENDING, 1, claimed=False))

    assert (decision.outcome, decision.error) == (DeliveryOutcome.SKIPPED,
                                                  "claim expired meanwhile")
    assert (decision.stored, decision.state) == (None, None)
    assert decision.status == (attempt.status if isinstance(attempt, Answer) else None)
    assert not decision.writes


def test_a_failed_attempt_at_a_cancelled_delivery_is_stored_and_skipped() -> None:
    decision = decide(answer(500), Before(DeliveryState.CANCELLED, 1))

    assert (decision.outcome, decision.error) == (DeliveryOutcome.SKIPPED, "delivery cancelled")
    assert (decision.state, decision.attempts, decision.next_attempt_at) == (None, 2, None)
    assert decision.stored == Stored(SENT_AT, 500, 0, None, None)
    assert (decision.failing_since, decision.episode, decision.disable) == (None, None, None)
    assert decision.writes


def test_a_410_at_a_cancelled_delivery_disables_nothing_more() -> None:
    decision = decide(answer(410), Before(DeliveryState.CANCELLED, 1))

    assert (decision.outcome, decision.disable) == (DeliveryOutcome.SKIPPED, None)


# --- a batch's disabled endpoints, what is sent ---------------------------------------------


def test_a_410_reason_wins_over_failing_too_long_in_either_order() -> None:
    gone = decide(answer(410))
    too_long = decide(answer(500), Before(DeliveryState.PENDING, 1, NOW - dt.timedelta(days=9)))

    for order in ([(7, gone), (7, too_long)], [(7, too_long), (7, gone)]):
        assert disabling(order) == {7: "the receiver answered 410 Gone"}


def test_each_endpoint_is_disabled_with_its_first_reason() -> None:
    first = decide(answer(500), Before(DeliveryState.PENDING, 1, NOW - dt.timedelta(days=9)))
    other = DeliveryDecision(DeliveryOutcome.DISABLED, disable=Disable("other"))
    retried = decide(answer(500))

    assert disabling([(1, first), (1, other), (2, retried), (3, other)]) == {
        1: "every delivery failed for 5 days", 3: "other"}


@pytest.mark.parametrize(("state", "endpoint", "claimed", "sent"), [
    ("pending", "active", True, True),
    ("pending", "active", False, False),
    ("pending", "paused", True, False),
    ("pending", "disabled", True, False),
    ("delivered", "active", True, False),
    ("cancelled", "active", True, False),
])
def test_only_a_claimed_pending_delivery_to_an_active_endpoint_is_sent(
    state: str, endpoint: str, claimed: bool, sent: bool
) -> None:
    assert sendable(state, endpoint, claimed) is sent
