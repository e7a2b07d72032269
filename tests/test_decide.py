"""Outcomes and state transitions of a check, decided by ``tracker.decide`` alone: no server,
no database. (That a decision is applied is tests/test_check.py's part.)"""

from __future__ import annotations

import datetime as dt
from typing import Any

from db.states import ArticleState, CheckOutcome, EventType
from tracker.decide import (
    Decision,
    Extracted,
    Failure,
    Previous,
    Rules,
    Same,
    Seen,
    Store,
    compare,
    decide,
)
from tracker.diff import diff_documents
from tracker.schedule import ScheduleRules

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
OLD = ["Der Bundestag hat am Donnerstag ein neues Gesetz beschlossen.",
       "Die Opposition kritisierte den Entwurf scharf und kündigte eine Klage an.",
       "Das Gesetz soll im kommenden Jahr in Kraft treten."]


def rules(*, threshold: int = 0, settle_after: int = 7 * 86_400, failing_after: int = 5) -> Rules:
    """Rules without jitter, so the next check is exact."""
    schedule = ScheduleRules(max_interval=86_400, settle_after=settle_after, jitter=float)
    return Rules(schedule, notify_threshold=threshold, failing_after=failing_after)


def article(state: str = ArticleState.ACTIVE, **changes: Any) -> Previous:
    """An article with two stored versions, checked every 10 minutes, changed yesterday."""
    values: dict[str, Any] = {
        "state": state, "interval": 600, "base_interval": 600, "quiet_since": NOW - DAY,
        "versions": 2, "latest_hash": "h2", "latest_extractor": "trafilatura",
    }
    return Previous(**{**values, **changes})


def page(new: list[str] | None = None, **changes: Any) -> Extracted:
    """The page as extracted; with ``new``, compared with OLD (its hash differs)."""
    comparison = None
    if new is not None:
        comparison = compare(diff_documents(OLD, new, {}, {}), OLD, new)
    values: dict[str, Any] = {
        "content_hash": "h3" if new is not None else "h2", "extractor": "trafilatura",
        "paragraphs": len(new or OLD), "developing": False, "status": 200,
        "comparison": comparison,
    }
    return Extracted(**{**values, **changes})


def check(previous: Previous, seen: Seen, **rule: Any) -> Decision:
    return decide(previous, seen, rules(**rule), NOW)


def event_types(decision: Decision) -> list[str]:
    return [emit.type for emit in decision.events]


EDITED = [OLD[0], "Die Opposition kritisierte den Entwurf und kündigte eine Klage an.", OLD[2]]
GONE = Failure("HTTP 404: the article is unavailable", 404, CheckOutcome.GONE)


# --- outcomes of an extracted page ------------------------------------------------------------


def test_first_page_is_stored_as_version_one_and_announced() -> None:
    decision = check(article(versions=0, latest_hash=None, latest_extractor=None), page())

    assert decision.outcome == CheckOutcome.FIRST_SEEN
    assert decision.store == Store(1)
    [first] = decision.events
    assert (first.type, first.data, first.of_version) == (
        EventType.FIRST_SEEN, {"version": 1, "paragraphs": 3}, True)
    assert not decision.changed  # a first sight is no change: the interval is not halved
    assert decision.schedule.interval == 900


def test_same_content_hash_is_unchanged_and_stretches_the_interval() -> None:
    decision = check(article(), page())

    assert (decision.outcome, decision.store, decision.events) == (CheckOutcome.UNCHANGED, None, ())
    assert decision.schedule.interval == 900
    assert decision.schedule.next_check_at == NOW + dt.timedelta(seconds=900)
    assert decision.failure_count == 0
    assert decision.error is None


def test_another_extractor_is_a_marked_new_baseline_without_an_event() -> None:
    decision = check(article(), page(extractor="readability"))

    assert decision.outcome == CheckOutcome.REBASELINE
    assert decision.store == Store(3, rebaseline=True)
    assert decision.events == ()
    assert not decision.changed


