"""The pure core of politeness: GCRA (the "generic cell rate algorithm", a token bucket kept as
one timestamp) as one step from a host's state and the time to a turn and the new state, with
the constants and answers the limiters share. No I/O, no clock: the limiters bring both
(``tracker.politeness.local`` in process, ``tracker.politeness.redislink`` in Redis).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

BURST = 1  # requests a host may get at once after a quiet spell (1: strictly spaced)
# Turns are spaced this much wider than 60 / rate: the requests reach the site a little early
# or late (scheduling, the network), and without the margin two of them could land closer
# together than the turns were, so that some minute held one request more than the rate.
SPACING_MARGIN = 1.01
MAX_SLEEP = 2.0  # seconds a check may wait for its turn; longer and it is deferred
DEFAULT_PAUSE = 60.0  # seconds a host is paused after 429/503 without a usable Retry-After
MAX_PAUSE = 3600.0  # a Retry-After further out than this is cut to it


class HostBusy(Exception):
    """The host cannot take a request now: come back at ``until`` (epoch seconds)."""

    def __init__(self, until: float, reason: str, *, paused: bool = False) -> None:
        super().__init__(reason)
        self.until = until
        self.reason = reason
        self.paused = paused  # the host asked for the pause (429/503), not the rate


@dataclass(frozen=True, slots=True)
class Turn:
    """A limiter's answer to "may I send a request to this host?"."""

    granted: bool
    wait: float  # granted: sleep this long first; refused: seconds until the host is free
    paused: str = ""  # refused because the host is paused: why ("HTTP 429 …"); else ""


@dataclass(frozen=True, slots=True)
class HostState:
    """All the algorithm remembers of a host, as epoch seconds."""

    tat: float = 0.0  # theoretical arrival time: when the host is back to an empty bucket
    line: float = 0.0  # the free slot after the last one promised to a refused caller
    pause: float = 0.0  # no request before this
    why: str = ""  # what caused the pause


def decide(
    state: HostState, now: float, rate: float, max_wait: float, burst: int = BURST
) -> tuple[Turn, HostState]:
    """One GCRA step: the turn for a caller at ``now`` and the host's new state.

    ``rate`` is requests per minute; 0 or less means no limit (but a pause still holds)."""
    interval = 60.0 / rate if rate > 0 else 0.0
    tolerance = interval * (max(1, burst) - 1)
    tat = max(state.tat, now)
    allowed = max(tat - tolerance, state.pause)
    wait = max(0.0, allowed - now)
    if wait <= max_wait:
        return Turn(True, wait), replace(state, tat=max(tat, allowed) + interval)
    slot = max(state.line, allowed)
    paused = (state.why or "paused") if state.pause > tat - tolerance else ""
    return Turn(False, slot - now, paused), replace(state, line=slot + interval)


class RateLimiter(Protocol):
    def turn(self, host: str, rate: float, max_wait: float) -> Turn: ...

    def pause(self, host: str, seconds: float, why: str) -> float:
        """Pause ``host`` for ``seconds`` (capped at MAX_PAUSE); returns the pause's end."""
        ...
