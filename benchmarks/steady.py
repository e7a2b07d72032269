"""``bench_service.py --steady``: a steady offered rate of checks against a Celery deployment,
and where each late check waited.

Run ``.venv/bin/python benchmarks/bench_service.py --steady 100,30,5 --before REF`` (options:
``--steady-seconds`` (20), ``--before REF`` (a commit run the same way, from a temporary git
worktree, in the same run; both use the one template database, which this tree migrates, so REF
must know its schema revision: a commit before migration 0011_meta refuses it and the run
stops), ``--redis-url``, ``--postgres-url``, ``--no-docs``). It writes its
own section (``bench_service_steady``) of docs/benchmarks.md.

Set-up. One article server (``tests/articleserver.py``, its own process), one template
PostgreSQL database tracking ``8 + Σ rate × seconds`` articles, all checked once
(``tracker check --all``) so that every timed check is the steady state of a deployment: a
conditional GET answered 304. Then all are parked (due in 2100). For each code version and
rate: a fresh clone of the template, the broker's Redis database flushed, ``celery -A workers
worker -Q fetch,deliver,housekeeping -c 2`` and ``celery -A workers beat`` with the settings'
defaults (``tick_seconds`` included), 8 warm-up checks, then ``rate × seconds`` articles whose
due times are spread evenly (one every 1/rate s) from 2 s ahead.

Measured per check, from the database and the broker's Redis (polled every 50 ms by this
process, which reads the records the deployment keeps of its claims, ``workers.queued``):

- due: the ``next_check_at`` given; started: ``checks.started_at`` (lag = started − due, as
  ``checks.lag_ms``);
- sent: when the tick claimed the article and sent its message (the claim's score in
  ``tracker:queued``);
- received: when a worker's main process received the message (its record in
  ``tracker:reserved:<node>``); the claims of one message share that instant, which gives the
  batch and each check's place in it.

So lag = claim wait (due → sent: the beat's tick cadence, the tick waiting for a free pool
process, the claim) + broker queue (sent → received) + worker (received → started: waiting
for a pool process, the task's start, the batch's earlier members). A claim sent and started
within one poll is not seen in Redis: its missing instants are taken as the next known one
(its waits were under 50 ms); the table counts the claims whose sending was not seen.

Achieved rate: checks started per second, from the first start to the last. A rate is
sustained when the achieved rate is at least 95 % of the offered one. A check may start
before its due time (a tick claims what falls due before the next one): its lag is 0, as in
``checks.lag_ms``, and the table gives how many started early and by how much at most.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from bench_service import (
    QUEUES,
    Broker,
    Child,
    Databases,
    Deployment,
    opened,
    percentile,
    server_versions,
    service_env,
    tracked_template,
    utcnow,
    wait_until,
)
from harness import ROOT, Site, bullet_list, command_line, machine_info, table

WARMUP = 8
WORKERS = 2
POLL = 0.05
LATE = 1.0  # seconds: a check started later than this after its due time is late


@dataclass(frozen=True, slots=True)
class Code:
    """A version of tracker the deployment runs: this checkout, or a worktree of a commit."""

    label: str
    root: Path

    def env(self, env: dict[str, str]) -> dict[str, str]:
        return env | {"PYTHONPATH": str(self.root)}


@dataclass
class Run:
    """One rate on one code version."""

    code: str
    rate: float
    count: int
    achieved: float = 0.0
    lag: list[float] = field(default_factory=list)
    claim: list[float] = field(default_factory=list)
    queue: list[float] = field(default_factory=list)
    worker: list[float] = field(default_factory=list)
    in_batch: list[float] = field(default_factory=list)
    batch: list[int] = field(default_factory=list)
    ticks: list[float] = field(default_factory=list)  # intervals between ticks that sent checks
    early: list[float] = field(default_factory=list)  # how long before its due time it started
    unseen: int = 0
    again: int = 0  # articles claimed more than once (a check deferred, a lease taken over)
    load: tuple[float, float] = (0.0, 0.0)
    cpu_ms: float = 0.0


class Watcher(threading.Thread):
    """Polls the broker's Redis: when each claim was sent and received (``workers.queued``)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(url, socket_timeout=10)
        self.sent: dict[int, float] = {}
        self.tokens: dict[int, set[str]] = defaultdict(set)  # claims sent, by article
        self.received: dict[int, tuple[str, float]] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(POLL):
            with suppress(redis.RedisError):
                self._poll()

    def _poll(self) -> None:
        for member, score in self.client.zrange("tracker:queued", 0, -1, withscores=True):
            kind, article = _parse(member)
            if kind == "article":
                self.sent.setdefault(article, score)
                self.tokens[article].add(member.decode().rsplit(":", 1)[1])
        for key in self.client.scan_iter("tracker:reserved:*"):
            node = key.decode().removeprefix("tracker:reserved:")
            for member, value in self.client.hgetall(key).items():
                kind, article = _parse(member)
                if kind == "article":
                    self.received.setdefault(article, (node, float(value)))

    def stop(self) -> None:
        self.done.set()
        self.join(10)
        self.client.close()


