"""Benchmark of the Celery deployment: check throughput and scheduling latency, against the
embedded mode, both on PostgreSQL.

Run ``.venv/bin/python benchmarks/bench_service.py`` (options: ``--articles N`` (1000),
``--repeat R`` (3), ``--workers 1,2,4``, ``--latency-articles`` (100), ``--latency-spread``
(20 s), ``--latency-workers`` (2), ``--no-tick2``, ``--skip-check-all``, ``--no-fetch-only``,
``--no-docs``, ``--postgres-url``, ``--redis-url``, ``--profile DIR``,
``--profile-celery DIR``).
``--steady RATES`` runs only the steady mode (``benchmarks/steady.py``: due → start at steady
offered rates, and where late checks waited; ``--steady-seconds``, ``--before REF``).
``--quick`` is a smoke run of well under a minute (100 articles, 2 processes, one repeat,
20 latency articles over 4 s, no latency run for the 2 s tick). It prints markdown tables and
writes them, with the command line and machine info, to its section of docs/benchmarks.md.

Set-up. ``tests/articleserver.py`` serves article-0000 … in its own process (harness.Site).
Every configuration runs on its own clone of a template PostgreSQL database
(``CREATE DATABASE … TEMPLATE``) holding the tracked articles (``tracker add - --every 1d``),
none checked yet and none due ("parked" in the year 2100), and on its own Redis database
(default ``redis://127.0.0.1:6379/14``, flushed before and after every configuration). All
databases are named ``bench_service_<random>_…`` and dropped at the end, even after a failure.
All articles are on one host (127.0.0.1), so ``TRACKER_PER_HOST_CONCURRENCY=8`` everywhere (a
limit shared by the Celery workers through Redis, never the binding one here) and
``TRACKER_PER_HOST_RATE=0`` (no request rate; bench_politeness.py measures that); every other
setting is the default
(``claim_batch`` 500, ``lease_seconds`` 600, raw bodies kept).

Configurations, for K in ``--workers``:

- Celery: ``celery -A workers worker -Q fetch,deliver,housekeeping -c K --without-gossip
  --without-mingle`` (K prefork processes) and one ``celery -A workers beat`` with
  ``TRACKER_TICK_SECONDS=0.5``: the real beat sends the tick, nothing is sent by hand.
- ``tracker run --concurrency K``: the embedded service (K check threads, one delivery thread).
- ``tracker check --all --concurrency K``: one pass in a fresh process, as from cron.
- at K = ``--latency-workers`` only, the Celery configuration again with the workers on
  ``-Q fetch,housekeeping``: the ``tracker.dispatch`` task that every check writing an event
  sends stays queued, so the difference to the full deployment is what those tasks cost
  (``--no-fetch-only`` skips it).

Throughput ("first sight": every check stores version 1 and an ``article.first_seen`` event).
The long-running modes first check 8 warm-up articles (imports, connections, the first
trafilatura call), then the N articles are all made due at one instant T0 with one ``UPDATE
articles SET next_check_at``; the time is T0 → the last ``articles.last_checked_at`` written
(set just before each check's commit), so checks/s = N / that time. T0 lies 1 s ahead for
Celery and 5.5 s ahead for ``tracker run``: when nothing is due, the embedded runner sleeps up
to 5 s and does not see a schedule changed by another process before it wakes (with schedules
it wrote itself, it wakes at the next due time). ``tracker check --all`` is timed from process
start to exit (wait4), so it includes interpreter start and imports (about 1 s); its "span"
(first check started → last check stored) is shown too. CPU ms/check is user+system CPU of the
tracker processes over the pass (for Celery the worker and its pool processes, read from
/proc, plus the beat) divided by N. The Celery worker also runs one ``tracker.dispatch`` task
per check that wrote an event, and the ticks: both are part of the deployment's cost.

Latency (due → check started). After the throughput pass (K = ``--latency-workers``) M
further articles get due times spread uniformly at random over ``--latency-spread`` seconds
(about 5 checks/s: light load); for each, latency = ``checks.started_at`` of its check − the
``next_check_at`` it was given. ``started_at`` is taken after the claim was loaded, before the
fetch. Measured for Celery with the 0.5 s tick and (on a separate deployment) the default 2 s
tick, and for ``tracker run``.

``--profile DIR`` measures nothing else: it runs the throughput pass of ``tracker run
--concurrency K`` (K = the first ``--workers`` value) under ``benchmarks/profiled.py``
(cProfile in every thread, CPU time), keeps DIR/tracker_run_cK.prof and writes the phases and
hotspots to its own section of docs/benchmarks.md.

``--profile-celery DIR`` likewise runs only the Celery throughput pass, with one worker
running its tasks in its main process (``-P solo``) under ``benchmarks/profiled.py``, keeps
DIR/celery_solo.prof and writes its own section.

Caveats. The machine has 2 cores shared by the article server, PostgreSQL, Redis and the
processes under test, so K = 4 cannot be twice K = 2; figures are medians of the repeats and
the ratios are taken within each repeat. Configurations run one after another, their order
reversed every other repeat.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import pstats
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis
from harness import (
    BIN,
    ROOT,
    Site,
    bullet_list,
    clean_env,
    command_line,
    machine_info,
    median,
    package_versions,
    run_measured,
    table,
    write_section,
)

SEED = 20240619
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/14"
QUEUES = ("fetch", "deliver", "housekeeping")
PARKED = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)  # a due time no run reaches
PER_HOST = 8
WARMUP = 8  # articles checked before anything is timed
RUNNER_IDLE = 5.0  # tracker.runner.serve's idle sleep when nothing is due
CELERY_LEAD = 1.0
POLL = 0.2
PROFILED = Path(__file__).with_name("profiled.py")
# Where ``tracker run`` spends its CPU in a first-sight pass (label, file suffix, function).
RUN_PHASES = (
    ("check_target (the checks)", "tracker/check.py", "check_target"),
    ("  fetch", "tracker/fetch.py", "fetch"),
    ("  extract_page", "tracker/extract/pipeline.py", "extract_page"),
    ("  _store (the write transaction)", "tracker/check.py", "_store"),
    ("claim_due (articles, per pass)", "tracker/scheduling.py", "claim_due"),
    ("load_targets (per pass)", "tracker/check.py", "load_targets"),
    ("deliver_due (delivery thread, woken by each check that wrote an event)",
     "tracker/delivery.py", "deliver_due"),
    ("  dispatch_events", "tracker/delivery.py", "dispatch_events"),
    ("  claim_due (deliveries)", "tracker/delivery.py", "claim_due"),
    ("session_scope (all transactions, incl. commits)", "db/session.py", "session_scope"),
)  # fmt: skip
# Where a Celery worker (``-P solo``: the tasks in the main process) spends its CPU.
CELERY_PHASES = (
    ("celery trace_task (every task, all of the below)", "celery/app/trace.py", "trace_task"),
    ("check_target (the checks)", "tracker/check.py", "check_target"),
    ("  fetch", "tracker/fetch.py", "fetch"),
    ("  extract_page", "tracker/extract/pipeline.py", "extract_page"),
    ("  _store (the write transaction)", "tracker/check.py", "_store"),
    ("load_targets (before the checks)", "tracker/check.py", "load_targets"),
    ("leases.renew (task start, heartbeat)", "tracker/leases.py", "renew"),
    ("_runs (run count in Redis)", "workers/tasks.py", "_runs"),
    ("queued.started (Redis)", "workers/queued.py", "started"),
    ("tracker.tick", "workers/tasks.py", "tick"),
    ("tracker.dispatch", "workers/tasks.py", "dispatch"),
    ("kombu publish (messages sent)", "kombu/messaging.py", "_publish"),
    ("session_scope (all transactions, incl. commits)", "db/session.py", "session_scope"),
)  # fmt: skip


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- services: PostgreSQL databases, the Redis database, child processes ---------------------


class Databases:
    """PostgreSQL databases of one benchmark run, named ``bench_<tag>_<random>_<n>``; every one
    created is dropped by ``close()`` (``WITH (FORCE)``: leftover connections are cut)."""

    def __init__(self, admin_url: str, tag: str) -> None:
        self.admin_url = admin_url
        self.prefix = f"bench_{tag}_{secrets.token_hex(4)}"
        self.created: list[str] = []

    def create(self, template: str | None = None) -> str:
        """A new, empty database (or a copy of ``template``, a URL from here); its URL."""
        name = f"{self.prefix}_{len(self.created) + 1}"
        clause = f' TEMPLATE "{self.name(template)}"' if template else ""
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"{clause}')
        self.created.append(name)
        return self.admin_url.rsplit("/", 1)[0] + f"/{name}"

    @staticmethod
    def name(url: str) -> str:
        return url.rsplit("/", 1)[1]

    def drop(self, url: str) -> None:
        name = self.name(url)
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def close(self) -> None:
        for name in reversed(list(self.created)):
            with suppress(psycopg.Error):
                self.drop(f"/{name}")

    def __enter__(self) -> Databases:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Broker:
    """One Redis database for the Celery deployments, flushed before and after each use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)

    def flush(self) -> None:
        self.client.flushdb()

    def cpu(self) -> float:
        """CPU seconds of the Redis server so far (every client's, not only this one's)."""
        info = self.client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def waiting(self, queues: Iterable[str] = ("fetch", "deliver")) -> int:
        return sum(int(self.client.llen(name)) for name in queues)

    def __enter__(self) -> Broker:
        self.flush()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.flush()
        self.client.close()


