"""One lease mechanism for articles, sources and deliveries (``db.lease``, ``tracker.leases``),
on SQLite and PostgreSQL: claim, renew, release, take over a lease nobody renewed, and the
heartbeat that keeps the leases of running work alive. Times are given, never waited for,
except for the heartbeat thread itself."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from db import lease
from db.models import Article, Delivery, Source
from db.session import session_scope
from tests.services import wait_for
from tracker import leases
from tracker.app import App
from tracker.articles import add_articles
from tracker.clock import utcnow

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
LONG_AGO = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def articles(app: App, count: int) -> list[int]:
    urls = [f"https://news.example/story-{i}" for i in range(count)]
    add_articles(app, urls)
    with session_scope(app.writer) as session:
        session.execute(update(Article).values(next_check_at=LONG_AGO))
        return list(session.scalars(select(Article.id).order_by(Article.id)))


def lease_of(app: App, model: Any, row_id: int) -> tuple[str | None, dt.datetime | None]:
    with session_scope(app.reader) as session:
        row = session.get(model, row_id)
        assert row is not None
        return row.lease_token, row.lease_until


def test_claim_leases_due_rows_once_until_the_lease_runs_out(app: App) -> None:
    ids = articles(app, 3)
    claims = leases.claim(app, leases.ARTICLES, limit=10, now=NOW)
    assert sorted(i for i, _ in claims) == ids
    assert len({t for _, t in claims}) == 3
    assert leases.claim(app, leases.ARTICLES, limit=10, now=NOW) == []  # held
    token, until = lease_of(app, Article, ids[0])
    assert token == dict(claims)[ids[0]]
    assert until == NOW + dt.timedelta(seconds=app.settings.lease_seconds)
    later = until + dt.timedelta(seconds=1)
    retaken = leases.claim(app, leases.ARTICLES, limit=10, now=later)  # nobody renewed
    assert sorted(i for i, _ in retaken) == ids
    assert not {t for _, t in retaken} & {t for _, t in claims}


def test_a_takeover_is_logged(app: App, caplog: pytest.LogCaptureFixture) -> None:
    [article_id] = articles(app, 1)
    leases.claim(app, leases.ARTICLES, limit=1, now=NOW)
    with caplog.at_level(logging.WARNING, logger="tracker.leases"):
        later = NOW + dt.timedelta(seconds=app.settings.lease_seconds + 1)
        assert len(leases.claim(app, leases.ARTICLES, limit=1, now=later)) == 1
    assert f"took over 1 article lease(s) nobody renewed (their holder stopped): {article_id}" \
        in caplog.text


def test_renew_keeps_only_the_current_claim_alive(app: App) -> None:
    [article_id] = articles(app, 1)
    [(_, old)] = leases.claim(app, leases.ARTICLES, limit=1, now=NOW)
    # Run out and taken over: the old claim is no longer held and cannot be renewed.
    later = NOW + dt.timedelta(seconds=app.settings.lease_seconds + 1)
    [(_, new)] = leases.claim(app, leases.ARTICLES, limit=1, now=later)
    assert leases.renew(app, leases.ARTICLES, [(article_id, old)]) == set()
    assert lease_of(app, Article, article_id)[0] == new
    assert leases.renew(app, leases.ARTICLES, [(article_id, new)]) == {article_id}
    _, until = lease_of(app, Article, article_id)
    assert until is not None
    assert until > utcnow()
    # Renewed, it is held: no other claim takes it, even long after the first lease ran out.
    assert leases.claim(app, leases.ARTICLES, limit=1) == []


def test_a_lease_run_out_but_not_taken_over_is_still_held(app: App) -> None:
    [article_id] = articles(app, 1)
    [(_, token)] = leases.claim(app, leases.ARTICLES, limit=1, now=NOW)  # ran out long ago
    assert leases.renew(app, leases.ARTICLES, [(article_id, token)]) == {article_id}


def test_release_gives_back_only_the_claims_still_held(app: App) -> None:
    first, second = articles(app, 2)
    claims = dict(leases.claim(app, leases.ARTICLES, limit=2, now=NOW))
    leases.release(app, leases.ARTICLES, [(first, claims[first]), (second, "not-the-token")])
    assert lease_of(app, Article, first) == (None, None)
    assert lease_of(app, Article, second)[0] == claims[second]


def test_take_clears_the_lease_only_for_its_own_token(app: App) -> None:
    [article_id] = articles(app, 1)
    [(_, token)] = leases.claim(app, leases.ARTICLES, limit=1, now=NOW)
    with session_scope(app.writer) as session:
        row = session.get(Article, article_id)
        assert not lease.take(row, "another")
        assert row is not None
        assert row.lease_token == token
        assert lease.take(row, token)
        assert (row.lease_token, row.lease_until) == (None, None)
        assert not lease.take(None, token)


def test_lease_counts_tell_live_from_stranded(app: App) -> None:
    first, second, third = articles(app, 3)
    leases.claim(app, leases.ARTICLES, limit=2, ids=[first, second], now=NOW)
    later = NOW + dt.timedelta(seconds=app.settings.lease_seconds + 1)
    leases.claim(app, leases.ARTICLES, limit=1, ids=[third], now=later)
    counts = leases.lease_counts(app, later)
    assert counts["article"] == {"live": 1, "stranded": 2}
    assert counts["source"] == counts["delivery"] == {"live": 0, "stranded": 0}


def test_sources_and_deliveries_are_claimed_by_the_same_mechanism(
    app: App, article_server: Any
) -> None:
    from tracker.check import check_article
    from tracker.delivery import dispatch_events
    from tracker.sources import add_source
    from tracker.subscriptions import subscribe

    add_source(app, "https://news.example/feed.xml")
    [(source_id, token)] = leases.claim(app, leases.SOURCES, limit=5)
    assert lease_of(app, Source, source_id)[0] == token
    assert leases.claim(app, leases.SOURCES, limit=5) == []
    subscribe(app, "http://127.0.0.1:9/hook")
    url = article_server.add_article("story", 1)
    add_articles(app, [url])
    with session_scope(app.reader) as session:
        article_id = session.scalar(select(Article.id).where(Article.url == url))
    assert check_article(app, article_id).outcome == "first_seen"
    assert dispatch_events(app) == 1
    [(delivery_id, token)] = leases.claim(app, leases.DELIVERIES, limit=5)
    assert lease_of(app, Delivery, delivery_id)[0] == token
    assert leases.renew(app, leases.DELIVERIES, [(delivery_id, token)]) == {delivery_id}


def test_the_keeper_renews_held_leases_and_forgets_those_taken_over(
    make_app: Callable[..., App],
) -> None:
    app = make_app(lease_seconds=3)
    first, second = articles(app, 2)
    claims = dict(leases.claim(app, leases.ARTICLES, limit=2))
    _, until = lease_of(app, Article, first)
    assert until is not None
    with session_scope(app.writer) as session:  # another claim took the second one over
        session.execute(update(Article).where(Article.id == second).values(lease_token="x" * 32))
    with app.keeper.holding(leases.ARTICLES, claims.items()):
        wait_for(lambda: (lease_of(app, Article, first)[1] or until) > until, 10,
                 "the heartbeat to renew the lease")
        wait_for(lambda: second not in app.keeper.held(leases.ARTICLES), 10,
                 "the heartbeat to forget the lease taken over")
        assert first in app.keeper.held(leases.ARTICLES)
    assert app.keeper.held(leases.ARTICLES) == {}
    # Work done: nothing renews the lease any more.
    _, last = lease_of(app, Article, first)
    assert app.keeper.renewed_at is not None
    app.keeper.renew_now()
    assert lease_of(app, Article, first)[1] == last
