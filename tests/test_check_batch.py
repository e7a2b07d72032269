"""The tick's batches of claimed articles (``workers.tasks.check_batch``), run in this process
on the test database, real Redis and the local article server: every claim still held is
checked once, stale ones are dropped, one dispatch goes out for all the events, and a batch
whose worker process died running it goes out again one message per article."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from sqlalchemy import select, update

from db.models import Article, Check, Version
from db.session import session_scope
from tests.articleserver import ArticleServer
from tracker import scheduling
from tracker.app import App
from tracker.articles import add_articles
from tracker.clock import utcnow
from workers import tasks
from workers.app import CHECK_SOFT_LIMIT

pytestmark = pytest.mark.redis


def test_a_tick_cuts_its_claims_into_batches_spread_over_the_workers() -> None:
    claims = [(i, f"t{i}") for i in range(tasks.CHECK_TASK_BATCH * tasks.CHECK_SPREAD * 2 + 3)]
    assert tasks.check_batches([]) == []
    assert tasks.check_batches(claims[:3]) == [[c] for c in claims[:3]]  # few: one each
    spread = tasks.check_batches(claims[:20])
    assert [len(b) for b in spread] == [5, 5, 5, 5]
    full = tasks.check_batches(claims)
    assert {len(b) for b in full} == {tasks.CHECK_TASK_BATCH} or len(full[-1]) < len(full[0])
    assert max(len(b) for b in full) == tasks.CHECK_TASK_BATCH
    assert [c for b in full for c in b] == claims  # every claim once, in order


@pytest.fixture
def in_process(app: App, broker: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The tasks' context is the test's App; their broker is the test's Redis (the same in
    every test of a session, so the producer pool Celery keeps from the first is right)."""
    monkeypatch.setattr(tasks, "_context", app)
    monkeypatch.setattr(tasks, "_counter", None)
    monkeypatch.setattr(tasks.celery.conf, "broker_url", broker)
    client = redis.Redis.from_url(broker)
    yield client
    client.close()


def due(app: App, server: ArticleServer, count: int) -> list[scheduling.Claim]:
    urls = [server.add_article(f"batch-{i}", 1) for i in range(count)]
    add_articles(app, urls, interval=3600)
    with session_scope(app.writer) as session:
        session.execute(update(Article).values(next_check_at=utcnow()))
    return scheduling.claim_due(app)


def sent(client: Any, queue: str) -> list[tuple[str, list[Any]]]:
    """The (task name, positional arguments) of the messages waiting in ``queue``."""
    found = []
    for raw in client.lrange(queue, 0, -1):
        message = json.loads(raw)
        args, _, _ = json.loads(base64.b64decode(message["body"]))
        found.append((message["headers"]["task"], args))
    return found


def test_a_batch_checks_each_claim_still_held_once_and_dispatches_once(
    app: App, article_server: ArticleServer, in_process: Any
) -> None:
    claims = due(app, article_server, 4)
    stale = scheduling.Claim(claims[3].article_id, "not-the-token")
    batch = [(c.article_id, c.token) for c in claims[:3]] + [(stale.article_id, stale.token)]
    outcomes = tasks.check_batch.apply(args=(batch,), task_id="batch-1").get()
    assert sorted(outcomes) == ["first_seen"] * 3
    with session_scope(app.reader) as session:
        checked = list(session.scalars(select(Check.article_id)))
        assert sorted(checked) == sorted(c.article_id for c in claims[:3])
        assert len(list(session.scalars(select(Version.id)))) == 3
        tokens = dict(session.execute(select(Article.id, Article.lease_token)).all())
    assert all(tokens[c.article_id] is None for c in claims[:3])  # given back once stored
    assert tokens[stale.article_id] == claims[3].token  # the real claim is left alone
    assert sent(in_process, "deliver") == [("tracker.dispatch", [])]  # one for three events


def test_a_batch_run_again_after_its_worker_died_goes_out_one_by_one(
    app: App, article_server: ArticleServer, in_process: Any
) -> None:
    claims = due(app, article_server, 3)
    batch = [[c.article_id, c.token] for c in claims]
    in_process.set("tracker:runs:batch-2:0", 1)  # its first run killed its worker process
    outcomes = tasks.check_batch.apply(args=(batch,), task_id="batch-2").get()
    assert outcomes == ["requeued"] * 3
    assert sorted(sent(in_process, "fetch")) == [("tracker.check", pair) for pair in batch]
    with session_scope(app.reader) as session:
        assert list(session.scalars(select(Check.id))) == []  # nothing checked in the batch
        tokens = dict(session.execute(select(Article.id, Article.lease_token)).all())
    assert tokens == {c.article_id: c.token for c in claims}  # still claimed, for the checks
    queued = {m.decode() for m in in_process.zrange("tracker:queued", 0, -1)}
    assert queued == {f"article:{c.article_id}:{c.token}" for c in claims}  # kept alive


