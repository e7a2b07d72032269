"""Per-host rules as plain data: the selector, what to ignore, the notification threshold.

A host's rules come from the ``hosts`` table (``tracker host set``); the check loads them with
its targets and hands ``IgnoreRules`` to extraction. Everything here is pure: validation of
user-given regular expressions and CSS selectors (with a message that says what is wrong), and
the fingerprint that goes into the extractor name, so that changing the rules makes the next
version a re-baseline rather than a reported change. No storage, no network.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class IgnoreRules:
    """What a site puts in its pages that is not article text.

    ``patterns``: regular expressions searched in each paragraph's normalised text (anchor them
    with ``^…$`` to require a whole paragraph); a match drops the paragraph. ``selectors``: CSS
    selectors of elements removed from the page before the text is extracted."""

    patterns: tuple[str, ...] = ()
    selectors: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.patterns or self.selectors)

    @property
    def fingerprint(self) -> str:
        """Eight hex digits that change whenever the rules do (order included: it is kept)."""
        payload = json.dumps([list(self.patterns), list(self.selectors)], ensure_ascii=False)
        return hashlib.blake2b(payload.encode(), digest_size=4).hexdigest()

    def matches(self, text: str) -> bool:
        """Whether a paragraph's text is one the patterns drop."""
        return any(regex.search(text) for regex in compiled_patterns(self.patterns))


@dataclass(frozen=True, slots=True)
class HostRules:
    """The rules of one host as a check uses them; every field may be unset."""

    selector: str | None = None
    ignore: IgnoreRules = field(default_factory=IgnoreRules)
    notify_threshold: int | None = None  # None: the global setting


NO_RULES = HostRules()


@lru_cache(maxsize=256)
def compiled_patterns(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(pattern) for pattern in patterns)


def check_pattern(pattern: str) -> str:
    """The pattern if it is a usable ignore pattern, else ValueError saying why."""
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"--ignore {pattern!r} is not a valid regular expression: {exc}") from exc
    if regex.search("") is not None:
        raise ValueError(
            f"--ignore {pattern!r} matches the empty string, so it would drop every paragraph"
        )
    return pattern


def check_selector(selector: str, option: str = "--selector") -> str:
    """The selector if lxml can use it, else ValueError saying why."""
    from cssselect import SelectorError
    from lxml.cssselect import CSSSelector

    if not selector.strip():
        raise ValueError(f"{option}: the CSS selector is empty")
    try:
        CSSSelector(selector)
    except SelectorError as exc:
        raise ValueError(f"{option} {selector!r} is not a valid CSS selector: {exc}") from exc
    return selector


def unique(values: Iterable[str]) -> list[str]:
    """The values in their first order, each once."""
    return list(dict.fromkeys(values))
