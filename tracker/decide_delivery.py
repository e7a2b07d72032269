"""What one attempt at a delivery means: a pure decision, like ``tracker.decide`` for a check.

``decide_delivery(before, attempt, rules, now)`` takes the delivery and its endpoint as they
were before the attempt is recorded (``Before``) and what the attempt came to (``Answer``: the
receiver's status, or the error that left it without one; ``Unbuilt``: the message could not
be built) and returns a ``DeliveryDecision``: the outcome, the delivery's new state and next
attempt, what is stored of the attempt, and what becomes of the endpoint. ``tracker.delivery``
loads, sends, asks this module and applies the decision; every retry, back-off, give-up and
disable rule is here and only here, so each is a test of this module alone
(``tests/test_decide_delivery.py``). Webhooks and channels go through the same rules.

Outcomes (``db.states.DeliveryOutcome``), in the order the rules are tried:

- its claim expired meanwhile (another worker holds it now) → ``skipped``: nothing is stored;
- the message could not be built → ``failed`` at once, no attempt counted (a retry would
  build the same thing);
- a 2xx answer (a channel: the service took the message) → ``delivered``, whatever happened
  meanwhile; an endpoint that was failing is back (``Episode.RECOVERED``);
- cancelled meanwhile (its endpoint was disabled) → ``skipped``, the attempt stored;
- 410 Gone → ``disabled``: the delivery failed and the endpoint is disabled;
- any other answer or error (3xx, 4xx, 5xx, timed out, refused, connection failed): the
  endpoint is failing since its first failure (``Episode.FAILING`` when that is this one); an
  endpoint failing for ``disable_after`` → ``disabled``; the retry schedule used up →
  ``failed``; else ``retry`` after the schedule's next delay, spread by ``jitter``, and never
  sooner than the receiver's ``Retry-After`` on a 429 or 503 (``tracker.headers``: at most an
  hour).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from db.states import DeliveryOutcome, DeliveryState, EndpointState
from tracker.headers import retry_after

# Statuses whose Retry-After says when to come back (RFC 9110 §10.2.3).
RETRY_AFTER_STATUSES = frozenset({429, 503})


def spread(delay: float, uniform: Callable[[float, float], float] = random.uniform) -> float:
    """A retry's delay, ±20 %: deliveries that failed together do not all retry together."""
    return delay * uniform(0.8, 1.2)


# --- what is known before the attempt is recorded -------------------------------------------


@dataclass(frozen=True, slots=True)
class Before:
    """The delivery and its endpoint, as locked for recording the attempt."""

    state: str  # the delivery's (a DeliveryState)
    attempts: int  # attempts recorded so far
    failing_since: dt.datetime | None = None  # the endpoint's first failure since it delivered
    claimed: bool = True  # the attempt's lease is still the delivery's


@dataclass(frozen=True, slots=True)
class Rules:
    retry_schedule: tuple[float, ...]  # seconds after the 1st, 2nd … failed attempt
    disable_after: dt.timedelta  # an endpoint failing everything this long is disabled
    jitter: Callable[[float], float] = spread


# --- what the attempt came to ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """One attempt that was made: the receiver's answer, or the error that left none."""

    attempted_at: dt.datetime
    status: int | None = None
    error: str | None = None  # timed out, refused, connection failed … (no status then)
    retry_after: str | None = None  # the receiver's Retry-After header, as it sent it
    latency_ms: int = 0
    response: str | None = None  # the start of the receiver's answer (capped by the sender)
    sent: bool = False  # a channel's message that the service took

    @property
    def delivered(self) -> bool:
        return self.sent or (self.status is not None and 200 <= self.status < 300)


@dataclass(frozen=True, slots=True)
class Unbuilt:
    """No attempt was made: the payload, secret or URL of the delivery is unusable."""

    reason: str


# --- the decision ---------------------------------------------------------------------------


class Episode(StrEnum):
    FAILING = "failing"  # the endpoint's first failure since it last delivered
    RECOVERED = "recovered"  # the endpoint delivered after failing


@dataclass(frozen=True, slots=True)
class Disable:
    """The endpoint is disabled (once the batch is recorded) and its waiting deliveries
    cancelled."""

    reason: str
    gone: bool = False  # the receiver said 410 Gone itself: this reason wins over another