class Child:
    """A long-running child (a Celery worker or beat, ``tracker run``) in its own process
    group, its output in a log file. ``stop`` ends it (SIGTERM, then SIGKILL) and whatever is
    left of its group; nothing else is ever signalled."""

    def __init__(self, name: str, command: Sequence[str], env: dict[str, str], logs: Path,
                 cwd: Path = ROOT) -> None:  # fmt: skip
        self.name = name
        self.log = logs / f"{name}-{secrets.token_hex(3)}.log"
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                list(command), env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.process.pid

    def ensure_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def cpu(self) -> float:
        return tree_cpu(self.pid)

    def own_cpu(self) -> float:
        """CPU seconds of the child's own process (a Celery worker's main process), without
        its descendants (the pool processes)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout: float = 30.0) -> None:
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(10)
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # pool processes that outlived their parent


def tree_cpu(root: int) -> float:
    """User + system CPU seconds of ``root`` and its live descendants, from /proc."""
    parent: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, …
        parent[int(entry)] = int(fields[1])
        ticks[int(entry)] = int(fields[11]) + int(fields[12])  # utime + stime
    tree, frontier = {root}, [root]
    while frontier:
        current = frontier.pop()
        children = [pid for pid, ppid in parent.items() if ppid == current]
        tree.update(children)
        frontier += children
    return sum(ticks.get(pid, 0) for pid in tree) / os.sysconf("SC_CLK_TCK")


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, children: Sequence[Child] = ()
) -> None:
    """Poll ``predicate`` every 0.2 s; fail after ``timeout`` or when a child died."""
    deadline = time.monotonic() + timeout
    while not predicate():
        for child in children:
            child.ensure_alive()
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {c.name}:\n{c.tail()}" for c in children)
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")
        time.sleep(POLL)


def service_env(home: Path, database_url: str, broker_url: str, **extra: str) -> dict[str, str]:
    """A child's environment: the benchmark's database and broker, loopback allowed, the
    per-host limit raised (every article is on 127.0.0.1), nothing of the user's config."""
    return clean_env(
        home,
        TRACKER_DATABASE_URL=database_url,
        TRACKER_BROKER_URL=broker_url,
        TRACKER_ALLOW_NETWORKS="127.0.0.0/8", TRACKER_ALLOWED_PORTS="*",
        TRACKER_PER_HOST_CONCURRENCY=str(PER_HOST),
        TRACKER_PER_HOST_RATE="0",  # the benchmark measures tracker, not the politeness
        NO_COLOR="1",
        **extra,
    )


