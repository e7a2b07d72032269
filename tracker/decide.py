"""What one check of an article means: a pure decision, made before anything is written.

``decide(previous, seen, rules, now)`` takes what was known of the article before the check
(``Previous``) and what the check saw (``Seen``: a failure, the same page again, or an
extracted page compared with the latest version) and returns a ``Decision``: the outcome, the
article's new state, its next check, the events to emit and whether a version is stored.
``tracker.check`` loads, fetches, extracts and diffs, asks ``decide``, and applies the decision
in one transaction; nothing here reads or writes storage, so every state transition is a test
of this module alone (``tests/test_decide.py``).

Outcomes (``db.states.CheckOutcome``):

- no version yet → ``first_seen`` (stored; ``article.first_seen``);
- another extractor than the latest version's → ``rebaseline`` (stored, marked, not notified);
- the same content hash → ``unchanged``;
- most of the text lost at once (under ``COLLAPSE_RATIO`` of the latest version's characters)
  → ``no_content``: far more often a consent wall, a paywall or a broken template than an
  editor deleting three quarters of a story, so the last good version is kept;
- a diff a reader would see → ``changed`` (``article.changed``), or ``minor`` when it changes
  fewer words than the notification threshold (stored, not notified); else ``unchanged``.

States (``db.states.ArticleState``): a 404 or 410 makes an ``active`` (or ``settled``) article
``unavailable`` (``article.unavailable``); any good page makes an ``unavailable`` one
``active`` again (``article.restored``). A change re-activates a ``settled`` article; a quiet
check may settle an ``active`` one (``tracker.schedule``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from db.states import CHANGE_OUTCOMES, ArticleState, CheckOutcome, EventType
from tracker.diff import is_change
from tracker.schedule import Schedule, ScheduleRules, after_failure, after_good_page
from tracker.significance import is_minor

# New text shorter than this share of the latest version's is treated as a broken page.
COLLAPSE_RATIO = 0.2


# --- what is known before the check ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Previous:
    """The article as it was before this check."""

    state: str
    interval: int
    base_interval: int
    failure_count: int = 0
    developing: bool = False
    quiet_since: dt.datetime | None = None  # the last change, or when it was added
    versions: int = 0  # stored versions; the latest is number ``versions``
    latest_hash: str | None = None  # content hash and extractor of the latest version
    latest_extractor: str | None = None


@dataclass(frozen=True, slots=True)
class Rules:
    schedule: ScheduleRules = field(default_factory=ScheduleRules)
    notify_threshold: int = 0  # changes of fewer words are stored but not notified


# --- what the check saw ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Failure:
    """No usable page: the fetch failed, the page answered 404/410, or held no article."""

    message: str
    status: int | None = None
    gone: bool = False  # 404 or 410
    no_content: bool = False  # fetched, but nothing to extract
    refused: bool = False  # robots.txt disallows it
    retry_after: float | None = None  # the server's Retry-After, in seconds


@dataclass(frozen=True, slots=True)
class Same:
    """The page is known to be the same without extracting it (304, or the same bytes)."""

    outcome: CheckOutcome  # NOT_MODIFIED or SAME_BYTES
    status: int | None = None


@dataclass(frozen=True, slots=True)
class Comparison:
    """The extracted page against the latest version (made when their hashes differ)."""

    diff: dict[str, Any]
    old_chars: int  # characters of the latest version's paragraphs
    new_chars: int


@dataclass(frozen=True, slots=True)
class Extracted:
    content_hash: str
    extractor: str
    paragraphs: int
    developing: bool  # the page says its story is developing
    status: int | None = None
    comparison: Comparison | None = None


Seen = Failure | Same | Extracted


# --- the decision ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Emit:
    """An event to append to the article's outbox."""

    type: EventType
    data: dict[str, Any]
    of_version: bool = False  # about the version this check stores


@dataclass(frozen=True, slots=True)
class Store:
    """Store the extracted page as version ``number``."""

    number: int
    rebaseline: bool = False  # the extractor changed: a new baseline, not a change


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: CheckOutcome
    state: str  # the article's state after the check
    schedule: Schedule
    failure_count: int = 0  # consecutive failed checks, this one included
    error: str | None = None  # the failure's message (also the article's last_error)
    status: int | None = None  # the HTTP status the check got
    store: Store | None = None
    events: tuple[Emit, ...] = ()
    developing: bool | None = None  # the page's marker (None: not extracted, keep it)
    changed: bool = False  # a change was stored: last_changed_at becomes now
    summary: dict[str, int] | None = field(default=None)  # the diff's counts, for a change

    @property
    def good(self) -> bool:
        """A usable page: the validators and body digest of this page are remembered."""
        return self.outcome not in {CheckOutcome.FAILED, CheckOutcome.NO_CONTENT,
                                    CheckOutcome.GONE}


