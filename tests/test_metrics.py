"""Prometheus metrics: counted where the work happens, served by the web view, and summed over
a real Celery prefork worker's pool processes on its --metrics-port; the beat's backlog."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, update

from db.models import Article, Check
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.clihelp import ROOT, TRACKER, environment
from tests.receiver import WebhookReceiver
from tests.services import free_port, wait_for
from tracker import logs, metrics
from tracker.app import App
from tracker.articles import add_articles
from tracker.clock import utcnow
from tracker.delivery import deliver_due
from tracker.passes import check_many
from tracker.service import available_cpus, metrics_address
from tracker.subscriptions import subscribe


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text) for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return float(samples.get((name, tuple(sorted(labels.items()))), 0.0))


def total(samples: dict, name: str) -> float:  # type: ignore[type-arg]
    return sum(v for (n, _), v in samples.items() if n == name)


def paths() -> dict[str, float]:
    """The extraction paths counted so far in this process."""
    from prometheus_client import REGISTRY

    return {s.labels["path"]: s.value for family in REGISTRY.collect()
            for s in family.samples if s.name == "tracker_extractions_total"}


def sample(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_checks_extractions_and_deliveries_are_counted(
    make_app, article_server: ArticleServer  # type: ignore[no-untyped-def]
) -> None:
    app: App = make_app(webhook_retry_schedule="1s", webhook_timeout=1.0)
    same = ("first_seen", "not_modified", "same_bytes", "unchanged")
    before = {k: sample("tracker_checks_total", outcome=k) for k in same}
    lags = sample("tracker_check_lag_seconds_count")
    extracted = sum(paths().values())
    attempts = {k: sample("tracker_delivery_attempts_total", result=k, attempt=n)
                for k, n in (("retry", "1"), ("delivered", "2"))}
    with WebhookReceiver() as receiver:
        created = subscribe(app, receiver.url)
        receiver.set_secrets([created.secret])
        receiver.respond("fail", status=500, times=1)
        url = article_server.add_article("story", 1)
        add_articles(app, [url])
        with session_scope(app.reader) as session:
            article_id = session.scalar(select(Article.id))
        assert article_id is not None
        check_many(app, [article_id])
        check_many(app, [article_id])
        deliver_due(app)
        time.sleep(1.3)
        deliver_due(app)
    assert sample("tracker_checks_total", outcome="first_seen") == before["first_seen"] + 1
    assert sum(sample("tracker_checks_total", outcome=k) for k in same) == (
        sum(before.values()) + 2)  # the second check found nothing new
    assert sample("tracker_check_lag_seconds_count") == lags + 2
    assert sum(paths().values()) == extracted + 1  # the second check did not extract
    assert set(paths()) <= {"selector", "live blog", "json-ld body", "itemprop", "trafilatura",
                            "plain text"}
    assert sample("tracker_delivery_attempts_total", result="retry", attempt="1") == (
        attempts["retry"] + 1)
    assert sample("tracker_delivery_attempts_total", result="delivered", attempt="2") == (
        attempts["delivered"] + 1)


def test_web_view_serves_metrics_and_the_backlog(app: App, web_url: str,
                                                 article_server: ArticleServer) -> None:
    add_articles(app, [article_server.add_article(f"a{i}", 1) for i in range(3)])
    with session_scope(app.writer) as session:
        session.execute(update(Article).values(next_check_at=func.now()))
    samples = scrape(f"{web_url}/metrics")
    assert value(samples, "tracker_database_up") == 1
    assert value(samples, "tracker_articles", state="all") == 3
    assert value(samples, "tracker_articles", state="due") == 3


def test_lease_takeovers_are_counted(app: App, article_server: ArticleServer) -> None:
    """A claim of an article whose lease nobody renewed is counted (tracker.leases.claim)."""
    from tracker import leases

    before = sample("tracker_lease_takeovers_total", kind="article")
    add_articles(app, [article_server.add_article("held", 1)])
    now = utcnow()
    assert len(leases.claim(app, leases.ARTICLES, limit=10, now=now)) == 1
    later = now + dt.timedelta(hours=1)  # the holder never renewed
    assert len(leases.claim(app, leases.ARTICLES, limit=10, now=later)) == 1
    assert sample("tracker_lease_takeovers_total", kind="article") == before + 1


def test_attempt_buckets_and_addresses() -> None:
    assert [metrics.attempt_bucket(n) for n in (0, 1, 3, 4, 6, 7, 50)] == [
        "1", "1", "3", "4-6", "4-6", "7+", "7+"]
    assert metrics_address("9100") == metrics_address("127.0.0.1:9100")
    assert metrics_address("[::1]:9100").host == "::1"
    assert available_cpus() >= 1


def test_available_cpus_follows_the_cgroup_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert available_cpus(tmp_path) == min(2, len(os.sched_getaffinity(0)))
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert available_cpus(tmp_path) == len(os.sched_getaffinity(0))


def test_summary_line_counts_by_kind_and_outcome(caplog: pytest.LogCaptureFixture) -> None:
    summary = logs.Summary(every=3600)
    for outcome in ("not_modified", "not_modified", "failed"):
        summary.count("checks", outcome)
    summary.count("deliveries", "delivered")
    with caplog.at_level(logging.INFO, "tracker.summary"):
        summary.flush()
        summary.flush()  # nothing new: no line
    summary.stop()
    [record] = caplog.records
    assert record.getMessage().endswith(
        "checks 3 (1 failed, 2 not_modified); deliveries 1 (1 delivered)")
    assert record.summary == {"checks": {"failed": 1, "not_modified": 2},  # type: ignore[attr-defined]
                              "deliveries": {"delivered": 1}}


# --- real Celery processes ----------------------------------------------------------------------


class Tracker:
    """A ``tracker`` service command (worker, beat) in its own process group."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [*TRACKER, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self._reader.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def started() -> Iterator[list[Tracker]]:
    running: list[Tracker] = []
    yield running
    for process in running:
        process.stop()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_prefork_worker_sums_its_pool_and_beat_serves_the_backlog(
    postgres_url: str, broker: str, article_server: ArticleServer, tmp_path: Path,
    started: list[Tracker],
) -> None:
    from tracker.config import load_settings

    app = App(load_settings(database_url=postgres_url))
    add_articles(app, [article_server.add_article(f"s{i:02}", 1) for i in range(12)],
                 interval=3600)
    env = environment(postgres_url, TRACKER_BROKER_URL=broker, TRACKER_TICK_SECONDS="0.5",
                      TRACKER_LEASE_SECONDS="30", TRACKER_LOG_SUMMARY_SECONDS="1",
                      TRACKER_BEAT_SCHEDULE=str(tmp_path / "beat"))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    worker_port, beat_port = free_port(), free_port()
    worker = Tracker(env, "--log-format", "json", "worker", "--concurrency", "2",
                     "--name", "metrics1@%h", "--metrics-port", str(worker_port))
    started.append(worker)
    wait_for(lambda: "ready" in worker.output or worker.process.poll() is not None, 90,
             "the worker")
    assert worker.process.poll() is None, worker.output
    beat = Tracker(env, "beat", "--metrics-port", f"127.0.0.1:{beat_port}")
    started.append(beat)

    def checked() -> int:
        with session_scope(app.reader) as session:
            return int(session.scalar(select(func.count()).select_from(Check)) or 0)

    wait_for(lambda: checked() == 12, 90, "12 checks")
    worker_url = f"http://127.0.0.1:{worker_port}/metrics"
    wait_for(lambda: total(scrape(worker_url), "tracker_checks_total") == 12, 30,
             "the worker's metrics to count 12 checks")
    samples = scrape(worker_url)
    assert value(samples, "tracker_checks_total", outcome="first_seen") == 12
    assert value(samples, "tracker_check_duration_seconds_count") == 12
    beat_samples = scrape(f"http://127.0.0.1:{beat_port}/metrics")
    assert value(beat_samples, "tracker_articles", state="all") == 12
    assert 0 <= value(beat_samples, "tracker_last_tick_age_seconds") < 30
    # Logs: JSON lines, a summary per process that worked, no line per task at INFO.
    def summed() -> int:
        lines = [json.loads(line) for line in worker.output.splitlines() if line[:1] == "{"]
        summaries = [line["summary"].get("checks", {}) for line in lines if "summary" in line]
        return sum(sum(s.values()) for s in summaries)

    wait_for(lambda: summed() >= 12, 20, "summary lines of the 12 checks")
    assert summed() == 12
    assert "succeeded in" not in worker.output
    assert "metrics1@" in worker.output
    app.close()


def test_tracker_run_serves_its_metrics_and_the_backlog(
    sqlite_url: str, article_server: ArticleServer, started: list[Tracker]
) -> None:
    from tracker.config import load_settings

    app = App(load_settings(database_url=sqlite_url))
    add_articles(app, [article_server.add_article("embedded", 1)])
    app.close()
    port = free_port()
    run = Tracker(environment(sqlite_url), "run", "--metrics-port", str(port))
    started.append(run)
    url = f"http://127.0.0.1:{port}/metrics"

    def first_seen() -> bool:
        try:
            return value(scrape(url), "tracker_checks_total", outcome="first_seen") == 1
        except OSError:
            return run.process.poll() is not None
    wait_for(first_seen, 60, "the embedded check in the metrics")
    samples = scrape(url)
    assert value(samples, "tracker_articles", state="all") == 1
    assert value(samples, "tracker_database_up") == 1
    assert "tracker_last_tick_age_seconds" not in {name for name, _ in samples}  # no beat