class Deployment:
    """The processes of one configuration: Celery workers (and a beat), or ``tracker run``."""

    def __init__(self, label: str, children: list[Child], lead: float) -> None:
        self.label = label
        self.children = children
        self.lead = lead  # how far ahead a schedule change must lie to be seen in time

    @classmethod
    def celery(
        cls, env: dict[str, str], logs: Path, *, workers: int, tick: float | None,
        queues: Sequence[str] = QUEUES,
    ) -> Deployment:
        """K worker processes on ``queues``; with ``tick``, a beat ticking that often."""
        env = env | ({"TRACKER_TICK_SECONDS": f"{tick:g}"} if tick else {})
        worker = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q",
                  ",".join(queues), "-c", str(workers), "--without-gossip", "--without-mingle",
                  "-n", f"bench-{secrets.token_hex(4)}@%h", "-l", "WARNING"]  # fmt: skip
        children = [Child(f"worker-c{workers}", worker, env, logs)]
        if tick:
            schedule = logs / f"beat-{secrets.token_hex(3)}"
            beat = [sys.executable, "-m", "celery", "-A", "workers", "beat", "--schedule",
                    str(schedule), "-l", "WARNING"]  # fmt: skip
            children.append(Child("beat", beat, env, logs))
        label = f"Celery -c {workers}" + (f", tick {tick:g} s" if tick else "")
        return cls(label, children, CELERY_LEAD)

    @classmethod
    def embedded(cls, env: dict[str, str], logs: Path, *, concurrency: int) -> Deployment:
        command = [str(BIN / "tracker"), "run", "--concurrency", str(concurrency)]
        child = Child(f"run-c{concurrency}", command, env, logs)
        return cls(f"tracker run --concurrency {concurrency}", [child], RUNNER_IDLE + 0.5)

    def cpu(self) -> float:
        return sum(child.cpu() for child in self.children)

    def cpu_parts(self) -> dict[str, float]:
        """CPU seconds by process: each child's own process and its descendants apart."""
        parts = {}
        for child in self.children:
            own = child.own_cpu()
            parts[f"{child.name} main"] = own
            parts[f"{child.name} descendants"] = child.cpu() - own
        return parts

    def stop(self) -> None:
        for child in self.children:
            child.stop()

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# --- the benchmark database ------------------------------------------------------------------


class Store:
    """Plain SQL on one benchmark database (autocommit)."""

    def __init__(self, url: str) -> None:
        self.db = psycopg.connect(url, autocommit=True)

    def close(self) -> None:
        self.db.close()

    def scalar(self, sql: str, *params: Any) -> Any:
        row = self.db.execute(sql, params).fetchone()  # type: ignore[arg-type]
        return row[0] if row else None

    def article_ids(self) -> dict[str, int]:
        """Article id by slug (the last path segment of its URL)."""
        rows = self.db.execute("SELECT id, url FROM articles").fetchall()
        return {url.rsplit("/", 1)[1]: article_id for article_id, url in rows}

    def schedule(self, due: dict[int, dt.datetime]) -> None:
        """Set these articles' next check times, in one statement."""
        self.db.execute(
            "UPDATE articles SET next_check_at = v.due FROM "
            "(SELECT unnest(%s::int[]) AS id, unnest(%s::timestamptz[]) AS due) AS v "
            "WHERE articles.id = v.id",
            (list(due), list(due.values())),
        )

    def checked(self, ids: Sequence[int]) -> int:
        return int(self.scalar(
            "SELECT count(DISTINCT article_id) FROM checks WHERE article_id = ANY(%s)", list(ids)
        ))  # fmt: skip

    def versions(self, ids: Sequence[int]) -> int:
        return int(self.scalar(
            "SELECT count(*) FROM versions WHERE article_id = ANY(%s)", list(ids)
        ))  # fmt: skip

    def last_stored(self, ids: Sequence[int]) -> dt.datetime:
        return self.scalar(  # type: ignore[no-any-return]
            "SELECT max(last_checked_at) FROM articles WHERE id = ANY(%s)", list(ids)
        )

    def first_started(self, ids: Sequence[int]) -> dt.datetime:
        return self.scalar(  # type: ignore[no-any-return]
            "SELECT min(started_at) FROM checks WHERE article_id = ANY(%s)", list(ids)
        )

    def started(self, ids: Sequence[int]) -> dict[int, dt.datetime]:
        rows = self.db.execute(
            "SELECT article_id, min(started_at) FROM checks WHERE article_id = ANY(%s) "
            "GROUP BY article_id", (list(ids),),
        ).fetchall()  # fmt: skip
        return dict(rows)


