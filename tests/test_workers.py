"""The background service with real processes: Celery workers and beat on Redis, PostgreSQL,
and the local news site. No eager mode, no mocks: services are stopped and started for real
(private instances on other ports, so the machine's own stay up)."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import func, select, update

from db.models import Article, Check, Event, Version
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.clihelp import environment
from tests.services import (
    CeleryProcess,
    PrivatePostgres,
    PrivateRedis,
    stop_together,
    wait_for,
)
from tracker.app import App
from tracker.articles import add_articles
from tracker.config import load_settings
from tracker.status import status

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]
WORKER = ("-Q", "fetch,deliver,housekeeping", "--without-gossip", "--without-mingle", "-l", "INFO")


def service_env(database_url: str, broker_url: str, **extra: str) -> dict[str, str]:
    env = environment(database_url)
    env.update(
        {
            "TRACKER_BROKER_URL": broker_url,
            "TRACKER_TICK_SECONDS": "0.5",
            "TRACKER_LEASE_SECONDS": "15",
            **extra,
        }
    )
    return env


def stop_all(processes: list[CeleryProcess]) -> None:
    """Stop the test's Celery processes while the private services they use are still up.
    Stopped in the other order (the ``processes`` fixture ends after the test's own
    ``finally``), a worker loses its broker first and is told to shut down while it is
    reconnecting: under load it then failed to ack and close its event loop ("Error on
    stopping Hub") and hung until it was killed, which pushed the test past its time limit."""
    stop_together(processes)


def start(
    processes: list[CeleryProcess], kind: str, env: dict[str, str], *args: str
) -> CeleryProcess:
    process = CeleryProcess(kind, env, *args)
    processes.append(process)
    return process.wait_ready()


BROKER_LOST = "Connection to broker lost"  # what a Celery worker logs when its Redis goes


def noticed_broker_loss(worker: CeleryProcess, times: int = 1) -> None:
    """Wait until the worker has noticed its broker go (``times`` times in all): Redis restarted
    before that would be no outage for it at all; waiting longer only lengthens its reconnection
    backoff (2 s, then 4 s, ...)."""
    wait_for(lambda: worker.output.count(BROKER_LOST) >= times or worker.process.poll() is not None,
             30, "the worker to notice its broker is gone")


def start_with_beat(
    processes: list[CeleryProcess], env: dict[str, str], *worker_args: str, schedule: Path
) -> CeleryProcess:
    """A worker and a beat started side by side, both ready on return; returns the worker.
    Each takes a second or two to start (imports, the pool): one after the other, the test
    waited for both in turn."""
    worker = CeleryProcess("worker", env, *worker_args)
    beat = CeleryProcess("beat", env, "--schedule", str(schedule), "-l", "INFO")
    processes.extend([worker, beat])
    worker.wait_ready()
    beat.wait_ready()
    return worker


def tracked(app: App, server: ArticleServer, slugs: list[str]) -> list[str]:
    urls = [server.add_article(slug, 1) for slug in slugs]
    add_articles(app, urls, interval=3600)
    return urls


def scalar(app: App, statement) -> int:  # type: ignore[no-untyped-def]
    with session_scope(app.reader) as session:
        return int(session.scalar(statement) or 0)


def versions(app: App) -> int:
    return scalar(app, select(func.count()).select_from(Version))


def checks(app: App) -> int:
    return scalar(app, select(func.count()).select_from(Check))


def make_all_due(app: App) -> None:
    with session_scope(app.writer) as session:
        session.execute(update(Article).values(next_check_at=func.now()))


def assert_each_article_stored_once(app: App, count: int) -> None:
    with session_scope(app.reader) as session:
        per_article = Counter(session.scalars(select(Version.article_id)))
        events = Counter(session.scalars(select(Event.article_id)))
        stored_checks = Counter(session.scalars(select(Check.article_id)))
    assert len(per_article) == count
    assert set(per_article.values()) == {1}
    assert set(events.values()) == {1}
    assert len(events) == count
    assert set(stored_checks.values()) == {1}, "an article was checked twice for one due time"


def test_worker_and_beat_follow_the_story(
    postgres_url: str,
    broker: str,
    article_server: ArticleServer,
    tmp_path: Path,
    processes: list[CeleryProcess],
) -> None:
    app = App(load_settings(database_url=postgres_url, broker_url=broker))
    tracked(app, article_server, ["story"])
    env = service_env(postgres_url, broker)
    start_with_beat(processes, env, *WORKER, "-c", "2", schedule=tmp_path / "beat")
    wait_for(lambda: versions(app) == 1, 60, "the first version")
    for step in (2, 3, 4, 5):
        article_server.set_version("story", step)
        before = checks(app)
        make_all_due(app)
        wait_for(lambda before=before: checks(app) > before, 60, f"the check of v{step}")
    assert versions(app) == 4  # v5 is typographic noise
    with session_scope(app.reader) as session:
        kinds = list(session.scalars(select(Event.type).order_by(Event.seq)))
    assert kinds == ["article.first_seen"] + ["article.changed"] * 3
    service = status(app)
    assert service["last_tick"] is not None
    assert service["last_tick"]["seconds_ago"] < 10
    assert set(service["queues"]) == {"fetch", "deliver", "housekeeping"}


def test_two_workers_and_two_beats_check_each_of_200_articles_once(
    postgres_url: str,
    broker: str,
    article_server: ArticleServer,
    tmp_path: Path,
    processes: list[CeleryProcess],
) -> None:
    app = App(load_settings(database_url=postgres_url))
    urls = tracked(app, article_server, [f"a{i:03}" for i in range(200)])
    env = service_env(
        postgres_url, broker, TRACKER_CLAIM_BATCH="15", TRACKER_PER_HOST_CONCURRENCY="8"
    )
    for name in ("w1", "w2"):
        start(processes, "worker", env, *WORKER, "-c", "2", "-n", f"{name}@%h")
    for name in ("b1", "b2"):
        start(processes, "beat", env, "--schedule", str(tmp_path / name), "-l", "INFO")
    wait_for(lambda: checks(app) >= 200, 120, "200 checks")
    requests = Counter(r.slug for r in article_server.requests() if r.slug)
    assert len(requests) == len(urls) == 200
    assert set(requests.values()) == {1}, "an article was fetched twice"
    assert_each_article_stored_once(app, 200)


def test_worker_killed_mid_check_is_redone_once(
    postgres_url: str,
    broker: str,
    article_server: ArticleServer,
    processes: list[CeleryProcess],
) -> None:
    app = App(load_settings(database_url=postgres_url))
    tracked(app, article_server, ["slow"])
    article_server.set_mode("slow", "timeout", seconds=15)
    env = service_env(postgres_url, broker)
    worker = start(processes, "worker", env, *WORKER, "-c", "1")
    Celery(broker=broker).send_task("tracker.tick", queue="housekeeping")
    # The site holds the first answer back for 15 s: the check is mid-fetch while it waits.
    wait_for(lambda: article_server.arrivals("slow") == 1, 30, "the check to start")
    article_server.set_mode("slow", None)
    [child] = worker.children()
    os.kill(child, signal.SIGKILL)  # the process running the check, mid-fetch
    wait_for(lambda: versions(app) == 1, 60, "the redone check")
    assert article_server.arrivals("slow") == 2
    # The worker logs the lost process from its main process, which may come after the redone
    # check: wait for the line rather than read the output at one instant.
    wait_for(lambda: "WorkerLostError" in worker.output or "SIGKILL" in worker.output, 15,
             "the worker to report its lost process")
    assert_each_article_stored_once(app, 1)


def test_checks_waiting_in_the_queue_longer_than_their_lease_are_fetched_once(
    postgres_url: str,
    broker: str,
    article_server: ArticleServer,
    tmp_path: Path,
    processes: list[CeleryProcess],
) -> None:
    """A 3 s lease, and checks that wait about 10 s in the queue: the tick keeps the leases of
    queued messages alive (workers.queued), so none is claimed and fetched a second time."""
    app = App(load_settings(database_url=postgres_url))
    slugs = [f"q{i:02}" for i in range(14)]
    tracked(app, article_server, slugs)
    for slug in slugs:
        article_server.set_mode(slug, "timeout", seconds=0.7)
    env = service_env(postgres_url, broker, TRACKER_LEASE_SECONDS="3", TRACKER_CLAIM_BATCH="14")
    start_with_beat(processes, env, *WORKER, "-c", "1", schedule=tmp_path / "beat")
    wait_for(lambda: checks(app) >= 14, 90, "14 checks")
    time.sleep(4)  # a lease run out by now would have been claimed and fetched again
    requests = Counter(r.slug for r in article_server.requests() if r.slug)
    assert set(requests.values()) == {1}, "an article was fetched twice"
    assert_each_article_stored_once(app, 14)
    # Nor claimed twice: a claim taken over sends a second message to the back of the queue,
    # where it would wait past its lease again.
    assert "took over" not in "".join(p.output for p in processes)


def test_a_whole_worker_killed_mid_check_is_redone_within_seconds(
    postgres_url: str,
    broker: str,
    article_server: ArticleServer,
    tmp_path: Path,
    processes: list[CeleryProcess],
) -> None:
    """``kill -9`` of a whole worker: its message stays unacknowledged in Redis for the
    visibility timeout (an hour), but its check's lease is no longer renewed, so the next tick
    claims the article again within the lease (4 s here) and another worker checks it once."""
    app = App(load_settings(database_url=postgres_url))
    tracked(app, article_server, ["slow"])
    article_server.set_mode("slow", "timeout", seconds=30)
    env = service_env(postgres_url, broker, TRACKER_LEASE_SECONDS="4")
    first = start_with_beat(processes, env, *WORKER, "-c", "1", "-n", "first@%h",
                            schedule=tmp_path / "beat")
    wait_for(lambda: article_server.arrivals("slow") == 1, 30, "the check to start")
    article_server.set_mode("slow", None)
    first.kill()
    killed_at = time.monotonic()
    start(processes, "worker", env, *WORKER, "-c", "1", "-n", "second@%h")
    wait_for(lambda: versions(app) == 1, 60, "the check redone by the second worker")
    assert time.monotonic() - killed_at < 30
    assert article_server.arrivals("slow") == 2
    assert_each_article_stored_once(app, 1)


def test_service_recovers_from_a_redis_restart(
    postgres_url: str,
    article_server: ArticleServer,
    tmp_path: Path,
    processes: list[CeleryProcess],
) -> None:
    redis_server = PrivateRedis(tmp_path).start()
    try:
        app = App(load_settings(database_url=postgres_url))
        tracked(app, article_server, [f"r{i:02}" for i in range(30)])
        for i in range(30):
            article_server.set_mode(f"r{i:02}", "timeout", seconds=0.3)
        env = service_env(
            postgres_url, redis_server.url, TRACKER_LEASE_SECONDS="8", TRACKER_CLAIM_BATCH="5"
        )
        worker = start_with_beat(processes, env, *WORKER, "-c", "2", schedule=tmp_path / "beat")
        wait_for(lambda: checks(app) >= 3, 60, "the first checks")
        redis_server.stop()  # queued messages are lost with it: nothing is persisted
        stopped_at = checks(app)
        noticed_broker_loss(worker)
        redis_server.start()
        wait_for(lambda: versions(app) == 30, 120, "every article after the restart")
        assert stopped_at < 30
        assert_each_article_stored_once(app, 30)
    finally:
        stop_all(processes)  # before their broker: see stop_all
        redis_server.stop()


def test_worker_outlives_redis_restarts_with_tasks_in_flight(
    postgres_url: str,
    article_server: ArticleServer,
    tmp_path: Path,
    processes: list[CeleryProcess],
) -> None:
    """Redis restarted while the worker has checks running or reserved: Celery drops the
    connection, whose channel then failed to put its unacked messages back and stopped the
    worker ("Unrecoverable error: AttributeError ... 'hostname'", workers.broker). Without the
    fix it stopped at one of the first three restarts in 9 runs of 9 (load 3 to 5)."""
    redis_server = PrivateRedis(tmp_path).start()
    try:
        app = App(load_settings(database_url=postgres_url))
        tracked(app, article_server, [f"f{i:02}" for i in range(20)])
        for i in range(20):
            article_server.set_mode(f"f{i:02}", "timeout", seconds=0.2)
        env = service_env(
            postgres_url, redis_server.url, TRACKER_LEASE_SECONDS="4", TRACKER_CLAIM_BATCH="1"
        )
        worker = start_with_beat(processes, env, *WORKER, "-c", "2", schedule=tmp_path / "beat")
        for restart in range(3):
            make_all_due(app)
            before = checks(app)
            wait_for(lambda before=before: checks(app) >= before + 2, 60, "checks under way")
            redis_server.stop()
            noticed_broker_loss(worker, restart + 1)
            redis_server.start()
            make_all_due(app)  # work for after the restart, however far the checks went
            before = checks(app)
            wait_for(
                lambda before=before: checks(app) > before or worker.process.poll() is not None,
                60,
                f"checks after restart {restart}",
            )
            assert worker.process.poll() is None, f"the worker stopped at restart {restart}"
        assert "Unrecoverable error" not in worker.output
    finally:
        stop_all(processes)  # before their broker: see stop_all
        redis_server.stop()


def test_tasks_retry_while_postgres_is_down_and_store_nothing_half(
    broker: str,
    article_server: ArticleServer,
    tmp_path: Path,
    processes: list[CeleryProcess],
) -> None:
    postgres = PrivatePostgres().init().start()
    app = App(load_settings(database_url=postgres.url))
    try:
        tracked(app, article_server, [f"p{i:02}" for i in range(20)])
        for i in range(20):
            article_server.set_mode(f"p{i:02}", "timeout", seconds=0.5)
        env = service_env(postgres.url, broker, TRACKER_LEASE_SECONDS="10", TRACKER_CLAIM_BATCH="6")
        start_with_beat(processes, env, *WORKER, "-c", "2", schedule=tmp_path / "beat")
        wait_for(lambda: checks(app) >= 2, 60, "the first checks")
        app.engine.dispose()
        postgres.stop()
        # Down until tasks have failed on it and are being retried: the outage they ride out.
        wait_for(lambda: "Retry" in "".join(p.output for p in processes), 60, "a retry")
        postgres.start()
        wait_for(lambda: versions(app) == 20, 120, "every article after the restart")
        assert "Retry" in "".join(p.output for p in processes)
        assert_each_article_stored_once(app, 20)
    finally:
        stop_all(processes)  # before their database: see stop_all
        app.engine.dispose()
        postgres.remove()


# --- notifications through the service ------------------------------------------------------


def test_worker_killed_mid_delivery_delivers_with_the_same_webhook_id(
    postgres_url: str,
    broker: str,
    article_server: ArticleServer,
    tmp_path: Path,
    processes: list[CeleryProcess],
) -> None:
    from tests.receiver import WebhookReceiver
    from tracker.subscriptions import subscribe

    app = App(load_settings(database_url=postgres_url))
    with WebhookReceiver() as receiver:
        receiver.set_secrets([subscribe(app, receiver.url).secret])
        receiver.respond("hang", seconds=8)
        tracked(app, article_server, ["story"])
        env = service_env(postgres_url, broker, TRACKER_WEBHOOK_TIMEOUT="5")
        worker = start(processes, "worker", env, *WORKER, "-c", "1")
        Celery(broker=broker).send_task("tracker.tick", queue="housekeeping")
        wait_for(lambda: len(receiver.attempts) == 1, 30, "the delivery to start")
        receiver.respond("ok")
        [child] = worker.children()
        os.kill(child, signal.SIGKILL)  # mid-delivery
        start(processes, "beat", env, "--schedule", str(tmp_path / "beat"), "-l", "INFO")
        wait_for(
            lambda: len(receiver.received) >= 1 and delivered(app) == 1,
            60,
            "the delivery after the kill",
        )
    assert len({m["id"] for m in receiver.received}) == 1  # at most a duplicate, same id


def test_deliveries_pending_survive_a_redis_restart(
    postgres_url: str,
    article_server: ArticleServer,
    tmp_path: Path,
    processes: list[CeleryProcess],
) -> None:
    from tests.receiver import WebhookReceiver
    from tracker.subscriptions import subscribe

    redis_server = PrivateRedis(tmp_path).start()
    app = App(load_settings(database_url=postgres_url))
    try:
        with WebhookReceiver() as receiver:
            receiver.set_secrets([subscribe(app, receiver.url).secret])
            receiver.respond("fail", status=503, times=1000)
            tracked(app, article_server, [f"d{i}" for i in range(5)])
            env = service_env(
                postgres_url,
                redis_server.url,
                TRACKER_WEBHOOK_TIMEOUT="1",
                # Retries a second apart, as many as allowed: with eight, a delivery could use
                # them all up before this test saw the first attempts on a loaded machine,
                # and give up (failed, never delivered) before Redis was even stopped.
                TRACKER_WEBHOOK_RETRY_SCHEDULE=",".join(["1s"] * 50),
            )
            worker = start_with_beat(processes, env, *WORKER, "-c", "2", schedule=tmp_path / "beat")
            wait_for(lambda: len(receiver.attempts) >= 5, 60, "first delivery attempts")
            redis_server.stop()
            noticed_broker_loss(worker)
            receiver.respond("ok")
            redis_server.start()
            wait_for(
                lambda: len({m["id"] for m in receiver.received}) == 5,
                90,
                "every notification after the restart",
            )
    finally:
        stop_all(processes)  # before their broker: see stop_all
        redis_server.stop()


def delivered(app: App) -> int:
    from db.models import Delivery

    return scalar(
        app, select(func.count()).select_from(Delivery).where(Delivery.state == "delivered")
    )
