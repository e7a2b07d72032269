"""Durations as people write them ("90s", "10m", "2h", "1d") and the adaptive schedule."""

from __future__ import annotations

import random
import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
MIN_INTERVAL = 10


def parse_duration(text: str) -> int:
    """Seconds in ``text``; a bare number is seconds. Raises ValueError with a clear message."""
    match = _DURATION.match(text.lower())
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 10m, 2h, 1d)")
    return round(float(match.group(1)) * _UNITS[match.group(2) or "s"])


def parse_interval(text: str) -> int:
    seconds = parse_duration(text)
    if seconds < MIN_INTERVAL:
        raise ValueError(f"interval {text!r} is below the minimum of {MIN_INTERVAL}s")
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
    return interval


def developing_cap(base: int, developing_interval: int) -> int:
    """The longest interval of a developing story: the setting, or (0) the article's own."""
    return developing_interval if developing_interval > 0 else base


def failure_delay(base: int, failures: int, *, maximum: int) -> int:
    """Back-off after ``failures`` consecutive failed checks: 1×, 2×, 4× … the base, capped."""
    return int(min(max(maximum, base), base * 2 ** max(0, failures - 1)))


def jitter(seconds: int, fraction: float = 0.1) -> float:
    """Spread checks that fell due together so they do not stay in lockstep."""
    return seconds * (1 + random.uniform(-fraction, fraction))
