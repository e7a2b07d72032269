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
- most of the text lost at once (under ``COLLAPSE_RATIO`` of the latest version's characters):
  when what is left is not the story's own text (less than ``OWN_SHARE`` of it found in the
  latest version) → ``no_content``: a consent wall, an error page or a broken template, and the
  last good version is kept. When it is the story's own text, the first such check is
  ``shrunk`` (a failed check: nothing stored), and the next one in a row, still shrunk, is
  ``gutted``: the page is stored as a version and ``article.gutted`` sent, so its diff shows
  what was removed;
- a diff a reader would see → ``changed`` (``article.changed``), or ``minor`` when it changes
  fewer words than the notification threshold (stored, not notified); else ``unchanged``.

States (``db.states.ArticleState``): a 404 or 410 makes an ``active`` article
``unavailable`` (``article.unavailable``); a second 404 or 410 in a row makes an article with
versions ``deleted`` (``article.deleted``); any good page makes an ``unavailable`` or
``deleted`` one ``active`` again (``article.restored``). A change re-activates a ``settled``
article; a quiet check may settle an ``active`` one (``tracker.schedule``).

Episodes: the ``failing_after``-th failed check in a row sends ``article.failing``, the first
good check after it ``article.recovered``. Every watchdog event is sent once per episode: it is
bound to a transition (a state change, or a count reaching its mark), never to a check.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from db.states import (
    CHANGE_OUTCOMES,
    FAILED_OUTCOMES,
    GONE_STATES,
    ArticleState,
    CheckOutcome,
    EventType,
)
from tracker.diff import Diff
from tracker.schedule import Schedule, ScheduleRules, after_failure, after_good_page
from tracker.significance import is_minor

# New text shorter than this share of the latest version's is a broken page, or a gutted story.
COLLAPSE_RATIO = 0.2
# ... a gutted story when at least this share of what is left is found in the latest version.
OWN_SHARE = 0.5
# Characters of a failure message kept in an event (the message may quote the site).
EVENT_ERROR_CHARS = 500


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
    last_outcome: str | None = None  # of the check before this one


@dataclass(frozen=True, slots=True)
class Rules:
    schedule: ScheduleRules = field(default_factory=ScheduleRules)
    notify_threshold: int = 0  # changes of fewer words are stored but not notified
    failing_after: int = 5  # the failed check in a row that sends article.failing (0: never)


# --- what the check saw ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Failure:
    """No usable page: the fetch failed, the page answered 404/410, or held no article."""

    message: str
    status: int | None = None
    outcome: CheckOutcome = CheckOutcome.FAILED  # or GONE (404, 410), NO_CONTENT, SHRUNK
    refused: bool = False  # robots.txt disallows it
    retry_after: float | None = None  # the server's Retry-After, in seconds

    @property
    def gone(self) -> bool:
        return self.outcome == CheckOutcome.GONE


@dataclass(frozen=True, slots=True)
class Same:
    """The page is known to be the same without extracting it (304, or the same bytes)."""

    outcome: CheckOutcome  # NOT_MODIFIED or SAME_BYTES
    status: int | None = None


@dataclass(frozen=True, slots=True)
class Comparison:
    """The extracted page against the latest version (made when their hashes differ)."""

    diff: Diff
    old_chars: int  # characters of the latest version's paragraphs
    new_chars: int
    kept_chars: int  # characters of new paragraphs the diff finds in the latest version


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
    diff: Diff | None = None  # against the version before, stored with it once
    minor: bool = False  # below the notification threshold: stored, not notified


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
        return self.outcome not in FAILED_OUTCOMES


def compare(diff: Diff, old: list[str], new: list[str]) -> Comparison:
    """The measures of an extracted page against the latest version that ``decide`` needs."""
    kept = sum(len(new[i]) for op in diff.ops if op.op in _KEPT for i in op.new)
    return Comparison(diff, sum(map(len, old)), sum(map(len, new)), kept)


_KEPT = frozenset({"equal", "move", "modify"})  # a modified paragraph is still the story's


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
        return _collapsed(previous, seen, compared, rules, now)
    diff = compared.diff
    if not diff.is_change:
        return _good(previous, rules, now, CheckOutcome.UNCHANGED, seen.status, seen.developing)
    if is_minor(diff, rules.notify_threshold):
        return _good(previous, rules, now, CheckOutcome.MINOR, seen.status, seen.developing,
                     store=Store(number, diff=diff, minor=True),
                     summary=diff.summary.to_json())
    changed = Emit(EventType.CHANGED, _changed_data(number, diff), of_version=True)
    return _good(previous, rules, now, CheckOutcome.CHANGED, seen.status, seen.developing,
                 store=Store(number, diff=diff), events=(changed,),
                 summary=diff.summary.to_json())


