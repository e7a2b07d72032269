"""What one poll of a feed or sitemap means for its source: a pure decision, like
``tracker.decide`` for an article's check.

``decide_poll(before, failure, rules, now)``: a good poll (``failure`` is None) clears the
failure count and schedules the next poll one interval on; a failed one backs off
(``tracker.schedule.after_failure``: doubling per failure in a row, never sooner than the
server's Retry-After). The ``failing_after``-th failed poll in a row starts a failing episode
and the next good poll ends it: ``episode`` says so once each, never on every poll.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from tracker.decide import Rules, is_failing
from tracker.schedule import Schedule, after_failure, after_poll


@dataclass(frozen=True, slots=True)
class SourceBefore:
    """The source as it was before this poll."""

    interval: int
    failure_count: int = 0


@dataclass(frozen=True, slots=True)
class PollFailure:
    message: str
    retry_after: float | None = None  # the server's Retry-After, in seconds


class Episode(StrEnum):
    FAILING = "failing"  # this failed poll is the failing_after-th in a row
    RECOVERED = "recovered"  # a good poll after a failing episode


@dataclass(frozen=True, slots=True)
class PollDecision:
    schedule: Schedule
    failure_count: int  # failed polls in a row, this one included
    error: str | None = None
    episode: Episode | None = None


def decide_poll(
    before: SourceBefore, failure: PollFailure | None, rules: Rules, now: dt.datetime
) -> PollDecision:
    if failure is None:
        recovered = is_failing(before.failure_count, rules)
        return PollDecision(after_poll(rules.schedule, now, before.interval), 0,
                            episode=Episode.RECOVERED if recovered else None)
    failures = before.failure_count + 1
    schedule = after_failure(rules.schedule, now, interval=before.interval, base=before.interval,
                             failures=failures, retry_after=failure.retry_after)
    started = is_failing(failures, rules) and not is_failing(before.failure_count, rules)
    return PollDecision(schedule, failures, failure.message,
                        Episode.FAILING if started else None)