def _parse(member: bytes) -> tuple[str, int]:
    kind, _, rest = member.decode().partition(":")
    head = rest.partition(":")[0]
    return kind, int(head) if head.isdigit() else -1


class Steady:
    def __init__(self, args: argparse.Namespace, dbs: Databases, broker: Broker, home: Path,
                 site: Site) -> None:  # fmt: skip
        self.args, self.dbs, self.broker, self.home, self.site = args, dbs, broker, home, site
        self.logs = home / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.template, self.warmup, self.sets = self._template()

    def _template(self) -> tuple[str, list[int], dict[float, list[int]]]:
        url, ids = tracked_template(self.dbs, self.site, self.home, self.broker.url,
                                    checked=True)  # fmt: skip
        ordered = [ids[slug] for slug in self.site.slugs]
        sets, start = {}, WARMUP
        for rate in self.args.steady:
            count = round(rate * self.args.steady_seconds)
            sets[rate] = ordered[start : start + count]
            start += count
        return url, ordered[:WARMUP], sets

    def deployment(self, code: Code, env: dict[str, str]) -> Deployment:
        env = code.env(env)
        worker = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q",
                  ",".join(QUEUES), "-c", str(WORKERS), "--without-gossip", "--without-mingle",
                  "-n", f"steady-{os.getpid()}-{time.monotonic_ns()}@%h", "-l", "WARNING"]
        beat = [sys.executable, "-m", "celery", "-A", "workers", "beat", "--schedule",
                str(self.logs / f"beat-{time.monotonic_ns()}"), "-l", "WARNING"]  # fmt: skip
        children = [Child(f"worker-{code.label}", worker, env, self.logs, cwd=code.root),
                    Child(f"beat-{code.label}", beat, env, self.logs, cwd=code.root)]
        return Deployment(f"Celery -c {WORKERS} ({code.label})", children, 2.0)

    def run(self, code: Code, rate: float) -> Run:
        ids = self.sets[rate]
        result = Run(code.label, rate, len(ids))
        url = self.dbs.create(self.template)
        self.broker.flush()
        try:
            with opened(url) as store:
                since = utcnow()
                store.schedule(dict.fromkeys(self.warmup, since))
                env = service_env(self.home, url, self.broker.url) | {
                    "TRACKER_PER_HOST_CONCURRENCY": str(self.args.steady_per_host)}
                with self.deployment(code, env) as deployment:
                    wait_until(lambda: len(_started(store, self.warmup, since)) == WARMUP, 180,
                               "the warm-up", deployment.children)  # fmt: skip
                    time.sleep(1.0)
                    self._offer(store, deployment, rate, ids, result)
        finally:
            self.dbs.drop(url)
            self.broker.flush()
        return result

    def _offer(self, store: Any, deployment: Deployment, rate: float, ids: list[int],
               result: Run) -> None:  # fmt: skip
        load = os.getloadavg()[0]
        cpu = deployment.cpu()
        since = utcnow()  # checks may start before their due time
        start = since + dt.timedelta(seconds=deployment.lead)
        due = {i: start + dt.timedelta(seconds=n / rate) for n, i in enumerate(ids)}
        watcher = Watcher(self.broker.url)
        watcher.start()
        try:
            store.schedule(due)
            timeout = deployment.lead + len(ids) / rate + max(120.0, len(ids) / 4)
            wait_until(lambda: len(_started(store, ids, since)) == len(ids), timeout,
                       f"{len(ids)} checks at {rate:g}/s", deployment.children)  # fmt: skip
        finally:
            watcher.stop()
        result.cpu_ms = 1000 * (deployment.cpu() - cpu) / len(ids)
        result.load = (load, os.getloadavg()[0])
        started = _started(store, ids, since)
        _analyse(result, due, started, watcher)
        print(f"  {deployment.label} at {rate:g}/s: achieved {result.achieved:.1f}/s, lag p50 "
              f"{percentile(result.lag, 0.5):.3f} p95 {percentile(result.lag, 0.95):.3f} max "
              f"{max(result.lag):.3f} s (load {load:.1f})", file=sys.stderr)  # fmt: skip


