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
from sqlalchemy import select, text, update

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


def test_claims_come_earliest_due_first_and_only_run_out_leases_are_takeovers(
    app: App,
) -> None:
    ids = articles(app, 4)
    with session_scope(app.writer) as session:  # due in the reverse order of their ids
        for n, article_id in enumerate(ids):
            session.execute(update(Article).where(Article.id == article_id)
                            .values(next_check_at=LONG_AGO - dt.timedelta(minutes=n)))
    leases.claim(app, leases.ARTICLES, limit=1, ids=[ids[1]], now=NOW)
    later = NOW + dt.timedelta(seconds=app.settings.lease_seconds + 1)
    with session_scope(app.writer) as session:
        claimed = lease.claim(session, leases.ARTICLES, later, later, 10)
    # The run-out lease is due by its moved due time (the lease's end): last.
    assert [(c.id, c.takeover) for c in claimed] == [
        (ids[3], False), (ids[2], False), (ids[0], False), (ids[1], True)]


@pytest.mark.postgres
def test_two_claims_at_once_take_different_rows_without_waiting(postgres_url: str) -> None:
    from tracker.config import load_settings

    first, second = (App(load_settings(database_url=postgres_url)) for _ in range(2))
    try:
        ids = articles(first, 6)
        with session_scope(first.writer) as one:
            mine = lease.claim(one, leases.ARTICLES, NOW, NOW, 4)  # locked, not committed
            with session_scope(second.writer) as other:
                other.execute(text("SET LOCAL lock_timeout = '2s'"))  # skipped, not waited on
                theirs = lease.claim(other, leases.ARTICLES, NOW, NOW, 4)
        assert [c.id for c in mine] == ids[:4]
        assert [c.id for c in theirs] == ids[4:]
    finally:
        first.close()
        second.close()


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


# --- rows in flight leave the claim's range (issue 15, item 5) --------------------------------


def due_of(app: App, model: Any, row_id: int) -> tuple[dt.datetime, dt.datetime | None]:
    """The row's due column and the due time its claim keeps apart."""
    with session_scope(app.reader) as session:
        row = session.get(model, row_id)
        assert row is not None
        return getattr(row, row.due_column), row.due_at


def test_a_claim_moves_the_due_time_to_the_leases_end_and_keeps_the_old_one(app: App) -> None:
    first, second = articles(app, 2)
    [(claimed, token)] = leases.claim(app, leases.ARTICLES, limit=1, now=NOW)
    assert claimed == first
    until = NOW + dt.timedelta(seconds=app.settings.lease_seconds)
    assert due_of(app, Article, first) == (until, LONG_AGO)
    # Live, it is out of the range: the next claim takes the other one, then nothing.
    assert [i for i, _ in leases.claim(app, leases.ARTICLES, limit=5, now=NOW)] == [second]
    assert leases.claim(app, leases.ARTICLES, limit=5, now=until - dt.timedelta(seconds=1)) == []
    # Run out: due again by its moved due time, a takeover that keeps the first due time.
    later = until + dt.timedelta(seconds=1)
    [(retaken, new)] = leases.claim(app, leases.ARTICLES, limit=1, ids=[first], now=later)
    assert (retaken, new != token) == (first, True)
    assert due_of(app, Article, first) == (later + (until - NOW), LONG_AGO)
    assert leases.renew(app, leases.ARTICLES, [(first, new)]) == {first}
    moved, kept = due_of(app, Article, first)
    assert (moved, kept) == (lease_of(app, Article, first)[1], LONG_AGO)


def test_release_and_take_put_the_due_time_back(app: App) -> None:
    first, second = articles(app, 2)
    claims = dict(leases.claim(app, leases.ARTICLES, limit=2, now=NOW))
    leases.release(app, leases.ARTICLES, [(first, claims[first])])
    assert due_of(app, Article, first) == (LONG_AGO, None)
    with session_scope(app.writer) as session:
        row = session.get(Article, second)
        assert lease.take(row, claims[second])
    assert due_of(app, Article, second) == (LONG_AGO, None)
    # Both are due again, earliest first, as before their claims.
    assert sorted(i for i, _ in leases.claim(app, leases.ARTICLES, limit=5, now=NOW)) == [
        first, second]