def tracked_template(
    dbs: Databases, site: Site, home: Path, broker_url: str, *, checked: bool = False
) -> tuple[str, dict[str, int]]:
    """A migrated database tracking every article ``site`` serves (``tracker add``), with
    ``checked`` each checked once (``tracker check --all``), then none due (parked in 2100):
    its URL and the article ids by slug."""
    url = dbs.create()
    listing = home / "urls.txt"
    listing.write_text("\n".join(site.urls()) + "\n", encoding="utf-8")
    env = service_env(home, url, broker_url)
    run_measured([str(BIN / "tracker"), "add", "-", "--every", "1d"], env=env,
                 timeout=900, stdin=listing)  # fmt: skip
    if checked:
        run_measured([str(BIN / "tracker"), "check", "--all", "--format", "json"], env=env,
                     timeout=900)  # fmt: skip
    with opened(url) as store:
        store.db.execute("UPDATE articles SET next_check_at = %s", (PARKED,))
        return url, store.article_ids()


@contextmanager
def opened(url: str) -> Iterator[Store]:
    store = Store(url)
    try:
        yield store
    finally:
        store.close()


def phase_rows(
    path: Path, phases: Sequence[tuple[str, str, str]], count: int
) -> list[tuple[str, str, str]]:
    """(label, share of all profiled time, ms per one of ``count`` items) for each phase
    found in the profile; shares are cumulative, so nested phases overlap."""
    stats: Any = pstats.Stats(str(path))
    total = stats.total_tt or 1.0
    found: dict[tuple[str, str], float] = {}
    for (filename, _, name), (_, _, _, cumulative, _) in stats.stats.items():
        for _, suffix, function in phases:
            if name == function and filename.endswith(suffix):
                found[suffix, function] = found.get((suffix, function), 0.0) + cumulative
    return [(label, f"{100 * found[s, f] / total:.1f} %", f"{1000 * found[s, f] / count:.2f}")
            for label, s, f in phases if (s, f) in found]  # fmt: skip


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` quantile (0–1) by linear interpolation between closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- this benchmark --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sets:
    """Article ids by role: warm-up, the timed pass, the latency run."""

    warmup: list[int]
    throughput: list[int]
    latency: list[int]


@dataclass
class Results:
    articles: int
    # (mode, K) → per-repeat values
    rate: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    cpu_ms: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    span_rate: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    ratio_run: dict[int, list[float]] = field(default_factory=dict)
    ratio_check: dict[int, list[float]] = field(default_factory=dict)
    # label → per-repeat (p50, p95, max)
    latency: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, table_: dict[Any, list[float]], key: Any, value: float) -> None:
        table_.setdefault(key, []).append(value)


class Bench:
    def __init__(self, args: argparse.Namespace, site: Site, dbs: Databases, broker: Broker,
                 home: Path) -> None:  # fmt: skip
        self.args, self.site, self.dbs, self.broker, self.home = args, site, dbs, broker, home
        self.logs = home / "logs"
        self.logs.mkdir(parents=True)
        self.template, self.sets = self._template()

    def _template(self) -> tuple[str, Sets]:
        """A migrated database tracking every served article, none checked, none due."""
        url, ids = tracked_template(self.dbs, self.site, self.home, self.broker.url)
        ordered = [ids[slug] for slug in self.site.slugs]
        n = self.args.articles
        return url, Sets(ordered[:WARMUP], ordered[WARMUP : WARMUP + n], ordered[WARMUP + n :])

    def env(self, url: str) -> dict[str, str]:
        return service_env(self.home, url, self.broker.url)

    # --- one configuration -------------------------------------------------------------------

    def long_running(
        self, results: Results, repeat: int, make: Callable[[dict[str, str]], Deployment],
        key: tuple[str, int] | None, latency: str | None,
    ) -> float | None:
        """Start a deployment on a fresh clone, warm it up, then time the throughput pass
        (when ``key`` is given) and the latency run (when ``latency`` names it)."""
        url = self.dbs.create(self.template)
        rate = None
        self.broker.flush()
        try:
            with opened(url) as store:
                store.schedule(dict.fromkeys(self.sets.warmup, utcnow()))
                with make(self.env(url)) as deployment:
                    self._wait_checked(store, self.sets.warmup, 180, "the warm-up", deployment)
                    if key is not None:
                        rate = self._throughput(store, deployment, results, key)
                    if latency is not None:
                        self._latency(store, deployment, results, latency, repeat)
        finally:
            self.dbs.drop(url)
            self.broker.flush()
        return rate

    def _wait_checked(
        self, store: Store, ids: list[int], timeout: float, what: str, deployment: Deployment
    ) -> None:
        wait_until(lambda: store.checked(ids) >= len(ids), timeout, what, deployment.children)

    def _throughput(
        self, store: Store, deployment: Deployment, results: Results, key: tuple[str, int]
    ) -> float:
        ids = self.sets.throughput
        time.sleep(0.5)  # let the warm-up's follow-up tasks (dispatch) finish
        cpu = deployment.cpu()
        parts = deployment.cpu_parts()
        redis_cpu = self.broker.cpu()
        lead = deployment.lead
        start = utcnow() + dt.timedelta(seconds=lead)
        store.schedule(dict.fromkeys(ids, start))
        timeout = lead + max(300.0, len(ids) * 0.5)
        self._wait_checked(store, ids, timeout, f"{len(ids)} checks", deployment)
        seconds = (store.last_stored(ids) - start).total_seconds()
        cpu = deployment.cpu() - cpu
        self._check_versions(store, ids, results, deployment.label)
        results.add(results.rate, key, len(ids) / seconds)
        results.add(results.cpu_ms, key, 1000 * cpu / len(ids))
        print(f"  {deployment.label}: {len(ids) / seconds:.1f} checks/s, "
              f"{1000 * cpu / len(ids):.1f} ms CPU/check", file=sys.stderr)  # fmt: skip
        after = deployment.cpu_parts()
        shares = ", ".join(f"{name} {1000 * (after[name] - parts[name]) / len(ids):.2f}"
                           for name in after if name in parts)
        print(f"    ms CPU/check by process: {shares}; redis-server (shared) "
              f"{1000 * (self.broker.cpu() - redis_cpu) / len(ids):.2f}", file=sys.stderr)
        return len(ids) / seconds

    def _latency(
        self, store: Store, deployment: Deployment, results: Results, label: str, repeat: int
    ) -> None:
        ids = self.sets.latency
        wait_until(lambda: self.broker.waiting() == 0, 120, "the queues to drain",
                   deployment.children)  # fmt: skip
        rng = random.Random(SEED + repeat)
        lead = deployment.lead
        start = utcnow() + dt.timedelta(seconds=lead)
        spread = self.args.latency_spread
        due = {i: start + dt.timedelta(seconds=rng.uniform(0, spread)) for i in ids}
        store.schedule(due)
        self._wait_checked(store, ids, lead + spread + 120, "the latency checks", deployment)
        started = store.started(ids)
        # A check started before its due time (the tick claims ahead) is on time: 0, as in
        # checks.lag_ms.
        delays = [max(0.0, (started[i] - due[i]).total_seconds()) for i in ids]
        stats = (percentile(delays, 0.5), percentile(delays, 0.95), max(delays))
        results.latency.setdefault(label, []).append(stats)
        print(f"  latency {label}: p50 {stats[0]:.3f} s, p95 {stats[1]:.3f} s, "
              f"max {stats[2]:.3f} s", file=sys.stderr)  # fmt: skip

    def check_all(self, results: Results, concurrency: int) -> float:
        """``tracker check --all`` in a fresh process on a clone holding only the N articles."""
        url = self.dbs.create(self.template)
        ids = self.sets.throughput
        try:
            with opened(url) as store:
                store.db.execute("DELETE FROM articles WHERE NOT (id = ANY(%s))", (ids,))
                command = [str(BIN / "tracker"), "check", "--all", "--concurrency",
                           str(concurrency), "--format", "json"]  # fmt: skip
                usage = run_measured(command, env=self.env(url), timeout=max(600, len(ids)))
                span = (store.last_stored(ids) - store.first_started(ids)).total_seconds()
                self._check_versions(store, ids, results, f"check --all -c {concurrency}")
        finally:
            self.dbs.drop(url)
        key = ("check", concurrency)
        results.add(results.rate, key, len(ids) / usage.wall)
        results.add(results.span_rate, key, len(ids) / span)
        results.add(results.cpu_ms, key, 1000 * usage.cpu / len(ids))
        print(f"  tracker check --all --concurrency {concurrency}: {len(ids) / usage.wall:.1f} "
              f"checks/s ({len(ids) / span:.1f} over the span), "
              f"{1000 * usage.cpu / len(ids):.1f} ms CPU/check", file=sys.stderr)  # fmt: skip
        return len(ids) / usage.wall

    def profile_run(self, directory: Path, concurrency: int) -> Path:
        """The throughput pass of ``tracker run`` once more, under benchmarks/profiled.py
        (cProfile in every thread, CPU time); the .prof file's path."""
        output = directory / f"tracker_run_c{concurrency}.prof"
        command = [sys.executable, str(PROFILED), str(output), "tracker.cli:main", "run",
                   "--concurrency", str(concurrency)]  # fmt: skip
        url = self.dbs.create(self.template)
        try:
            with opened(url) as store:
                store.schedule(dict.fromkeys(self.sets.warmup, utcnow()))
                child = Child("run-profiled", command, self.env(url), self.logs)
                with Deployment("tracker run, profiled", [child], RUNNER_IDLE + 0.5) as deployment:
                    self._wait_checked(store, self.sets.warmup, 180, "the warm-up", deployment)
                    self._throughput(store, deployment, Results(0), ("profiled", concurrency))
        finally:
            self.dbs.drop(url)
        return output

    def profile_celery(self, directory: Path) -> Path:
        """The Celery throughput pass once more with one worker process running its tasks in
        its main process (``-P solo``) under benchmarks/profiled.py, and a beat ticking every
        0.5 s; the .prof file's path (written when the worker stops)."""
        output = directory / "celery_solo.prof"
        worker = [sys.executable, str(PROFILED), str(output), "celery.__main__:main", "-A",
                  "workers", "worker", "-P", "solo", "-Q", ",".join(QUEUES), "--without-gossip",
                  "--without-mingle", "-n", f"bench-{secrets.token_hex(4)}@%h", "-l", "WARNING"]
        beat = [sys.executable, "-m", "celery", "-A", "workers", "beat", "--schedule",
                str(self.logs / f"beat-{secrets.token_hex(3)}"), "-l", "WARNING"]  # fmt: skip
        url = self.dbs.create(self.template)
        try:
            with opened(url) as store:
                store.schedule(dict.fromkeys(self.sets.warmup, utcnow()))
                env = self.env(url) | {"TRACKER_TICK_SECONDS": "0.5"}
                children = [Child("worker-profiled", worker, env, self.logs),
                            Child("beat", beat, env, self.logs)]  # fmt: skip
                with Deployment("Celery -P solo, profiled", children, CELERY_LEAD) as deployment:
                    self._wait_checked(store, self.sets.warmup, 180, "the warm-up", deployment)
                    self._throughput(store, deployment, Results(0), ("profiled", 1))
        finally:
            self.dbs.drop(url)
        return output

    def _check_versions(self, store: Store, ids: list[int], results: Results, label: str) -> None:
        stored = store.versions(ids)
        if stored != len(ids):
            results.notes.append(f"{label}: {stored} versions stored for {len(ids)} articles")

    # --- one repeat ----------------------------------------------------------------------------

    def repeat(self, results: Results, repeat: int) -> None:
        """Every configuration once; the order is reversed every other repeat."""
        args, flip = self.args, -1 if repeat % 2 else 1
        for k in args.workers[::flip]:
            print(f"repeat {repeat + 1}, K = {k}", file=sys.stderr)
            steps = self._steps(results, repeat, k)
            rates = {name: steps[name]() for name in list(steps)[::flip]}
            if rates["celery"] and rates["run"]:
                results.add(results.ratio_run, k, rates["celery"] / rates["run"])
            if rates.get("check") and rates["celery"]:
                results.add(results.ratio_check, k, rates["celery"] / rates["check"])
        if args.tick2_latency:
            k = args.latency_workers
            self.long_running(
                results, repeat, lambda env: Deployment.celery(env, self.logs, workers=k, tick=2),
                None, f"Celery -c {k}, tick 2 s (default)",
            )

    def _steps(
        self, results: Results, repeat: int, k: int
    ) -> dict[str, Callable[[], float | None]]:
        """The configurations at K = k, each a call returning its checks/s."""
        logs, latency = self.logs, k == self.args.latency_workers

        def celery(env: dict[str, str]) -> Deployment:
            return Deployment.celery(env, logs, workers=k, tick=0.5)

        def fetch_only(env: dict[str, str]) -> Deployment:
            return Deployment.celery(env, logs, workers=k, tick=0.5,
                                     queues=("fetch", "housekeeping"))  # fmt: skip

        def embedded(env: dict[str, str]) -> Deployment:
            return Deployment.embedded(env, logs, concurrency=k)

        steps: dict[str, Callable[[], float | None]] = {
            "celery": lambda: self.long_running(
                results, repeat, celery, ("celery", k),
                f"Celery -c {k}, tick 0.5 s" if latency else None),
            "run": lambda: self.long_running(
                results, repeat, embedded, ("run", k),
                f"tracker run --concurrency {k}" if latency else None),
        }  # fmt: skip
        if not self.args.skip_check_all:
            steps["check"] = lambda: self.check_all(results, k)
        if latency and self.args.fetch_only:
            steps["fetch-only"] = lambda: self.long_running(
                results, repeat, fetch_only, ("fetch-only", k), None)  # fmt: skip
        return steps


# --- report ----------------------------------------------------------------------------------

THROUGHPUT_HEADERS = ("mode", "K", "checks/s", "span checks/s", "CPU ms/check", "Celery ÷ run",
                      "Celery ÷ check --all")
MODES = {
    "celery": "Celery: worker -c {k} + beat (tick 0.5 s)",
    "fetch-only": "Celery, as above, on fetch,housekeeping only (dispatch tasks left queued)",
    "run": "tracker run --concurrency {k}",
    "check": "tracker check --all --concurrency {k}",
}


def report(results: Results, args: argparse.Namespace, started: str, versions: dict[str, str]
           ) -> str:  # fmt: skip
    n = results.articles
    repeats = f"median of {args.repeat} repeat{'s' if args.repeat > 1 else ''}"
    rows = []
    for k in sorted(args.workers):
        for mode, title in MODES.items():
            rate = results.rate.get((mode, k))
            if not rate:
                continue
            ratio_run = results.ratio_run.get(k) if mode == "celery" else None
            ratio_check = results.ratio_check.get(k) if mode == "celery" else None
            span = results.span_rate.get((mode, k))
            rows.append((
                title.format(k=k), k, f"{median(rate):.1f}",
                f"{median(span):.1f}" if span else "",
                f"{median(results.cpu_ms[(mode, k)]):.1f}",
                f"{median(ratio_run):.2f} ×" if ratio_run else "",
                f"{median(ratio_check):.2f} ×" if ratio_check else "",
            ))  # fmt: skip
    latency_rows = [
        (label, len(values), f"{median(v[0] for v in values):.3f}",
         f"{median(v[1] for v in values):.3f}", f"{median(v[2] for v in values):.3f}")
        for label, values in results.latency.items()
    ]  # fmt: skip
    parts = [
        "## Celery deployment against the embedded mode (PostgreSQL)",
        f"Command: `{command_line()}` ({started}). Script: `benchmarks/bench_service.py` (its "
        "docstring has the method). Celery workers: `celery -A workers worker -Q "
        "fetch,deliver,housekeeping -c K --without-gossip --without-mingle` plus one `celery -A "
        "workers beat` with `TRACKER_TICK_SECONDS=0.5` (the real beat sends the ticks); "
        "embedded: `tracker run --concurrency K` and `tracker check --all --concurrency K`. "
        f"Every process: `TRACKER_PER_HOST_CONCURRENCY={PER_HOST}` (all articles are on "
        "127.0.0.1), other settings default. PostgreSQL for all, a fresh clone of the same "
        "template database per configuration.",
        f"### Throughput: first sight of N = {n:,} articles ({repeats})",
        "checks/s = N / (time from the instant all N fell due to the last check stored); for "
        "`tracker check --all` from process start to exit (interpreter start and imports "
        "included), and \"span\" from its first check started to its last check stored. CPU "
        "is user+system of the tracker processes (Celery: worker, pool processes and beat). "
        "Ratios: Celery's checks/s over the embedded mode's at the same K, taken in each "
        "repeat.",
        table(THROUGHPUT_HEADERS, rows),
        "\n".join(f"- {line}" for line in findings(results, args)),
        f"### Latency from due to check started ({repeats})",
        f"Each run: {args.latency_articles} articles due at random instants over "
        f"{args.latency_spread:g} s (about {args.latency_articles / args.latency_spread:.0f} "
        f"checks/s), after the throughput pass, K = {args.latency_workers}; latency = "
        "`checks.started_at` − the `next_check_at` the article was given. Seconds.",
        table(("mode", "runs", "p50", "p95", "max"), latency_rows),
    ]
    if results.notes:
        parts += ["Notes:", "\n".join(f"- {note}" for note in results.notes)]
    parts += ["Machine and versions:", bullet_list(machine_info() | versions)]
    return "\n\n".join(parts) + "\n"


