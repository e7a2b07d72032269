"""Poison messages with real Celery worker processes: a check whose worker process dies every
time it runs it (as the kernel's OOM killer would end it) is run at most MAX_RUNS times; then the
failure is recorded on the article and the message is let go, instead of coming back forever."""

from __future__ import annotations

import os
import signal

import pytest
from celery import Celery

from db import queries
from db.session import session_scope
from tests import hostile
from tests.hostile import HostileServer
from tests.services import CeleryProcess, wait_for
from tests.test_workers import WORKER, service_env, start
from tracker.app import App
from tracker.articles import add_articles
from tracker.config import load_settings
from workers.tasks import MAX_RUNS

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def test_a_check_that_kills_its_worker_every_time_is_given_up_and_recorded(
    postgres_url: str, broker: str, processes: list[CeleryProcess]
) -> None:
    with HostileServer() as site:
        url = site.route("/news/killer", hostile.hang(60))
        app = App(load_settings(database_url=postgres_url))
        add_articles(app, [url], interval=3600)
        # a killed run keeps its slot of the host until the slot's TTL: room for all of them
        env = service_env(postgres_url, broker, TRACKER_PER_HOST_CONCURRENCY="8")
        worker = start(processes, "worker", env, *WORKER, "-c", "1")
        Celery(broker=broker).send_task("tracker.tick", queue="housekeeping")
        for run in range(1, MAX_RUNS + 1):
            wait_for(lambda run=run: site.hits("/news/killer") == run, 60, f"run {run}")
            wait_for(lambda: len(worker.children()) == 1, 30, "a worker process")
            [child] = worker.children()
            os.kill(child, signal.SIGKILL)  # what the OOM killer does to a process it picks

        def recorded() -> str | None:
            with session_scope(app.reader) as session:
                row = queries.article_by_url(session, url)
                assert row is not None
                return row.last_error

        wait_for(lambda: recorded() is not None, 60, "the failure to be recorded")
        assert "never finished" in (recorded() or "")
        assert f"died {MAX_RUNS} times" in (recorded() or "")
        assert site.hits("/news/killer") == MAX_RUNS
        with session_scope(app.reader) as session:
            row = queries.article_by_url(session, url)
            assert row is not None
            assert row.lease_token is None
            assert row.failure_count == 1
        assert "poison message" in worker.output