def test_an_edit_is_stored_as_the_next_version_and_announced_with_its_counts() -> None:
    decision = check(article(), page(EDITED))

    assert decision.outcome == CheckOutcome.CHANGED
    assert decision.store == Store(3, diff=diff_documents(OLD, EDITED, {}, {}))  # stored with it
    [changed] = decision.events
    assert changed.type == EventType.CHANGED
    assert changed.data == {"version": 3, "changes": {"modified": 1}}
    assert changed.of_version
    assert decision.changed
    assert decision.summary is not None
    assert decision.summary["modified"] == 1
    assert decision.schedule.interval == 300  # a change halves the interval


def test_an_edit_below_the_threshold_is_stored_but_not_announced() -> None:
    decision = check(article(), page(EDITED), threshold=5)

    assert decision.outcome == CheckOutcome.MINOR
    assert decision.store == Store(3, diff=diff_documents(OLD, EDITED, {}, {}), minor=True)
    assert decision.events == ()
    assert decision.changed


def test_an_edit_at_the_threshold_is_announced() -> None:
    assert check(article(), page(EDITED), threshold=1).outcome == CheckOutcome.CHANGED


def test_a_new_hash_without_a_visible_difference_is_unchanged() -> None:
    decision = check(article(), page(list(OLD)))

    assert (decision.outcome, decision.store, decision.events) == (CheckOutcome.UNCHANGED, None, ())


def test_a_page_that_lost_most_of_its_text_keeps_the_last_version() -> None:
    decision = check(article(), page(["Cookies zustimmen"]))

    assert decision.outcome == CheckOutcome.NO_CONTENT
    assert decision.store is None
    assert decision.failure_count == 1
    assert decision.error is not None
    assert "lost most of its text" in decision.error