def findings(results: Results, args: argparse.Namespace) -> list[str]:
    """What the throughput table says, with its numbers (only for the rows measured)."""
    rate = {key: median(values) for key, values in results.rate.items()}
    cpu = {key: median(values) for key, values in results.cpu_ms.items()}
    lines = [
        "How each mode uses the cores: the Celery worker checks in K prefork processes; "
        "`tracker run` checks in K threads of one process (the GIL lets one of them run Python "
        "at a time); `tracker check --all` spreads a pass of 100 or more articles over "
        "`processes` (default 2, at most the core count) forked processes with K/2 threads "
        "each, at least one, so at K = 1 it already runs two processes (`tracker/passes.py`)."
    ]
    low, high = min(args.workers), max(args.workers)
    if high > low and ("celery", low) in rate and ("celery", high) in rate:
        def gain(mode: str) -> str:
            return f"×{rate[mode, high] / rate[mode, low]:.2f}"

        both = ("run", low) in rate and ("run", high) in rate
        run = f", `tracker run` {gain('run')}" if both else ""
        lines.append(f"Scaling from K = {low} to {high}: Celery {gain('celery')}{run} (2 cores, "
                     "shared with the article server, PostgreSQL and Redis).")  # fmt: skip
    k = args.latency_workers
    if ("fetch-only", k) in rate and ("celery", k) in rate:
        lines.append(
            f"The `tracker.dispatch` task sent by every check that wrote an event (all of them "
            f"here: first sight writes `article.first_seen`) costs "
            f"{cpu['celery', k] - cpu['fetch-only', k]:.1f} ms CPU per check at K = {k}: "
            f"without it the workers check {rate['fetch-only', k] / rate['celery', k]:.2f} × "
            "as fast. The embedded `tracker run` pays the same kind of cost in its delivery "
            "thread, woken by every such check (see the profile section, `--profile`).")
    return lines


