"""Durations as people write them ("90s", "10m", "2h", "1d") and the adaptive schedule.

Every duration has bounds: a check interval lies between ``MIN_INTERVAL`` and
``MAX_INTERVAL``, any other duration (``--since``, ``--grace``) under ``MAX_DURATION``, so no
later date arithmetic can overflow, whatever was typed or stored.
"""

from __future__ import annotations

import math
import random
import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
# At most 12 digits before the point: longer numbers are out of every bound anyway.
_DURATION = re.compile(r"^\s*(\d{1,12}(?:\.\d{1,9})?)\s*([smhd]?)\s*$")
MIN_INTERVAL = 10
MAX_INTERVAL = 365 * 86_400  # a check a year is the rarest schedule that makes sense
MAX_DURATION = 100 * 365 * 86_400  # e.g. changes --since 100y-ish: far enough back for anyone


class DurationOutOfRange(ValueError):
    """A well-formed duration beyond its bounds."""


def parse_duration(text: str, *, maximum: int = MAX_DURATION) -> int:
    """Seconds in ``text``; a bare number is seconds. Raises ValueError with a clear message,
    also for more than ``maximum`` seconds."""
    match = _DURATION.match(text.lower()) if len(text) <= 40 else None
    if not match:
        raise ValueError(f"not a duration: {text[:40]!r} (use e.g. 30s, 10m, 2h, 1d)")
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if not math.isfinite(seconds) or seconds > maximum:
        raise DurationOutOfRange(
            f"duration {text.strip()!r} is too long: at most {format_duration(maximum)}"
        )
    return round(seconds)


def parse_interval(text: str) -> int:
    """A check or poll interval: at least ``MIN_INTERVAL``, at most ``MAX_INTERVAL`` seconds."""
    seconds = parse_duration(text, maximum=MAX_INTERVAL)
    if seconds < MIN_INTERVAL:
        raise DurationOutOfRange(f"interval {text!r} is below the minimum of {MIN_INTERVAL}s")
    return seconds


def format_duration(seconds: float) -> str:
    seconds = round(seconds)
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    if seconds >= 60:
        return f"{seconds / 60:.1f}m"
    return f"{seconds}s"


def next_interval(
    current: int, base: int, *, changed: bool, maximum: int, cap: int | None = None
) -> int:
    """The interval after a successful check.

    A change halves the interval (down to half the article's own interval, never under 10 s):
    a story that is being rewritten gets looked at more often. Each unchanged check stretches it
    by half, up to ``maximum``, so quiet stories drift toward rare checks. ``cap`` (a page that
    says it is a developing story) holds it at or under that many seconds however quiet the
    page stays.
    """
    floor = max(MIN_INTERVAL, base // 2)
    if changed:
        interval = max(floor, min(current, base) // 2)
    else:
        interval = min(max(maximum, base), max(floor, round(current * 1.5)))
    if cap is not None:
        interval = min(interval, max(MIN_INTERVAL, cap))
    return bounded(interval)


def bounded(seconds: float) -> int:
    """An interval within ``MIN_INTERVAL``…``MAX_INTERVAL``: a value stored before bounds were
    checked (or a rule gone wrong) must not make the next date overflow."""
    if not math.isfinite(seconds):
        return MAX_INTERVAL
    return int(min(MAX_INTERVAL, max(MIN_INTERVAL, seconds)))


def developing_cap(base: int, developing_interval: int) -> int:
    """The longest interval of a developing story: the setting, or (0) the article's own."""
    return developing_interval if developing_interval > 0 else base


def failure_delay(base: int, failures: int, *, maximum: int) -> int:
    """Back-off after ``failures`` consecutive failed checks: 1×, 2×, 4× … the base, capped."""
    return bounded(min(max(maximum, base), base * 2 ** min(40, max(0, failures - 1))))


def jitter(seconds: float, fraction: float = 0.1) -> float:
    """Spread checks that fell due together so they do not stay in lockstep."""
    return seconds * (1 + random.uniform(-fraction, fraction))