def test_a_page_just_above_the_collapse_ratio_is_a_change() -> None:
    kept = [OLD[0][: sum(map(len, OLD)) // 5 + 1]]
    assert check(article(), page(kept)).outcome == CheckOutcome.CHANGED


# --- pages known to be the same ---------------------------------------------------------------


def test_not_modified_and_same_bytes_keep_the_developing_marker() -> None:
    for outcome in (CheckOutcome.NOT_MODIFIED, CheckOutcome.SAME_BYTES):
        decision = check(article(developing=True, interval=300), Same(outcome, 304))
        assert decision.outcome == outcome
        assert decision.developing is True
        assert decision.schedule.interval == 450


def test_a_developing_story_is_held_at_its_interval() -> None:
    decision = check(article(interval=600), page(developing=True))

    assert decision.schedule.interval == 600  # not stretched to 900


# --- settling -------------------------------------------------------------------------------


def test_a_quiet_check_after_settle_after_settles_the_article() -> None:
    decision = check(article(quiet_since=NOW - 8 * DAY), page())

    assert decision.state == ArticleState.SETTLED
    assert decision.schedule.settled


def test_a_quiet_check_before_settle_after_keeps_it_active() -> None:
    decision = check(article(quiet_since=NOW - 6 * DAY), page())

    assert decision.state == ArticleState.ACTIVE
    assert not decision.schedule.settled


def test_settle_after_zero_never_settles() -> None:
    decision = check(article(quiet_since=NOW - 800 * DAY), page(), settle_after=0)

    assert decision.state == ArticleState.ACTIVE


def test_a_change_on_a_settled_article_activates_it_again() -> None:
    decision = check(article(ArticleState.SETTLED, quiet_since=NOW - 30 * DAY), page(EDITED))

    assert decision.state == ArticleState.ACTIVE
    assert decision.outcome == CheckOutcome.CHANGED


def test_a_stored_page_never_settles_the_article() -> None:
    decision = check(article(quiet_since=NOW - 30 * DAY), page(extractor="readability"))

    assert decision.state == ArticleState.ACTIVE


# --- failures and 404 ---------------------------------------------------------------------------


def test_a_failed_fetch_backs_off_and_counts_the_failure() -> None:
    decision = check(article(failure_count=2), Failure("timed out"))

    assert decision.outcome == CheckOutcome.FAILED
    assert decision.failure_count == 3
    assert decision.schedule.interval == 600  # the interval is kept
    assert decision.schedule.next_check_at == NOW + dt.timedelta(seconds=2400)  # 4 × the base
    assert (decision.state, decision.events, decision.store) == (ArticleState.ACTIVE, (), None)


def test_retry_after_is_waited_for_when_longer_than_the_back_off() -> None:
    decision = check(article(), Failure("HTTP 503", 503, retry_after=5000.0))

    assert decision.schedule.next_check_at == NOW + dt.timedelta(seconds=5000)


def test_robots_refusal_waits_the_longest_interval() -> None:
    decision = check(article(), Failure("disallowed by robots.txt", refused=True))

    assert decision.schedule.next_check_at == NOW + DAY


def test_404_makes_an_active_article_unavailable_once() -> None:
    first = check(article(), GONE)

    assert (first.outcome, first.state) == (CheckOutcome.GONE, ArticleState.UNAVAILABLE)
    [event] = first.events
    assert (event.type, event.data) == (EventType.UNAVAILABLE, {"status": 404, "version": 2})
    assert first.schedule.next_check_at == NOW + dt.timedelta(seconds=86_400 // 4)


def test_an_unavailable_article_back_unchanged_is_restored() -> None:
    decision = check(article(ArticleState.UNAVAILABLE, failure_count=1), page())

    assert decision.state == ArticleState.ACTIVE
    assert (decision.failure_count, decision.error) == (0, None)
    assert [(e.type, e.data) for e in decision.events] == [
        (EventType.RESTORED, {"version": 2, "since": 2})]


def test_an_unavailable_article_back_edited_is_changed_and_restored() -> None:
    decision = check(article(ArticleState.UNAVAILABLE), page(EDITED))

    assert event_types(decision) == [EventType.CHANGED, EventType.RESTORED]
    assert decision.events[1].data == {"version": 3, "since": 2}


# --- watchdog: deleted --------------------------------------------------------------------------


def test_a_second_404_in_a_row_deletes_an_article_with_versions_once() -> None:
    unavailable = article(ArticleState.UNAVAILABLE, failure_count=1,
                          last_outcome=CheckOutcome.GONE)
    second = check(unavailable, GONE)

    assert second.state == ArticleState.DELETED
    [event] = second.events
    assert (event.type, event.data) == (EventType.DELETED, {"status": 404, "version": 2})
    third = check(article(ArticleState.DELETED, failure_count=2,
                          last_outcome=CheckOutcome.GONE), GONE)
    assert (third.state, third.events) == (ArticleState.DELETED, ())


def test_404_after_another_failure_is_not_yet_a_deletion() -> None:
    timed_out = article(ArticleState.UNAVAILABLE, failure_count=2,
                        last_outcome=CheckOutcome.FAILED)
    decision = check(timed_out, GONE)

    assert (decision.state, decision.events) == (ArticleState.UNAVAILABLE, ())


def test_an_article_without_versions_is_never_deleted() -> None:
    never_seen = article(ArticleState.UNAVAILABLE, versions=0, latest_hash=None,
                         last_outcome=CheckOutcome.GONE)

    assert check(never_seen, GONE).state == ArticleState.UNAVAILABLE


def test_a_deleted_article_back_is_restored() -> None:
    decision = check(article(ArticleState.DELETED, failure_count=2), Same(CheckOutcome.SAME_BYTES))

    assert decision.state == ArticleState.ACTIVE
    assert event_types(decision) == [EventType.RESTORED]


# --- watchdog: gutted ---------------------------------------------------------------------------


LONG = [*OLD, *(f"Weitere Einzelheiten zum Gesetz, Absatz {i}, folgen im Laufe des Tages."
                for i in range(12))]
STUMP = [OLD[0]]  # the first paragraph alone is left


def long_page(new: list[str]) -> Extracted:
    return page(content_hash="h3", comparison=compare(diff_documents(LONG, new, {}, {}), LONG, new))


def test_a_story_cut_to_its_first_paragraph_is_shrunk_then_gutted() -> None:
    first = check(article(), long_page(STUMP))

    assert first.outcome == CheckOutcome.SHRUNK
    assert (first.store, first.events, first.failure_count) == (None, (), 1)
    second = check(article(failure_count=1, last_outcome=CheckOutcome.SHRUNK), long_page(STUMP))
    assert second.outcome == CheckOutcome.GUTTED
    assert second.store is not None
    assert (second.store.number, second.store.minor) == (3, False)
    assert second.store.diff is not None
    assert second.store.diff.summary.deleted > 0  # the diff shows what was removed
    [gutted] = second.events
    assert gutted.type == EventType.GUTTED
    assert gutted.of_version
    assert gutted.data["version"] == 3
    assert gutted.data["changes"] == {"deleted": len(LONG) - 1}
    assert gutted.data["characters"] == {"old": sum(map(len, LONG)), "new": len(OLD[0])}
    assert (second.failure_count, second.error, second.changed) == (0, None, True)


def test_a_consent_wall_is_never_a_version_however_often_it_is_seen() -> None:
    wall = ["Wir verwenden Cookies. Bitte stimmen Sie zu."]
    for last in (None, CheckOutcome.NO_CONTENT, CheckOutcome.SHRUNK):
        decision = check(article(last_outcome=last), long_page(wall))
        assert decision.outcome == CheckOutcome.NO_CONTENT
        assert (decision.store, decision.events) == (None, ())


def test_a_stump_mostly_of_new_text_is_a_wall_not_a_gutted_story() -> None:
    notice = [OLD[2], "Dieser Artikel ist nur für Abonnenten. Jetzt abonnieren und weiterlesen!"]
    decision = check(article(last_outcome=CheckOutcome.SHRUNK), long_page(notice))

    assert decision.outcome == CheckOutcome.NO_CONTENT


def test_shrunk_after_another_failure_waits_for_a_second_look() -> None:
    decision = check(article(last_outcome=CheckOutcome.FAILED), long_page(STUMP))

    assert decision.outcome == CheckOutcome.SHRUNK


# --- watchdog: failing and recovered ------------------------------------------------------------


def test_the_fifth_failure_in_a_row_is_failing_once() -> None:
    fourth = check(article(failure_count=3), Failure("timed out"))
    fifth = check(article(failure_count=4), Failure("timed out"))
    sixth = check(article(failure_count=5), Failure("timed out"))

    assert (fourth.events, sixth.events) == ((), ())
    [failing] = fifth.events
    assert failing.type == EventType.FAILING
    assert failing.data == {"failures": 5, "outcome": "failed", "status": None,
                            "error": "timed out", "version": 2}


def test_failing_after_is_configurable_and_zero_never_fails() -> None:
    assert event_types(check(article(failure_count=1), Failure("x"), failing_after=2)) == [
        EventType.FAILING]
    assert check(article(failure_count=99), Failure("x"), failing_after=0).events == ()


def test_the_failing_event_keeps_a_bounded_error() -> None:
    decision = check(article(failure_count=4), Failure("x" * 100_000))

    assert len(decision.events[0].data["error"]) == 500


def test_a_good_check_after_failing_recovers_once() -> None:
    recovered = check(article(failure_count=7), Same(CheckOutcome.NOT_MODIFIED, 304))

    [event] = recovered.events
    assert (event.type, event.data) == (EventType.RECOVERED, {"failures": 7, "version": 2})
    assert check(article(failure_count=4), page()).events == ()  # never was failing
    assert check(article(), page()).events == ()


def test_a_gone_article_failing_and_back_is_restored_and_recovered() -> None:
    back = check(article(ArticleState.DELETED, failure_count=5), page(EDITED))

    assert event_types(back) == [EventType.CHANGED, EventType.RESTORED, EventType.RECOVERED]