def profile_report(path: Path, args: argparse.Namespace, started: str) -> str:
    from profiled import by_library, hotspots

    n = args.articles
    return "\n\n".join([
        "## Profile of tracker run on the first-sight pass",
        f"Command: `{command_line()}` ({started}). The throughput pass of `tracker run "
        f"--concurrency {args.workers[0]}` (N = {n:,}, plus the warm-up) under "
        "`benchmarks/profiled.py`: cProfile in every thread, timed with `time.thread_time` "
        "(CPU, not waiting). Shares are of all profiled CPU; ms per check are inflated by the "
        "profiler. The delivery thread runs `deliver_due` once per check that wrote an event "
        "(every first sight writes `article.first_seen`), although no endpoint is subscribed.",
        table(("phase", "share", "ms/check"), phase_rows(path, RUN_PHASES, n + WARMUP)),
        "Self time by library:",
        table(("where", "self"), by_library(path)),
        "Top functions by cumulative time:",
        table(("function", "cumulative", "self", "calls"), hotspots(path, limit=15)),
    ]) + "\n"  # fmt: skip


def celery_profile_report(path: Path, args: argparse.Namespace, started: str) -> str:
    from profiled import by_library, hotspots

    n = args.articles
    return "\n\n".join([
        "## Profile of a Celery worker on the first-sight pass",
        f"Command: `{command_line()}` ({started}), tracker commit {revision()}. The throughput "
        f"pass (N = {n:,}, plus the warm-up) of one `celery -A workers worker -P solo` (the "
        "tasks run in the worker's main process, as in one prefork pool process) and a beat "
        "ticking every 0.5 s, the worker under `benchmarks/profiled.py`: cProfile in every "
        "thread, timed with `time.thread_time` (CPU, not waiting). Shares are of all profiled "
        "CPU of the worker (imports and start-up included); ms per check are inflated by the "
        "profiler.",
        table(("phase", "share", "ms/check"), phase_rows(path, CELERY_PHASES, n + WARMUP)),
        "Self time by library:",
        table(("where", "self"), by_library(path)),
        "Top functions by cumulative time:",
        table(("function", "cumulative", "self", "calls"), hotspots(path, limit=15)),
    ]) + "\n"  # fmt: skip