def test_lag_is_measured_from_when_the_article_was_due(app: App, article_server: Any) -> None:
    from db.models import Check
    from tracker.check import check_article, load_targets

    url = article_server.add_article("story", 1)
    add_articles(app, [url])
    due = utcnow() - dt.timedelta(hours=1)
    with session_scope(app.writer) as session:
        session.execute(update(Article).values(next_check_at=due))
        article_id = session.scalar(select(Article.id).where(Article.url == url))
    assert article_id is not None
    [(_, token)] = leases.claim(app, leases.ARTICLES, limit=1)
    assert due_of(app, Article, article_id)[0] > utcnow()  # moved with the lease
    assert load_targets(app, [article_id], {article_id: token})[article_id].due_at == due
    assert check_article(app, article_id, lease_token=token).outcome == "first_seen"
    with session_scope(app.reader) as session:
        lag = session.scalar(select(Check.lag_ms).where(Check.article_id == article_id))
    assert lag is not None
    assert lag >= 3_600_000
    assert due_of(app, Article, article_id)[1] is None  # the lease and its due time are gone


def test_sources_and_deliveries_move_their_due_time_with_the_lease(app: App) -> None:
    from tracker.sources import add_source

    add_source(app, "https://news.example/feed.xml")
    [(source_id, token)] = leases.claim(app, leases.SOURCES, limit=5)
    moved, kept = due_of(app, Source, source_id)
    assert moved == lease_of(app, Source, source_id)[1]
    assert kept is not None
    assert kept < moved
    leases.release(app, leases.SOURCES, [(source_id, token)])
    assert due_of(app, Source, source_id) == (kept, None)


def test_the_claim_reads_the_partial_index_of_checked_articles(app: App) -> None:
    """Settled articles keep a past next_check_at but are never due: the claim's index holds
    only checked ones, and the claim names the states as literals so the planner can use it."""
    from sqlalchemy import insert

    rows = [{"url": f"https://news.example/{i}", "host": "news.example",
             "state": "settled" if i % 10 else "active", "base_interval": 60, "interval": 60,
             "next_check_at": LONG_AGO, "created_at": LONG_AGO} for i in range(3000)]
    statement = lease.due_rows(leases.ARTICLES, NOW, 500)
    with app.engine.begin() as connection:
        connection.execute(insert(Article), rows)
        compiled = statement.compile(connection)
        sql = str(compiled)
        assert "articles.state IN ('active', 'unavailable', 'deleted')" in sql
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE articles")
            plan = connection.exec_driver_sql("EXPLAIN " + sql, compiled.params).scalars().all()
        else:
            params = tuple(compiled.construct_params().values())
            plan = [row[-1] for row in connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + sql, params)]
    assert any("ix_articles_due" in line for line in plan), plan
    with session_scope(app.writer) as session:  # and it claims only the active ones
        claimed = lease.claim(session, leases.ARTICLES, NOW, NOW, 500)
    assert len(claimed) == 300


def test_the_migration_moves_rows_leased_before_it_and_back(app: App, database_url: str) -> None:
    from alembic import command

    from db.session import alembic_config, make_engine, upgrade

    first, second = articles(app, 2)
    [(claimed, _)] = leases.claim(app, leases.ARTICLES, limit=1, ids=[first], now=NOW)
    until = lease_of(app, Article, claimed)[1]
    app.close()
    engine = make_engine(database_url)
    try:
        config = alembic_config(database_url)
        with engine.begin() as connection:  # down: a leased row keeps its due time, as before
            config.attributes["connection"] = connection
            command.downgrade(config, "0008_source_events")
        with engine.connect() as connection:
            due = dict(connection.execute(select(Article.id, Article.next_check_at)).all())
        assert due == {first: LONG_AGO, second: LONG_AGO}
        upgrade(engine)  # up: moved to its lease's end, its due time kept apart
        with engine.connect() as connection:
            rows = connection.execute(select(Article.id, Article.next_check_at, Article.due_at)
                                      .order_by(Article.id)).all()
        assert [tuple(row) for row in rows] == [(first, until, LONG_AGO), (second, LONG_AGO, None)]
    finally:
        engine.dispose()
