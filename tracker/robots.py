"""robots.txt, when the ``robots_txt`` setting asks for it: fetched once per host and cached.

The rules are read with the standard library's ``urllib.robotparser`` and matched against the
first word of the user agent ("tracker"). The usual conventions for a robots.txt that cannot be
read: 401 or 403 forbids the whole site; any other failure (404, 5xx, a timeout, a refused
connection) allows it, and is asked again sooner than a good answer. The file itself is fetched
by the caller's function (``tracker.fetch.Fetcher``: the same guarded client, slot and rate as
every other request to that host).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

TTL = 3600.0  # seconds a robots.txt is trusted
FAILURE_TTL = 600.0  # ... and a failed fetch of one
MAX_BYTES = 500 * 1024  # longer files are cut here (what the big crawlers read, too)


@dataclass(frozen=True, slots=True)
class RobotsAnswer:
    """What fetching ``/robots.txt`` gave: the status (0: no answer at all) and the text."""

    status: int
    text: str = ""


class RobotsRules:
    """The robots.txt rules of each host seen, cached for ``ttl`` seconds."""

    def __init__(
        self, user_agent: str, fetch: Callable[[str], RobotsAnswer], *, ttl: float = TTL,
        failure_ttl: float = FAILURE_TTL, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.agent = user_agent.split("/")[0].split()[0] if user_agent.strip() else "*"
        self.fetch = fetch
        self.ttl = ttl
        self.failure_ttl = failure_ttl
        self.clock = clock
        self._cache: dict[str, tuple[float, RobotFileParser]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def allowed(self, url: str) -> bool:
        return self._rules(url).can_fetch(self.agent, url)

    def _rules(self, url: str) -> RobotFileParser:
        parts = urlsplit(url)
        origin = urlunsplit((parts.scheme, parts.netloc, "", "", "")).lower()
        cached = self._cache.get(origin)
        if cached and cached[0] > self.clock():
            return cached[1]
        with self._lock:
            lock = self._locks.setdefault(origin, threading.Lock())
        with lock:  # one fetch per host, however many threads ask at once
            cached = self._cache.get(origin)
            if cached and cached[0] > self.clock():
                return cached[1]
            answer = self.fetch(f"{origin}/robots.txt")
            rules, good = parse(answer)
            self._cache[origin] = (self.clock() + (self.ttl if good else self.failure_ttl), rules)
            return rules


def parse(answer: RobotsAnswer) -> tuple[RobotFileParser, bool]:
    """The rules an answer gives, and whether it was a real answer (cached longer)."""
    rules = RobotFileParser()
    if answer.status in (401, 403):
        rules.parse(["User-agent: *", "Disallow: /"])
    elif 200 <= answer.status < 300:
        rules.parse(answer.text[:MAX_BYTES].splitlines())
    else:
        rules.parse([])  # no rules: everything allowed
    return rules, 200 <= answer.status < 500