def _started(store: Any, ids: Sequence[int], since: dt.datetime) -> dict[int, dt.datetime]:
    rows = store.db.execute(
        "SELECT article_id, min(started_at) FROM checks WHERE article_id = ANY(%s) "
        "AND started_at >= %s GROUP BY article_id", (list(ids), since),
    ).fetchall()  # fmt: skip
    return dict(rows)


def _analyse(result: Run, due: dict[int, dt.datetime], started: dict[int, dt.datetime],
             watcher: Watcher) -> None:  # fmt: skip
    starts = sorted(when.timestamp() for when in started.values())
    result.achieved = (len(starts) - 1) / max(starts[-1] - starts[0], 1e-3)
    messages: dict[tuple[str, float], list[float]] = defaultdict(list)
    for article, when in started.items():
        t = when.timestamp()
        node, received = watcher.received.get(article, ("", float("nan")))
        sent = watcher.sent.get(article, float("nan"))
        if sent != sent:  # sent and received within one poll
            result.unseen += 1
        received = t if received != received else received  # started within one poll
        sent = received if sent != sent else sent
        d = due[article].timestamp()
        result.lag.append(max(0.0, t - d))
        result.early.append(max(0.0, d - t))
        result.claim.append(max(0.0, sent - d))
        result.queue.append(max(0.0, received - max(sent, d)))
        result.worker.append(max(0.0, t - max(received, d)))  # the record may come late
        if node:
            messages[node, received].append(t)
    for starts in messages.values():
        result.batch += [len(starts)] * len(starts)
        result.in_batch += [t - min(starts) for t in starts]
    result.again = sum(1 for tokens in watcher.tokens.values() if len(tokens) > 1)
    sends = sorted(set(watcher.sent.values()))
    result.ticks = [b - a for a, b in itertools.pairwise(sends)]


# --- report -----------------------------------------------------------------------------------


def _p(values: Sequence[float], share: float) -> str:
    return f"{percentile(values, share):.3f}" if values else ""


def _late_share(run: Run) -> tuple[str, str, str, str]:
    """Of the late checks: how many, and the mean of each part of their wait."""
    late = [n for n, lag in enumerate(run.lag) if lag > LATE]
    if not late:
        return "0", "", "", ""

    def mean(values: list[float]) -> str:
        return f"{sum(values[n] for n in late) / len(late):.2f}"

    return f"{len(late)}", mean(run.claim), mean(run.queue), mean(run.worker)