def server_versions(postgres_url: str, broker: Broker) -> dict[str, str]:
    with psycopg.connect(postgres_url) as db:
        row = db.execute("SHOW server_version").fetchone()
    info = broker.client.info("server")
    packages = ["celery", "kombu", "redis", "psycopg", "SQLAlchemy", "httpx", "trafilatura"]
    return {"tracker commit": revision()} | package_versions(packages) | {
        "PostgreSQL server": str(row[0] if row else "?"),
        "Redis server": str(info.get("redis_version", "?")),
    }


def revision() -> str:
    """The commit measured, and whether the product's files differed from it (read-only git)."""
    def git(*args: str) -> str:
        found = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                               timeout=30, check=False)  # fmt: skip
        return found.stdout.strip()

    dirty = git("status", "--porcelain", "--", "tracker", "db", "workers")
    return (git("rev-parse", "--short", "HEAD") or "unknown") + (" (modified)" if dirty else "")


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", default="1,2,4", help="comma-separated K values")
    parser.add_argument("--latency-articles", type=int, default=100)
    parser.add_argument("--latency-spread", type=float, default=20.0, help="seconds")
    parser.add_argument("--latency-workers", type=int, default=2, help="K of the latency runs")
    parser.add_argument("--no-tick2", dest="tick2_latency", action="store_false",
                        help="skip the latency run with the default 2 s tick")  # fmt: skip
    parser.add_argument("--skip-check-all", action="store_true")
    parser.add_argument("--no-fetch-only", dest="fetch_only", action="store_false",
                        help="skip the Celery run whose workers leave the deliver queue alone")
    parser.add_argument("--quick", action="store_true", help="a smoke run, well under 1 min")
    parser.add_argument("--postgres-url", default=POSTGRES_URL,
                        help="server and maintenance database; benchmark databases are "
                        "created and dropped beside it")  # fmt: skip
    parser.add_argument("--redis-url", default=REDIS_URL, help="flushed before and after")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    parser.add_argument("--profile", type=Path,
                        help="only profile tracker run (K = the first --workers value) into "
                        "this directory and write the profile section")  # fmt: skip
    parser.add_argument("--profile-celery", type=Path,
                        help="only profile a Celery worker (-P solo) into this directory and "
                        "write its profile section")  # fmt: skip
    parser.add_argument("--steady", type=_rates, default=None,
                        help="only the steady mode (benchmarks/steady.py): these offered "
                        "rates of checks per second, comma-separated, e.g. 100,30")
    parser.add_argument("--steady-seconds", type=float, default=20.0,
                        help="steady mode: seconds of due times per rate")
    parser.add_argument("--steady-per-host", type=int, default=PER_HOST,
                        help="steady mode: TRACKER_PER_HOST_CONCURRENCY (every article is on "
                        "one host)")
    parser.add_argument("--before", metavar="REF",
                        help="steady mode: also run this commit (a temporary git worktree)")
    args = parser.parse_args(argv)
    if args.quick:
        args.articles, args.repeat, args.workers = min(args.articles, 100), 1, "2"
        args.latency_articles, args.latency_spread, args.tick2_latency = 20, 4.0, False
        args.skip_check_all, args.fetch_only = True, False
    args.workers = [int(k) for k in str(args.workers).split(",") if k.strip()]
    if args.latency_workers not in args.workers:
        args.latency_workers = args.workers[0]
    return args


