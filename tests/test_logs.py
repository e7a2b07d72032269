"""Logs: JSON lines for log shippers, escaped text for people, and the warnings that need a
person — here the README's promise that a worker says when the rate-limiting Redis is gone and
when it is back (a real worker, a real private Redis stopped and started again)."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from db.models import Article, Check
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.clihelp import ROOT, environment, tracker
from tests.services import CeleryProcess, PrivateRedis, stop_together, wait_for
from tracker import logs
from tracker.app import App
from tracker.articles import add_articles
from tracker.config import load_settings

BACK = re.compile(r"rate limiting Redis at \S+ is back")
WORKER = ("-Q", "fetch,deliver,housekeeping", "--without-gossip", "--without-mingle", "-l",
          "INFO", "-c", "1")


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Put the root logger back as it was after a test that configures it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_are_one_ascii_object_each(root_logging: None) -> None:
    stream = io.StringIO()
    logs.configure("INFO", "json", stream=stream)
    logging.getLogger("tracker.test").warning("host %s paused\n\x1b[31m\u202e", "a.example")
    logging.getLogger("tracker.test").debug("not shown at INFO")
    [line] = stream.getvalue().splitlines()
    assert line.isascii()
    record = json.loads(line)
    assert record["level"] == "WARNING"
    assert record["logger"] == "tracker.test"
    assert record["message"] == "host a.example paused\n\x1b[31m\u202e"
    assert record["time"].endswith("Z")


def test_text_lines_escape_what_the_web_sent(root_logging: None) -> None:
    stream = io.StringIO()
    logs.configure(logging.INFO, "text", stream=stream)
    logging.getLogger("tracker.test").warning("title %s", "\x1b]0;pwned\x07\u202eevil")
    text = stream.getvalue()
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert text.count("\n") == 1


def test_per_task_lines_are_debug_only(root_logging: None) -> None:
    """Celery's own message templates: the routine ones go, retries and failures stay."""
    for level, shown in (("INFO", 3), ("DEBUG", 6)):
        stream = io.StringIO()
        logs.configure(level, "text", stream=stream)
        trace = logging.getLogger("celery.app.trace")
        trace.info("Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s",
                   {"name": "tracker.check", "id": "1", "runtime": 0.1, "return_value": "x"})
        trace.info("Task %(name)s[%(id)s] retry: %(exc)s",
                   {"name": "tracker.check", "id": "1", "exc": "Retry in 2s"})
        trace.error("Task %(name)s[%(id)s] raised unexpected: %(exc)s",
                    {"name": "tracker.check", "id": "1", "exc": "boom"})
        logging.getLogger("celery.worker.strategy").info("Task %s[%s] received", "t", "1")
        beat = logging.getLogger("celery.beat")
        beat.info("Scheduler: Sending due task %s (%s)", "tick", "tracker.tick")
        beat.info("beat: Starting...")
        text = stream.getvalue()
        assert text.count("\n") == shown, text
        assert "retry: Retry in 2s" in text
        assert "raised unexpected" in text
        assert "beat: Starting" in text


def test_an_unknown_log_format_is_one_line(sqlite_url: str) -> None:
    result = tracker(sqlite_url, "--log-format", "xml", "list", check=False)
    assert result.returncode == 2  # refused by the argument parser
    assert "Traceback" not in result.stderr


def checks(app: App) -> int:
    with session_scope(app.reader) as session:
        return int(session.scalar(select(func.count()).select_from(Check)) or 0)


def check_all_now(app: App) -> int:
    """Make every article due, then wait for the worker to check them all once more."""
    before = checks(app)
    with session_scope(app.writer) as session:
        session.execute(update(Article).values(next_check_at=func.now()))
    return before


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_worker_says_when_the_rate_limiting_redis_is_gone_and_when_it_is_back(
    postgres_url: str, broker: str, article_server: ArticleServer, tmp_path: Path,
) -> None:
    limiter = PrivateRedis(tmp_path).start()
    app = App(load_settings(database_url=postgres_url))
    add_articles(app, [article_server.add_article(f"r{i}", 1) for i in range(2)], interval=3600)
    env = environment(postgres_url, TRACKER_BROKER_URL=broker, TRACKER_TICK_SECONDS="0.5",
                      TRACKER_RATE_LIMIT_URL=limiter.url, TRACKER_LEASE_SECONDS="30")
    worker = CeleryProcess("worker", env, *WORKER).wait_ready()
    beat = CeleryProcess("beat", env, "--schedule", str(tmp_path / "beat"), "-l", "INFO")
    try:
        wait_for(lambda: checks(app) >= 2, 60, "the first checks")
        limiter.stop()
        before = check_all_now(app)
        wait_for(lambda: checks(app) >= before + 2, 60, "checks while Redis is gone")
        wait_for(lambda: "rate limiting Redis" in worker.output, 10, "the outage warning")
        assert "is unreachable" in worker.output
        assert not BACK.search(worker.output)
        limiter.start()
        # Redis is tried again 5 s after the failure: the checks after that find it back.
        wait_for(lambda: _back(worker, app), 60, "the 'is back' warning")
    finally:
        stop_together([beat, worker])
        limiter.stop()
        app.close()
    back = list(BACK.finditer(worker.output))
    assert len(back) == 1
    assert worker.output.index("is unreachable") < back[0].start()


def _back(worker: CeleryProcess, app: App) -> bool:
    """True once the worker said Redis is back; meanwhile keeps the articles due (once a
    second) so the worker keeps asking Redis."""
    if BACK.search(worker.output):
        return True
    check_all_now(app)
    time.sleep(1)
    return bool(BACK.search(worker.output))



# One process of the machine asks Redis for a turn of a host's rate, logging to stderr.
ASK_FOR_A_TURN = """
import logging, sys
from tracker.politeness import RedisLink, RedisRateLimiter
logging.basicConfig(level=logging.WARNING, format="%(process)d %(message)s")
RedisRateLimiter(RedisLink(sys.argv[1])).turn("news.example", 60.0, 0.0)
"""


def ask_for_a_turn(url: str, tmp_path: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-c", ASK_FOR_A_TURN, url], capture_output=True, text=True,
        timeout=30, cwd=ROOT, env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


@pytest.mark.redis
def test_redis_back_is_said_by_another_process_than_the_one_that_saw_it_go(
    tmp_path: Path,
) -> None:
    """A Celery worker replaces its pool processes when it loses the broker: the process that
    saw Redis go is gone when Redis comes back. Another one must say it is back, once."""
    server = PrivateRedis(tmp_path).start()
    markers = tmp_path / "markers"
    markers.mkdir()
    try:
        assert ask_for_a_turn(server.url, markers) == ""  # up: nothing to say
        server.stop()
        first, second = (ask_for_a_turn(server.url, markers) for _ in range(2))
        assert "is unreachable" in first
        assert second == ""  # already said, by the first
        server.start()
        third, fourth = (ask_for_a_turn(server.url, markers) for _ in range(2))
    finally:
        server.stop()
    assert BACK.search(third)
    assert fourth == ""


def test_an_outage_marker_left_by_dead_processes_is_said_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from tracker.politeness import OutageMarker

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    marker = OutageMarker("redis://127.0.0.1:1/0")
    assert marker.place() is True
    assert marker.place() is False  # another process of the same outage
    old = time.time() - OutageMarker.STALE - 1
    os.utime(marker.path, (old, old))
    assert marker.place() is True  # nobody has said it for a minute: say it again
    assert marker.remove() is True
    assert marker.remove() is False
