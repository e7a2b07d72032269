"""Claiming due articles (tracker.scheduling): a claimed article leaves the due range until its
lease ends, so the next claim does not walk past the articles in flight (issue 15, item 5)."""

from __future__ import annotations

import datetime as dt

from db import queries
from db.models import Article
from db.session import session_scope
from tests.articleserver import ArticleServer
from tracker.app import App
from tracker.articles import add_articles
from tracker.check import check_article
from tracker.clock import utcnow
from tracker.scheduling import claim_due, release

URLS = [f"https://example.org/news/story-{n}" for n in range(3)]


def rows(app: App) -> list[Article]:
    with session_scope(app.reader) as session:
        return queries.list_articles(session)


def test_a_claimed_article_is_due_again_when_its_lease_ends(app: App) -> None:
    add_articles(app, URLS)
    now = utcnow() + dt.timedelta(seconds=1)
    claims = claim_due(app, now=now)
    assert len(claims) == 3
    for row in rows(app):
        assert row.lease_until is not None
        assert row.next_check_at == row.lease_until > now
    assert claim_due(app, now=now + dt.timedelta(seconds=5)) == []  # in flight: not due
    with session_scope(app.reader) as session:
        assert queries.schedule_counts(session, now, dt.timedelta(hours=1))["due"] == 0
    expired = now + dt.timedelta(seconds=app.settings.lease_seconds + 1)
    again = claim_due(app, now=expired)  # the checks never recorded anything: claimed again
    assert sorted(c.article_id for c in again) == sorted(c.article_id for c in claims)
    assert {c.token for c in again}.isdisjoint(c.token for c in claims)


def test_released_claims_are_due_at_once(app: App) -> None:
    add_articles(app, URLS)
    claims = claim_due(app)
    release(app, claims[:2])
    again = claim_due(app)
    assert sorted(c.article_id for c in again) == sorted(c.article_id for c in claims[:2])


def test_a_claimed_check_reschedules_on_its_interval(
    app: App, article_server: ArticleServer
) -> None:
    url = article_server.add_article("story", 2)
    add_articles(app, [url], interval=900)
    [claim] = claim_due(app)
    before = utcnow()
    assert check_article(app, claim.article_id, lease_token=claim.token).outcome == "first_seen"
    [row] = rows(app)
    assert (row.lease_token, row.lease_until) == (None, None)
    # its interval (±10 % jitter) from the check, not the lease's end (600 s after the claim)
    assert before + dt.timedelta(seconds=810) <= row.next_check_at
    assert row.next_check_at <= utcnow() + dt.timedelta(seconds=990)