def schedule(app: App, server: ArticleServer, due_in: dict[str, float]) -> dict[str, int]:
    """Articles due in so many seconds from now (negative: overdue), by slug; their ids."""
    urls = {slug: server.add_article(slug, 1) for slug in due_in}
    add_articles(app, list(urls.values()), interval=3600)
    now = utcnow()
    with session_scope(app.writer) as session:
        ids = dict(session.execute(select(Article.url, Article.id)).all())
        for slug, seconds in due_in.items():
            session.execute(update(Article).where(Article.id == ids[urls[slug]])
                            .values(next_check_at=now + dt.timedelta(seconds=seconds)))
    return {slug: ids[url] for slug, url in urls.items()}


def claimed(app: App) -> set[int]:
    with session_scope(app.reader) as session:
        return set(session.scalars(select(Article.id).where(Article.lease_token.is_not(None))))


def test_a_tick_claims_the_articles_due_before_the_next_tick(
    app: App, article_server: ArticleServer, in_process: Any
) -> None:
    tick = app.settings.tick_seconds
    ids = schedule(app, article_server, {"overdue": -1, "soon": tick / 2, "later": tick + 5})
    assert tasks.tick.apply().get() == 2
    assert claimed(app) == {ids["overdue"], ids["soon"]}  # "soon" starts by its due time
    sent_ids = {i for _, batch in sent(in_process, "fetch") for i, _ in batch[0]}
    assert sent_ids == {ids["overdue"], ids["soon"]}


def test_a_tick_right_after_another_claims_nothing(
    make_app: Any, article_server: ArticleServer, in_process: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ticks that waited behind busy pool processes run back to back: the first claims what
    is due, the others return at once instead of each running the tick's queries."""
    app = make_app(tick_seconds=60.0)  # a turn of 30 s: however slow this machine is
    monkeypatch.setattr(tasks, "_context", app)
    ids = schedule(app, article_server, {"first": -1})
    assert tasks.tick.apply().get() == 1
    schedule(app, article_server, {"second": -1})
    assert tasks.tick.apply().get() == 0  # within half a tick of the first
    assert claimed(app) == {ids["first"]}
    in_process.delete(tasks.TICK_TURN)  # the turn's expiry: the next tick claims it
    assert tasks.tick.apply().get() == 1


def test_a_batch_whose_time_budget_is_spent_releases_the_claims_it_did_not_start(
    make_app: Any, article_server: ArticleServer, in_process: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """More claims than threads: with no budget left after the first round (a batch of slow
    sites), the first round is checked and the other claims are given back, due again at once
    for the next tick, instead of running on towards the task's time limit."""
    app = make_app(concurrency=2)
    monkeypatch.setattr(tasks, "_context", app)
    monkeypatch.setattr(tasks, "check_budget", lambda fetch_deadline: 0.0)
    claims = due(app, article_server, 5)
    outcomes = tasks.check_batch.apply(args=([(c.article_id, c.token) for c in claims],)).get()
    assert outcomes == ["first_seen"] * 2
    with session_scope(app.reader) as session:
        checked = set(session.scalars(select(Check.article_id)))
        rows = session.execute(select(Article.id, Article.lease_token, Article.next_check_at))
        unchecked = {i: (token, when) for i, token, when in rows if i not in checked}
    assert len(checked) == 2
    assert len(unchecked) == 3
    assert all(token is None and when <= utcnow() for token, when in unchecked.values())
    assert {c.article_id for c in scheduling.claim_due(app)} == set(unchecked)


def test_a_batch_budget_leaves_a_checks_fetch_deadline_before_the_soft_time_limit() -> None:
    assert tasks.check_budget(60.0) + 60.0 + tasks.CHECK_SLACK <= CHECK_SOFT_LIMIT
    assert tasks.check_budget(60.0) > 0  # the defaults leave time for more than one round
    assert tasks.check_budget(3600.0) == 0.0  # one round only: it always starts
