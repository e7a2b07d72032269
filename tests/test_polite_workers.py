"""Politeness across real Celery worker processes on one Redis: a host that answered 429 is
left alone by every worker until its Retry-After has passed, and the checks deferred meanwhile
are all done afterwards."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from db.models import Article, Check, Version
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.services import CeleryProcess, wait_for
from tests.test_workers import WORKER, service_env, start, tracked
from tracker.app import App
from tracker.config import load_settings

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]
RETRY_AFTER = 4  # seconds
GRACE = 0.5  # requests already on their way when the 429 was answered may still arrive


def test_429_with_retry_after_is_respected_by_every_worker(
    postgres_url: str, broker: str, article_server: ArticleServer, tmp_path: Path,
    processes: list[CeleryProcess],
) -> None:
    app = App(load_settings(database_url=postgres_url))
    slugs = [f"a{i:02}" for i in range(40)]
    # The hot article alone first: its 429 comes before any other request, whatever order the
    # workers' threads take their checks in (checks go out in batches, each checked in threads).
    tracked(app, article_server, ["a05"])
    article_server.set_mode("a05", "429", retry_after=RETRY_AFTER)
    env = service_env(postgres_url, broker, TRACKER_PER_HOST_RATE="600",
                      TRACKER_PER_HOST_CONCURRENCY="2")
    # At DEBUG: the per-task result lines ("succeeded … 'deferred'") are DEBUG since the
    # per-minute summary replaced them at INFO (tracker/logs.py).
    debug = [arg for arg in WORKER if arg not in ("-l", "INFO")] + ["-l", "DEBUG"]
    workers = [start(processes, "worker", env, *debug, "-c", "2", "-n", f"{name}@%h")
               for name in ("w1", "w2")]
    start(processes, "beat", env, "--schedule", str(tmp_path / "beat"), "-l", "INFO")
    wait_for(lambda: article_server.requests("a05") != [], 60, "the hot article's 429")
    # The others become due during the pause: every worker must hold them back until it ends.
    tracked(app, article_server, [s for s in slugs if s != "a05"])

    def versions() -> int:
        with session_scope(app.reader) as session:
            return len(session.scalars(select(Version.id)).all())

    wait_for(lambda: versions() == 39, 90, "every other article's first version")
    log = article_server.requests()
    [refused] = [r for r in log if r.status == 429]
    during = [r for r in log if refused.time < r.time < refused.time + RETRY_AFTER]
    late = [r for r in during if r.time > refused.time + GRACE]
    assert late == [], f"requests during the pause: {[(r.slug, r.time) for r in late]}"
    assert len(during) <= 1  # at most the one other slot's request, already on its way
    after = [r for r in log if r.time >= refused.time + RETRY_AFTER]
    assert len(after) >= 39 - len(during), "the checks held back were done after the pause"
    # Deferred checks stored nothing and lost nothing: one version and one check each.
    with session_scope(app.reader) as session:
        checks = Counter(session.scalars(select(Check.article_id)))
        hot = session.scalars(select(Article).where(Article.url.endswith("/a05"))).one()
    assert len(checks) == 40
    assert set(checks.values()) == {1}
    assert hot.failure_count == 1
    assert (hot.next_check_at.timestamp() - refused.time) >= RETRY_AFTER
    assert Counter(r.slug for r in log if r.slug and r.status == 200) == dict.fromkeys(
        [s for s in slugs if s != "a05"], 1
    )
    outputs = [worker.output for worker in workers]
    assert any("'deferred'" in output for output in outputs)
    assert all("succeeded" in output for output in outputs), "both workers took checks"
