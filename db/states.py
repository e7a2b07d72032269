"""The words stored in state, outcome and type columns: each list is defined here, once.

They are ``StrEnum``s, so a member is the very string stored in the database (no migration
for a new value) and compares equal to it. ``docs/states.md`` is checked against these lists by
``tests/test_states.py``; the text next to each member is what that page says of it.
"""

from __future__ import annotations

from enum import StrEnum


class ArticleState(StrEnum):
    """``articles.state``."""

    ACTIVE = "active"  # checked on schedule
    UNAVAILABLE = "unavailable"  # the last check answered 404 or 410; re-checked, slowly
    DELETED = "deleted"  # answered 404 or 410 on two checks in a row; re-checked, slowly
    SETTLED = "settled"  # unchanged for settle_after: no more checks until added again
    MERGED = "merged"  # the same story as another tracked article, which keeps its history
    PAUSED = "paused"  # reserved: left alone by the schedulers (no command sets it yet)


# The states the schedulers check: the others are left alone.
CHECKED_STATES = (ArticleState.ACTIVE, ArticleState.UNAVAILABLE, ArticleState.DELETED)
# The same, as SQL with literals: the predicate of the claim's partial index (a planner can
# match it only against literals, never against bound parameters).
CHECKED_PREDICATE = "state IN ({})".format(", ".join(f"'{s.value}'" for s in CHECKED_STATES))
# The states of an article whose page answers 404 or 410.
GONE_STATES = (ArticleState.UNAVAILABLE, ArticleState.DELETED)


class CheckOutcome(StrEnum):
    """``checks.outcome`` (and the outcome a check returns)."""

    FIRST_SEEN = "first_seen"  # version 1 stored
    CHANGED = "changed"  # a new version stored and notified
    MINOR = "minor"  # a new version stored, below the notification threshold
    REBASELINE = "rebaseline"  # a new version stored after the extractor changed; not notified
    GUTTED = "gutted"  # a new version stored, marked: most of the text removed, confirmed
    UNCHANGED = "unchanged"  # extracted, the same as the latest version
    NOT_MODIFIED = "not_modified"  # the server answered 304 Not Modified
    SAME_BYTES = "same_bytes"  # the same bytes as the last good page: not extracted again
    FAILED = "failed"  # the fetch failed (network, HTTP error, robots.txt, too large …)
    NO_CONTENT = "no_content"  # fetched, but no article text (or most of it lost at once)
    SHRUNK = "shrunk"  # most of the text removed, the rest the story's own: not stored yet
    GONE = "gone"  # the page answered 404 or 410
    MERGED = "merged"  # the same story as another tracked article
    SKIPPED = "skipped"  # not checked: removed, or another check holds its claim (not stored)
    DEFERRED = "deferred"  # no request sent: the host said "later" (not stored)


# Outcomes of a check that stored a new version that is a change of the previous one.
CHANGE_OUTCOMES = (CheckOutcome.CHANGED, CheckOutcome.MINOR, CheckOutcome.GUTTED)
# Outcomes of a check that found no usable page.
FAILED_OUTCOMES = (CheckOutcome.FAILED, CheckOutcome.NO_CONTENT, CheckOutcome.SHRUNK,
                   CheckOutcome.GONE)


class EventType(StrEnum):
    """``events.type``: what webhooks (and later other channels) are told."""

    DISCOVERED = "article.discovered"  # a feed or sitemap listed a new article
    FIRST_SEEN = "article.first_seen"  # version 1 was stored
    CHANGED = "article.changed"  # a new version was stored (above the threshold)
    UNAVAILABLE = "article.unavailable"  # the page answered 404 or 410
    DELETED = "article.deleted"  # an article with versions answered 404/410 twice in a row
    RESTORED = "article.restored"  # an unavailable or deleted page is back
    GUTTED = "article.gutted"  # most of the text was removed, on two checks in a row
    FAILING = "article.failing"  # the article's checks failed ``failing_after`` times in a row
    RECOVERED = "article.recovered"  # a good check after article.failing
    SOURCE_FAILING = "source.failing"  # a feed's or sitemap's polls failed ``failing_after`` times
    # in a row
    SOURCE_RECOVERED = "source.recovered"  # a good poll after source.failing


class DeliveryState(StrEnum):
    """``deliveries.state``: where one event's delivery to one endpoint or channel stands."""

    PENDING = "pending"  # waiting for its next attempt (its first, or a retry)
    DELIVERED = "delivered"  # the receiver has it (a digest's member: its carrier was delivered)
    FAILED = "failed"  # gave up: retries used up, the endpoint answered 410, or unbuildable
    CANCELLED = "cancelled"  # its endpoint was disabled while it waited
    DIGESTED = "digested"  # a digest's member, sent with (and as) its period's carrier


# The states of a delivery that gave up, which ``tracker redeliver --failed`` queues again.
GAVE_UP_STATES = (DeliveryState.FAILED, DeliveryState.CANCELLED)


class DeliveryOutcome(StrEnum):
    """What one attempt at a delivery ended in (``tracker.decide_delivery``): counted in the
    ``tracker_delivery_attempts_total`` metric, not stored (the delivery's state is)."""

    DELIVERED = "delivered"  # the receiver answered 2xx (a channel: the service took it)
    RETRY = "retry"  # failed; tried again on the retry schedule
    FAILED = "failed"  # failed, and gave up: the retry schedule is used up, or it cannot be built
    DISABLED = "disabled"  # failed, and its endpoint is disabled: 410 Gone, or failing too long
    SKIPPED = "skipped"  # not recorded: its claim expired, or it was cancelled meanwhile


class EndpointState(StrEnum):
    """``endpoints.state``: whether a webhook endpoint or channel is sent to."""

    ACTIVE = "active"  # sent to
    PAUSED = "paused"  # a channel muted by its owner: nothing new is queued, pending ones wait
    DISABLED = "disabled"  # by failures (410 Gone, or every delivery failing for days): its
    # waiting deliveries are cancelled