def report(runs: list[Run], args: argparse.Namespace, started: str,
           versions: dict[str, str]) -> str:  # fmt: skip
    rows = [(r.code, f"{r.rate:g}", f"{r.achieved:.1f}",
             "yes" if r.achieved >= 0.95 * r.rate else "no", _p(r.lag, 0.5), _p(r.lag, 0.95),
             _p(r.lag, 0.99), f"{max(r.lag):.3f}", f"{r.cpu_ms:.1f}",
             f"{r.load[0]:.1f} / {r.load[1]:.1f}", sum(1 for e in r.early if e > 0),
             f"{max(r.early):.3f}") for r in runs]  # fmt: skip
    parts_rows = [(r.code, f"{r.rate:g}", _p(r.claim, 0.5), _p(r.claim, 0.95),
                   _p(r.queue, 0.95), _p(r.worker, 0.95), _p(r.in_batch, 0.95),
                   f"{sum(r.batch) / len(r.batch):.1f}" if r.batch else "",
                   _p(r.ticks, 0.5), _p(r.ticks, 0.95), *_late_share(r), str(r.again),
                   str(r.unseen))
                  for r in runs]  # fmt: skip
    return "\n\n".join([
        "## Celery at a steady offered rate: due → start, and where late checks waited",
        f"Command: `{command_line()}` ({started}). Script: `benchmarks/steady.py` (its "
        f"docstring has the method). `celery -A workers worker -c {WORKERS}` + `celery -A "
        "workers beat`, settings at their defaults except the per-host concurrency below "
        "and no per-host request rate (every article is on 127.0.0.1); PostgreSQL; every "
        "timed check a conditional GET answered 304 (the steady state); "
        f"`TRACKER_PER_HOST_CONCURRENCY={args.steady_per_host}`; "
        f"{args.steady_seconds:g} s of due times per rate, evenly spread.",
        "Lag = due → check started, seconds. Sustained: achieved ≥ 95 % of offered. CPU: "
        "worker, pool processes and beat, per check. Early: checks started before their due time "
        "(lag 0), earliest: the most, seconds. Load: 1-minute load average at the start "
        "/ end of the run (2 cores).",
        table(("code", "offered/s", "achieved/s", "sustained", "p50", "p95", "p99", "max",
               "CPU ms/check", "load", "early", "earliest"), rows),
        "Where the checks waited (seconds): claim = due → the tick's claim sent it; queue = "
        "sent → a worker received it; worker = received → started (a free pool process, the "
        "task's start, the batch's earlier members); in batch = started − the first start of "
        "its message; tick = interval between ticks that sent checks. Late: lag over "
        f"{LATE:g} s, their mean claim / queue / worker wait. Claimed again: articles whose "
        "check was claimed more than once (deferred: no request sent, e.g. every slot of "
        "the host taken; or a lease taken over). Unseen: sent and started within "
        "one 50 ms poll (a message received and started within one poll is common and not "
        "counted).",
        table(("code", "offered/s", "claim p50", "claim p95", "queue p95", "worker p95",
               "in batch p95", "batch size (mean)", "tick p50", "tick p95", "late",
               "late: claim", "late: queue", "late: worker", "claimed again", "unseen"),
              parts_rows),
        "Machine and versions:",
        bullet_list(machine_info() | versions),
    ]) + "\n"


# --- main -------------------------------------------------------------------------------------


@contextmanager
def worktree(ref: str) -> Iterator[Path]:
    """A temporary detached git worktree of ``ref`` (removed at the end)."""
    path = Path(tempfile.mkdtemp(prefix="bench-steady-before-"))
    shutil.rmtree(path)
    subprocess.run(["git", "worktree", "add", "--detach", str(path), ref], cwd=ROOT,
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT,
                       check=False, capture_output=True)  # fmt: skip


def _revision(root: Path) -> str:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                           capture_output=True, check=False)  # fmt: skip
    return found.stdout.strip() or "?"


def main(args: argparse.Namespace) -> str:
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    total = WARMUP + sum(round(rate * args.steady_seconds) for rate in args.steady)
    runs: list[Run] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench_steady-") as workdir,
        Site(total) as site,
        Databases(args.postgres_url, "steady") as dbs,
        Broker(args.redis_url) as broker,
        worktree(args.before) if args.before else _nothing() as before,
    ):
        steady = Steady(args, dbs, broker, Path(workdir), site)
        codes = [Code(f"this ({_revision(ROOT)})", ROOT)]
        if before is not None:
            codes.insert(0, Code(f"before ({args.before})", before))
        for rate in args.steady:
            for code in codes:
                runs.append(steady.run(code, rate))
        versions = server_versions(args.postgres_url, broker)
    return report(runs, args, started, versions)


@contextmanager
def _nothing() -> Iterator[None]:
    yield None