@dataclass(frozen=True, slots=True)
class Stored:
    """The row stored for the attempt (``delivery_attempts``)."""

    attempted_at: dt.datetime
    status: int | None
    latency_ms: int
    response: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class DeliveryDecision:
    outcome: DeliveryOutcome
    error: str | None = None  # what the caller is told
    state: DeliveryState | None = None  # the delivery's new state (None: unchanged)
    attempts: int = 0  # attempts recorded, this one included
    last_error: str | None = None
    next_attempt_at: dt.datetime | None = None  # a retry's
    failing_since: dt.datetime | None = None  # the endpoint's, after this attempt
    episode: Episode | None = None
    disable: Disable | None = None
    stored: Stored | None = None  # None: no attempt is recorded
    status: int | None = None

    @property
    def writes(self) -> bool:
        """Whether anything is written: a delivery whose claim expired is left as it is."""
        return self.outcome != DeliveryOutcome.SKIPPED or self.stored is not None


# --- the rules ------------------------------------------------------------------------------


def sendable(state: str, endpoint_state: str, claimed: bool) -> bool:
    """Whether a claimed delivery is sent: still pending, to an active endpoint."""
    return claimed and state == DeliveryState.PENDING and endpoint_state == EndpointState.ACTIVE


def decide_delivery(
    before: Before, attempt: Answer | Unbuilt, rules: Rules, now: dt.datetime
) -> DeliveryDecision:
    if not before.claimed:
        status = attempt.status if isinstance(attempt, Answer) else None
        return DeliveryDecision(DeliveryOutcome.SKIPPED, "claim expired meanwhile",
                                status=status, attempts=before.attempts,
                                failing_since=before.failing_since)
    if isinstance(attempt, Unbuilt):
        return DeliveryDecision(DeliveryOutcome.FAILED, attempt.reason, DeliveryState.FAILED,
                                before.attempts, attempt.reason,
                                failing_since=before.failing_since)
    return _answered(before, attempt, rules, now)


def _answered(before: Before, answer: Answer, rules: Rules, now: dt.datetime) -> DeliveryDecision:
    stored = Stored(answer.attempted_at, answer.status, answer.latency_ms, answer.response,
                    answer.error)
    done = DeliveryDecision(DeliveryOutcome.SKIPPED, attempts=before.attempts + 1,
                            last_error=answer.error, failing_since=before.failing_since,
                            stored=stored, status=answer.status)
    if answer.delivered:
        back = Episode.RECOVERED if before.failing_since is not None else None
        return replace(done, outcome=DeliveryOutcome.DELIVERED, state=DeliveryState.DELIVERED,
                       failing_since=None, episode=back)
    if before.state != DeliveryState.PENDING:
        return replace(done, error=f"delivery {before.state}")
    if answer.status == 410:
        return replace(done, outcome=DeliveryOutcome.DISABLED, error="endpoint disabled (410)",
                       state=DeliveryState.FAILED,
                       disable=Disable("the receiver answered 410 Gone", gone=True))
    reason = answer.error or f"HTTP {answer.status}"
    failing = replace(done, error=reason, last_error=reason,
                      failing_since=before.failing_since or answer.attempted_at,
                      episode=Episode.FAILING if before.failing_since is None else None)
    return _retry_or_give_up(failing, answer, rules, now)


def _retry_or_give_up(
    failing: DeliveryDecision, answer: Answer, rules: Rules, now: dt.datetime
) -> DeliveryDecision:
    assert failing.failing_since is not None
    if now - failing.failing_since >= rules.disable_after:
        days = rules.disable_after / dt.timedelta(days=1)
        return replace(failing, outcome=DeliveryOutcome.DISABLED, state=DeliveryState.FAILED,
                       disable=Disable(f"every delivery failed for {days:g} days"))
    if failing.attempts > len(rules.retry_schedule):
        return replace(failing, outcome=DeliveryOutcome.FAILED, state=DeliveryState.FAILED)
    delay = rules.jitter(rules.retry_schedule[failing.attempts - 1])
    asked = (retry_after(answer.retry_after, now.timestamp())
             if answer.status in RETRY_AFTER_STATUSES else None)
    later = now + dt.timedelta(seconds=max(delay, asked or 0.0))
    return replace(failing, outcome=DeliveryOutcome.RETRY, next_attempt_at=later)


def disabling(decisions: Iterable[tuple[int, DeliveryDecision]]) -> dict[int, str]:
    """The endpoints a batch's decisions disable (endpoint id → reason): a 410 Gone's reason
    wins over another, else the first one stands."""
    reasons: dict[int, str] = {}
    for endpoint_id, decision in decisions:
        off = decision.disable
        if off is not None and (off.gone or endpoint_id not in reasons):
            reasons[endpoint_id] = off.reason
    return reasons