def decide(previous: Previous, seen: Seen, rules: Rules, now: dt.datetime) -> Decision:
    if isinstance(seen, Failure):
        return _failed(previous, seen, rules, now)
    if isinstance(seen, Same):
        return _good(previous, rules, now, seen.outcome, seen.status, previous.developing)
    return _extracted(previous, seen, rules, now)


def _extracted(previous: Previous, seen: Extracted, rules: Rules, now: dt.datetime) -> Decision:
    number = previous.versions + 1
    if previous.latest_hash is None:
        data = {"version": 1, "paragraphs": seen.paragraphs}
        first = Emit(EventType.FIRST_SEEN, data, of_version=True)
        return _good(previous, rules, now, CheckOutcome.FIRST_SEEN, seen.status, seen.developing,
                     store=Store(1), events=(first,))
    if previous.latest_extractor != seen.extractor:
        return _good(previous, rules, now, CheckOutcome.REBASELINE, seen.status, seen.developing,
                     store=Store(number, rebaseline=True))
    compared = seen.comparison
    if previous.latest_hash == seen.content_hash or compared is None:
        return _good(previous, rules, now, CheckOutcome.UNCHANGED, seen.status, seen.developing)
    if compared.new_chars < COLLAPSE_RATIO * compared.old_chars:
        return _failed(previous, _collapse(compared, seen.status), rules, now)
    if not is_change(compared.diff):
        return _good(previous, rules, now, CheckOutcome.UNCHANGED, seen.status, seen.developing)
    if is_minor(compared.diff, rules.notify_threshold):
        return _good(previous, rules, now, CheckOutcome.MINOR, seen.status, seen.developing,
                     store=Store(number), summary=compared.diff["summary"])
    changed = Emit(EventType.CHANGED, _changed_data(number, compared.diff), of_version=True)
    return _good(previous, rules, now, CheckOutcome.CHANGED, seen.status, seen.developing,
                 store=Store(number), events=(changed,), summary=compared.diff["summary"])


def _collapse(compared: Comparison, status: int | None) -> Failure:
    message = (f"the page lost most of its text ({compared.old_chars:,} → "
               f"{compared.new_chars:,} characters): probably a consent, paywall or error page; "
               "keeping the last good version")
    return Failure(message, status, no_content=True)


def _changed_data(number: int, diff: dict[str, Any]) -> dict[str, Any]:
    """Kept small (one row per version): the counts that are not zero; the full diff is made
    from the stored versions when a notification is built."""
    data: dict[str, Any] = {
        "version": number,
        "changes": {k: n for k, n in diff["summary"].items() if n and k != "unchanged"},
    }
    if diff["metadata"]:
        data["metadata"] = sorted(diff["metadata"])
    return data


def _good(
    previous: Previous, rules: Rules, now: dt.datetime, outcome: CheckOutcome,
    status: int | None, developing: bool, *, store: Store | None = None,
    events: tuple[Emit, ...] = (), summary: dict[str, int] | None = None,
) -> Decision:
    """A usable page: failures are over, a gone article is back, the schedule adapts."""
    changed = outcome in CHANGE_OUTCOMES
    schedule = after_good_page(
        rules.schedule, now, interval=previous.interval, base=previous.base_interval,
        developing=developing, changed=changed, state=previous.state,
        quiet_since=previous.quiet_since,
        quiet=store is None and previous.state != ArticleState.UNAVAILABLE,
    )
    state = previous.state
    if state == ArticleState.UNAVAILABLE:
        state = ArticleState.ACTIVE
        latest = store.number if store else previous.versions or None
        events = (*events, Emit(EventType.RESTORED, {"version": latest}))
    elif schedule.settled:
        state = ArticleState.SETTLED
    elif changed and state == ArticleState.SETTLED:  # checked by name or --all, and it changed
        state = ArticleState.ACTIVE
    return Decision(outcome, state, schedule, status=status, store=store, events=events,
                    developing=developing, changed=changed, summary=summary)


def _failed(previous: Previous, seen: Failure, rules: Rules, now: dt.datetime) -> Decision:
    """No usable page: the schedule backs off, the last good version stays."""
    failures = previous.failure_count + 1
    outcome = (CheckOutcome.GONE if seen.gone else
               CheckOutcome.NO_CONTENT if seen.no_content else CheckOutcome.FAILED)
    schedule = after_failure(
        rules.schedule, now, interval=previous.interval, base=previous.base_interval,
        failures=failures, gone=seen.gone, refused=seen.refused, retry_after=seen.retry_after,
    )
    state, events = previous.state, tuple[Emit, ...]()
    if seen.gone and state == ArticleState.ACTIVE:
        state = ArticleState.UNAVAILABLE
        data = {"status": seen.status, "version": previous.versions or None}
        events = (Emit(EventType.UNAVAILABLE, data),)
    return Decision(outcome, state, schedule, failures, seen.message, seen.status, events=events)