def _rates(text: str) -> list[float]:
    return [float(rate) for rate in text.split(",") if rate.strip()]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-ups below
    if args.steady:
        import steady

        text = steady.main(args)
        print(text)
        if not args.no_docs:
            write_section("bench_service_steady", text)
        return
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    results = Results(args.articles)
    total = WARMUP + args.articles + args.latency_articles
    with (
        tempfile.TemporaryDirectory(prefix="bench_service-") as workdir,
        Site(total) as site,
        Databases(args.postgres_url, "service") as dbs,
        Broker(args.redis_url) as broker,
    ):
        bench = Bench(args, site, dbs, broker, Path(workdir))
        if args.profile_celery:
            args.profile_celery.mkdir(parents=True, exist_ok=True)
            path = bench.profile_celery(args.profile_celery.resolve())
            wait_until(path.exists, 60, "the profile to be written")
            text = celery_profile_report(path, args, started)
            section = "bench_service_celery_profile"
        elif args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            path = bench.profile_run(args.profile.resolve(), args.workers[0])
            text, section = profile_report(path, args, started), "bench_service_profile"
        else:
            for repeat in range(args.repeat):
                bench.repeat(results, repeat)
            versions = server_versions(args.postgres_url, broker)
            text, section = report(results, args, started, versions), "bench_service"
    print(text)
    if not args.no_docs:
        write_section(section, text)
        print(f"written to {ROOT / 'docs' / 'benchmarks.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
