"""A source poll's decision (``tracker.decide_poll``) alone: no server, no database."""

from __future__ import annotations

import datetime as dt

from tracker.decide import Rules
from tracker.decide_poll import Episode, PollFailure, SourceBefore, decide_poll
from tracker.schedule import ScheduleRules

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
RULES = Rules(ScheduleRules(max_interval=86_400, jitter=float), failing_after=3)


def after(seconds: float) -> dt.datetime:
    return NOW + dt.timedelta(seconds=seconds)


def test_a_good_poll_clears_failures_and_waits_one_interval() -> None:
    decision = decide_poll(SourceBefore(300, failure_count=1), None, RULES, NOW)

    assert (decision.failure_count, decision.error, decision.episode) == (0, None, None)
    assert decision.schedule.next_check_at == after(300)
    assert decision.schedule.interval == 300


def test_failed_polls_back_off_doubling_and_honour_retry_after() -> None:
    first = decide_poll(SourceBefore(300), PollFailure("HTTP 500"), RULES, NOW)
    second = decide_poll(SourceBefore(300, 1), PollFailure("HTTP 500"), RULES, NOW)
    patient = decide_poll(SourceBefore(300), PollFailure("HTTP 503", 5000.0), RULES, NOW)

    assert (first.failure_count, first.error) == (1, "HTTP 500")
    assert first.schedule.next_check_at == after(300)
    assert second.schedule.next_check_at == after(600)
    assert patient.schedule.next_check_at == after(5000)


def test_the_failing_episode_starts_once_and_ends_with_the_next_good_poll() -> None:
    episodes = [decide_poll(SourceBefore(300, n), PollFailure("x"), RULES, NOW).episode
                for n in range(5)]

    assert episodes == [None, None, Episode.FAILING, None, None]
    assert decide_poll(SourceBefore(300, 5), None, RULES, NOW).episode == Episode.RECOVERED
    assert decide_poll(SourceBefore(300, 2), None, RULES, NOW).episode is None


def test_failing_after_zero_never_starts_an_episode() -> None:
    never = Rules(RULES.schedule, failing_after=0)

    assert decide_poll(SourceBefore(300, 50), PollFailure("x"), never, NOW).episode is None
    assert decide_poll(SourceBefore(300, 50), None, never, NOW).episode is None
