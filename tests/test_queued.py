"""The leases of claims whose task has not started (``workers.queued``), on real Redis and the
test database: renewed while the message is queued or reserved by a live worker, let go when
the worker died holding it, when Redis lost it, or when the claim is no longer held."""

from __future__ import annotations

import datetime as dt

import pytest
import redis
from sqlalchemy import select, update

from db.models import Article
from db.session import session_scope
from tracker import leases
from tracker.app import App
from tracker.articles import add_articles
from workers import queued

pytestmark = pytest.mark.redis
LONG_AGO = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def claimed(app: App, count: int) -> list[leases.Claim]:
    add_articles(app, [f"https://news.example/q-{i}" for i in range(count)])
    with session_scope(app.writer) as session:
        session.execute(update(Article).values(next_check_at=LONG_AGO))
    # Claimed an hour ago: every lease has run out unless something renews it.
    return leases.claim(app, leases.ARTICLES, limit=count,
                        now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))


def renewed(app: App) -> set[int]:
    """The articles whose lease lies in the future."""
    now = dt.datetime.now(dt.UTC)
    with session_scope(app.reader) as session:
        return set(session.scalars(select(Article.id).where(Article.lease_until > now)))


def test_queued_and_live_reservations_are_renewed_dead_ones_let_go(app: App, broker: str) -> None:
    client = redis.Redis.from_url(broker)
    waiting, reserved_alive, reserved_dead, started, lost = claimed(app, 5)
    queued.add(client, leases.ARTICLES, [waiting, reserved_alive, reserved_dead, started])
    queued.received(client, "alive@host", leases.ARTICLES, [reserved_alive])
    queued.received(client, "dead@host", leases.ARTICLES, [reserved_dead])
    queued.received(client, "alive@host", leases.ARTICLES, [started])
    queued.started(client, "alive@host", leases.ARTICLES, [started])
    queued.node_alive(client, "alive@host", ttl=30)  # "dead@host" never renewed its record
    assert queued.live_nodes(client) == ["alive@host"]

    assert queued.keep_alive(app, client) == 2
    assert renewed(app) == {waiting[0], reserved_alive[0]}
    assert not client.exists("tracker:reserved:dead@host")
    # Not renewed: a dead worker's reservation, a started task (its worker renews it), and a
    # claim whose message Redis never recorded (lost with a restart).
    assert not renewed(app) & {reserved_dead[0], started[0], lost[0]}
    assert queued.keep_alive(app, client) == -1  # a third of a lease has not passed yet


def test_claims_no_longer_held_are_forgotten(app: App, broker: str) -> None:
    client = redis.Redis.from_url(broker)
    first, second = claimed(app, 2)
    queued.add(client, leases.ARTICLES, [first])
    queued.received(client, "w@host", leases.ARTICLES, [second])
    queued.node_alive(client, "w@host", ttl=30)
    leases.release(app, leases.ARTICLES, [first, second])  # their work was stored meanwhile
    assert queued.keep_alive(app, client) == 0
    assert client.zcard(queued.QUEUED) == 0
    assert client.hlen("tracker:reserved:w@host") == 0