def _collapsed(
    previous: Previous, seen: Extracted, compared: Comparison, rules: Rules, now: dt.datetime
) -> Decision:
    """Most of the text is gone: a wall or an error page (nothing of the story is left, or
    little), or a gutted story, stored once a second check in a row confirms it."""
    lost = (f"the page lost most of its text ({compared.old_chars:,} → "
            f"{compared.new_chars:,} characters)")
    if compared.kept_chars < OWN_SHARE * compared.new_chars or not compared.new_chars:
        message = (f"{lost}: probably a consent, paywall or error page; keeping the last good "
                   "version")
        return _failed(previous, Failure(message, seen.status, CheckOutcome.NO_CONTENT), rules,
                       now)
    if previous.last_outcome != CheckOutcome.SHRUNK:
        message = f"{lost}, the rest of it the story's own: stored if the next check agrees"
        return _failed(previous, Failure(message, seen.status, CheckOutcome.SHRUNK), rules, now)
    number = previous.versions + 1
    data = {**_changed_data(number, compared.diff),
            "characters": {"old": compared.old_chars, "new": compared.new_chars}}
    gutted = Emit(EventType.GUTTED, data, of_version=True)
    return _good(previous, rules, now, CheckOutcome.GUTTED, seen.status, seen.developing,
                 store=Store(number, diff=compared.diff), events=(gutted,),
                 summary=compared.diff.summary.to_json())


def _changed_data(number: int, diff: Diff) -> dict[str, Any]:
    """Kept small (one row per event): the counts that are not zero; the full diff is read
    from the version's stored diff when a notification is built."""
    data: dict[str, Any] = {"version": number, "changes": diff.summary.changes()}
    if diff.metadata:
        data["metadata"] = sorted(diff.metadata_keys)
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
        quiet_since=previous.quiet_since, quiet=store is None,
    )
    latest = store.number if store else previous.versions or None
    state = previous.state
    if state in GONE_STATES:
        state = ArticleState.ACTIVE
        since = {"version": latest, "since": previous.versions or None}
        events = (*events, Emit(EventType.RESTORED, since))
    elif schedule.settled:
        state = ArticleState.SETTLED
    elif changed and state == ArticleState.SETTLED:  # checked by name or --all, and it changed
        state = ArticleState.ACTIVE
    if is_failing(previous.failure_count, rules):
        data = {"failures": previous.failure_count, "version": latest}
        events = (*events, Emit(EventType.RECOVERED, data))
    return Decision(outcome, state, schedule, status=status, store=store, events=events,
                    developing=developing, changed=changed, summary=summary)


def is_failing(failures: int, rules: Rules) -> bool:
    """``failures`` checks (or polls) failed in a row make a failing episode."""
    return 0 < rules.failing_after <= failures


def _failed(previous: Previous, seen: Failure, rules: Rules, now: dt.datetime) -> Decision:
    """No usable page: the schedule backs off, the last good version stays."""
    failures = previous.failure_count + 1
    schedule = after_failure(
        rules.schedule, now, interval=previous.interval, base=previous.base_interval,
        failures=failures, gone=seen.gone, refused=seen.refused, retry_after=seen.retry_after,
    )
    state, events = _gone(previous, seen)
    if is_failing(failures, rules) and not is_failing(previous.failure_count, rules):
        data = {"failures": failures, "outcome": seen.outcome, "status": seen.status,
                "error": seen.message[:EVENT_ERROR_CHARS], "version": previous.versions or None}
        events = (*events, Emit(EventType.FAILING, data))
    return Decision(seen.outcome, state, schedule, failures, seen.message, seen.status,
                    events=events)


def _gone(previous: Previous, seen: Failure) -> tuple[str, tuple[Emit, ...]]:
    """The state after a failure, and its event: 404/410 once makes an active article
    unavailable; twice in a row makes one with versions deleted."""
    data = {"status": seen.status, "version": previous.versions or None}
    if seen.gone and previous.state == ArticleState.ACTIVE:
        return ArticleState.UNAVAILABLE, (Emit(EventType.UNAVAILABLE, data),)
    confirmed = previous.last_outcome == CheckOutcome.GONE and previous.versions > 0
    if seen.gone and previous.state == ArticleState.UNAVAILABLE and confirmed:
        return ArticleState.DELETED, (Emit(EventType.DELETED, data),)
    return previous.state, ()
