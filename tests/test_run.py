"""``tracker run``, the embedded service: schedules, and a stop in the middle of a pass."""

from __future__ import annotations

import signal
import subprocess
import time

from sqlalchemy import create_engine, text, update

from tests.articleserver import ArticleServer
from tests.clihelp import ROOT, TRACKER, environment, tracker


def count(url: str, sql: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(sql)).scalar() or 0)
    finally:
        engine.dispose()


def make_due(database_url: str) -> None:
    """Every article and source due now, as if its next check time had come: a test about
    what ``tracker run`` does with a due check need not wait out the 10 s minimum interval.
    A running service sees it at its next pass, within its idle pause (5 s at most)."""
    from db.models import Article, Source
    from db.session import make_engine
    from tracker.clock import utcnow

    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            for model in (Article, Source):
                connection.execute(update(model).values(next_check_at=utcnow()))
    finally:
        engine.dispose()


def start_run(database_url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*TRACKER, "-v", "run", *args],
        env=environment(database_url),
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_stop_mid_pass_finishes_checks_in_progress_and_restart_completes(
    sqlite_url: str, article_server: ArticleServer
) -> None:
    urls = [article_server.add_article(f"a{i:02}", 1) for i in range(12)]
    for i in range(12):
        article_server.set_mode(f"a{i:02}", "timeout", seconds=1.5)  # slow but successful
    tracker(sqlite_url, "add", *urls)
    service = start_run(sqlite_url, "--concurrency", "3")
    wait_for(lambda: len(article_server.requests()) >= 3)
    time.sleep(0.3)
    service.send_signal(signal.SIGTERM)
    output, _ = service.communicate(timeout=30)
    assert service.returncode == 0, output
    assert "finishing the checks in progress" in output
    done = count(sqlite_url, "select count(*) from versions")
    assert 3 <= done < 12  # the checks in flight finished; the rest were never started
    assert count(sqlite_url, "select count(*) from checks") == done
    assert count(sqlite_url, "select count(*) from events") == done

    for i in range(12):
        article_server.set_mode(f"a{i:02}", None)
    service = start_run(sqlite_url, "--concurrency", "3")
    try:
        wait_for(lambda: count(sqlite_url, "select count(*) from versions") == 12)
    finally:
        service.send_signal(signal.SIGTERM)
        output, _ = service.communicate(timeout=30)
    assert service.returncode == 0, output
    per_article = "select max(n) from (select count(*) n from versions group by article_id) t"
    assert count(sqlite_url, per_article) == 1
    assert count(sqlite_url, "select count(*) from events") == 12


def test_run_follows_the_story_on_its_schedule(
    sqlite_url: str, article_server: ArticleServer
) -> None:
    url = article_server.add_article("story", 1)
    tracker(sqlite_url, "add", url, "--every", "10s")
    service = start_run(sqlite_url)
    try:
        wait_for(lambda: count(sqlite_url, "select count(*) from versions") == 1)
        article_server.set_version("story", 2)
        # changed stories are checked sooner: within one interval (10 s ± jitter)
        wait_for(lambda: count(sqlite_url, "select count(*) from versions") == 2, timeout=20)
    finally:
        service.send_signal(signal.SIGINT)
        output, _ = service.communicate(timeout=30)
    assert service.returncode == 0, output
    assert "changed" in output
