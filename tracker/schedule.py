"""When an article is checked next: the scheduling rule, written once.

Pure: settings in, a ``Schedule`` out. ``tracker.decide`` asks it after every check; the
arithmetic of intervals (adapting, back-off, bounds, jitter) is ``tracker.intervals``.

- After a good page the interval adapts (``intervals.next_interval``: a change halves it, a
  quiet check stretches it by half; a "developing story" holds it under its cap).
- An active article unchanged for ``settle_after`` seconds settles: no more checks until
  ``tracker add`` asks for it again. Only a quiet check (nothing stored) can settle it.
- After a failed check the interval is kept and the next check backs off: doubling per
  consecutive failure, never sooner than the server's Retry-After; a page that answered 404 or
  410 is looked at every quarter of ``max_interval`` (pages do come back), one that robots.txt
  refused every ``max_interval``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from db.states import ArticleState
from tracker import intervals


@dataclass(frozen=True, slots=True)
class ScheduleRules:
    max_interval: int = 86_400
    developing_interval: int = 0  # the cap of a developing story (0: the article's own interval)
    settle_after: int = 7 * 86_400  # 0: never settle
    jitter: Callable[[float], float] = intervals.jitter  # spreads checks that fell due together


@dataclass(frozen=True, slots=True)
class Schedule:
    interval: int
    next_check_at: dt.datetime
    settled: bool = False  # the article settles now (a quiet check after settle_after)


def after_good_page(
    rules: ScheduleRules, now: dt.datetime, *, interval: int, base: int, developing: bool,
    changed: bool, state: str, quiet_since: dt.datetime | None, quiet: bool,
) -> Schedule:
    """The next check after a page that was extracted, or known to be the same; ``quiet``:
    nothing new was stored (only then can an active article settle)."""
    cap = intervals.developing_cap(base, rules.developing_interval) if developing else None
    new = intervals.next_interval(interval, base, changed=changed, maximum=rules.max_interval,
                                  cap=cap)
    settled = quiet and settles(rules, state, quiet_since, now)
    return Schedule(new, _after(rules, now, new), settled)


def after_failure(
    rules: ScheduleRules, now: dt.datetime, *, interval: int, base: int, failures: int,
    gone: bool = False, refused: bool = False, retry_after: float | None = None,
) -> Schedule:
    """The next check after the ``failures``-th failed check in a row (the interval stays)."""
    maximum = rules.max_interval
    if gone:  # still looked at, rarely: pages do come back
        delay = rules.jitter(intervals.bounded(max(base, maximum // 4)))
    elif refused:  # robots.txt said no: asking often will not change its mind
        delay = rules.jitter(intervals.bounded(max(base, maximum)))
    else:
        backoff = rules.jitter(intervals.failure_delay(base, failures, maximum=maximum))
        delay = max(float(retry_after or 0), backoff)
    return Schedule(interval, now + dt.timedelta(seconds=delay))


def after_poll(rules: ScheduleRules, now: dt.datetime, interval: int) -> Schedule:
    """The next poll of a feed or sitemap after a good one: its own interval on (polls do not
    adapt: a source lists new stories whatever the last poll found)."""
    return Schedule(interval, _after(rules, now, interval))


def settles(
    rules: ScheduleRules, state: str, quiet_since: dt.datetime | None, now: dt.datetime
) -> bool:
    """An active article unchanged for ``settle_after`` seconds is done."""
    after = rules.settle_after
    return (after > 0 and state == ArticleState.ACTIVE and quiet_since is not None
            and now - quiet_since >= dt.timedelta(seconds=after))


def _after(rules: ScheduleRules, now: dt.datetime, interval: int) -> dt.datetime:
    return now + dt.timedelta(seconds=rules.jitter(interval))
