"""Benchmark of politeness: does one host see no more requests than its configured rate, with
four Celery worker processes on a shared Redis, and with the embedded ``tracker check --all``?

Run ``.venv/bin/python benchmarks/bench_politeness.py`` (options: ``--articles N`` (500),
``--rate R`` requests/min (300), ``--workers K`` worker processes (2) ``--per-worker C`` pool
processes each (2), ``--tick S`` (1.0), ``--postgres-url``, ``--redis-url``, ``--no-docs``;
``--quick``: 100 articles, a smoke run of well under a minute). It prints a markdown table and
writes it, with the command line and machine info, to its section of docs/benchmarks.md.

Set-up. ``tests/articleserver.py`` serves article-0000 … in its own process (harness.Site), all
on one host (127.0.0.1). Each configuration gets a fresh PostgreSQL database tracking every
article (``tracker add - --every 1d``: all due at once, none checked yet) and, for Celery, a
flushed Redis database (default ``redis://127.0.0.1:6379/12``) as broker, which the workers
also use for the shared rate limit (``rate_limit_url`` empty). ``TRACKER_PER_HOST_RATE`` is
the rate under test; every other setting is the default (``per_host_concurrency`` 2, the
politeness burst 1, i.e. strictly spaced requests, short waits up to 2 s slept, longer ones
deferred).

Configurations:

- Celery: K × ``celery -A workers worker -Q fetch,deliver,housekeeping -c C`` and one beat
  with ``TRACKER_TICK_SECONDS``; the first tick claims every article and the workers check
  them; checks the host's rate or slots turn away are deferred and claimed again when due.
- ``tracker check --all``: one pass in a fresh process (forked into one process per core, each
  with its share of the rate; deferred checks finished within the pass).

Measured from the article server's request log (``GET /_control/log``: arrival time of every
article request): the requests, the span first → last, the mean rate over the span, and the
most requests in any sliding window of 60 s and of 10 s (× 6, to compare with a per-minute
rate). GCRA allows at most ``W × rate / 60 + burst`` in any window of W seconds (with burst 1:
the rate, plus the request on the window's closing edge); the forked ``tracker check`` has one
burst per process. The run also checks that every article was
stored exactly once (deferred checks store nothing and lose nothing).
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench_service import Broker, Child, Databases, opened, wait_until
from harness import (
    BIN,
    Site,
    bullet_list,
    clean_env,
    command_line,
    machine_info,
    package_versions,
    run_measured,
    table,
    write_section,
)

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/12"
BURST = 1  # tracker.politeness.BURST (the benchmark imports nothing of tracker)


@dataclass(frozen=True, slots=True)
class Run:
    label: str
    processes: int  # that keep to the rate each on their own (bursts add up)
    times: list[float]
    wall: float
    deferred: int | None  # checks deferred on the way (None: not counted)
    notes: str = ""

    @property
    def span(self) -> float:
        return self.times[-1] - self.times[0] if len(self.times) > 1 else 0.0

    def per_minute(self) -> float:
        return 60 * (len(self.times) - 1) / self.span if self.span else 0.0


def window_max(times: Sequence[float], width: float) -> int:
    """The most requests in any window [t, t + width): windows starting at a request suffice."""
    best, end = 0, 0
    for start, at in enumerate(times):
        while end < len(times) and times[end] < at + width:
            end += 1
        best = max(best, end - start)
    return best


def request_times(site: Site) -> list[float]:
    with urllib.request.urlopen(f"{site.base_url}/_control/log", timeout=30) as response:
        log = json.load(response)["requests"]
    return sorted(at for at, status, what in log if status == 200 and what.startswith("article"))


def tracked_database(dbs: Databases, site: Site, home: Path, env: dict[str, str]) -> str:
    url = dbs.create()
    listing = home / f"urls-{secrets.token_hex(3)}.txt"
    listing.write_text("\n".join(site.urls()) + "\n", encoding="utf-8")
    # A SQLite file other than the default one is made by `tracker migrate` only.
    run_measured([str(BIN / "tracker"), "migrate"], env=env | {"TRACKER_DATABASE_URL": url},
                 timeout=600)
    run_measured([str(BIN / "tracker"), "add", "-", "--every", "1d"],
                 env=env | {"TRACKER_DATABASE_URL": url}, timeout=600, stdin=listing)
    return url


def assert_stored_once(url: str, count: int) -> None:
    with opened(url) as store:
        versions = store.scalar("SELECT count(*) FROM versions")
        articles = store.scalar("SELECT count(DISTINCT article_id) FROM versions")
        checks = store.scalar("SELECT count(*) FROM checks")
    if (versions, articles, checks) != (count, count, count):
        raise RuntimeError(f"expected {count} versions, articles and checks; got {versions}, "
                           f"{articles}, {checks}")


def celery_run(args: argparse.Namespace, site: Site, dbs: Databases, broker: Broker,
               home: Path, env: dict[str, str]) -> Run:  # fmt: skip
    url = tracked_database(dbs, site, home, env)
    env = env | {"TRACKER_DATABASE_URL": url, "TRACKER_BROKER_URL": broker.url,
                 "TRACKER_TICK_SECONDS": f"{args.tick:g}"}  # fmt: skip
    logs = home / "logs"
    logs.mkdir(exist_ok=True)
    broker.flush()
    site.control("reset")
    children: list[Child] = []
    try:
        for n in range(args.workers):
            command = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q",
                       "fetch,deliver,housekeeping", "-c", str(args.per_worker),
                       "--without-gossip", "--without-mingle", "-n",
                       f"polite{n}-{secrets.token_hex(3)}@%h", "-l", "INFO"]  # fmt: skip
            children.append(Child(f"worker{n}", command, env, logs))
        time.sleep(3)  # the workers start before the beat sends the first tick
        beat = [sys.executable, "-m", "celery", "-A", "workers", "beat", "--schedule",
                str(logs / "beat-schedule"), "-l", "WARNING"]  # fmt: skip
        started = time.time()
        children.append(Child("beat", beat, env, logs))
        with opened(url) as store:
            wait_until(lambda: store.scalar("SELECT count(*) FROM versions") >= args.articles,
                       60 + 3 * 60 * args.articles / args.rate, "every first version", children)
        wall = time.time() - started
    finally:
        for child in children:
            child.stop()
    assert_stored_once(url, args.articles)
    deferred = sum(len(re.findall(r"succeeded in [\d.]+s: 'deferred'", child.log.read_text(
        encoding="utf-8", errors="replace"))) for child in children)  # fmt: skip
    dbs.drop(url)
    broker.flush()
    label = f"Celery: {args.workers} × worker -c {args.per_worker}, tick {args.tick:g} s"
    return Run(label, 1, request_times(site), wall, deferred, "one limiter, in Redis")


def check_all_run(args: argparse.Namespace, site: Site, dbs: Databases, home: Path,
                  env: dict[str, str]) -> Run:  # fmt: skip
    url = tracked_database(dbs, site, home, env)
    site.control("reset")
    usage = run_measured([str(BIN / "tracker"), "check", "--all", "--format", "json"],
                         env=env | {"TRACKER_DATABASE_URL": url},
                         timeout=120 + 3 * 60 * args.articles / args.rate)  # fmt: skip
    outcomes = json.loads(usage.stdout)["outcomes"]
    assert_stored_once(url, args.articles)
    dbs.drop(url)
    processes = 2 if args.articles >= 100 else 1  # tracker.passes.PROCESS_THRESHOLD, 2 cores
    note = f"{processes} forked processes, 1/{processes} of the rate each; outcomes {outcomes}"
    return Run("tracker check --all (embedded)", processes, request_times(site), usage.wall,
               None, note)


def report(runs: list[Run], args: argparse.Namespace, started: str) -> str:
    rate = args.rate
    rows = []
    for run in runs:
        bursts = BURST * run.processes
        sixty = window_max(run.times, 60.0) if run.span >= 60 else None
        ten = window_max(run.times, 10.0)
        ten_bound = f"(≤ ({rate / 6:g} + {bursts}) × 6 = {(rate / 6 + bursts) * 6:g})"
        rows.append((
            run.label, len(run.times), f"{run.span:.1f}", f"{run.per_minute():.1f}",
            f"{sixty} (≤ {rate:g} + {bursts})" if sixty is not None else "run < 60 s",
            f"{ten} × 6 = {ten * 6} {ten_bound}",
            "—" if run.deferred is None else str(run.deferred), f"{run.wall:.1f}",
        ))  # fmt: skip
    headers = ("configuration", "requests", "span s", "mean /min", "max in a 60 s window",
               "max in a 10 s window × 6", "deferred checks", "wall s")  # fmt: skip
    notes = "\n".join(f"- {run.label}: {run.notes}" for run in runs if run.notes)
    versions = package_versions(["celery", "redis", "httpx", "SQLAlchemy"])
    return "\n\n".join([
        "## Politeness: requests per host against the configured rate",
        f"{args.articles} articles on one host, `TRACKER_PER_HOST_RATE={rate:g}` (requests per "
        f"minute), everything else default (burst {BURST}, per-host concurrency 2). Counted from "
        "the article server's request log; every article was stored exactly once in each run.",
        table(headers, rows),
        notes,
        f"Command: `{command_line()}`, started {started}.",
        "Machine:\n" + bullet_list(machine_info()),
        "Versions:\n" + bullet_list(versions),
    ])  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=500)
    parser.add_argument("--rate", type=float, default=300.0, help="requests per minute")
    parser.add_argument("--workers", type=int, default=2, help="celery worker processes")
    parser.add_argument("--per-worker", type=int, default=2, help="pool processes each")
    parser.add_argument("--tick", type=float, default=1.0, help="TRACKER_TICK_SECONDS")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--redis-url", default=REDIS_URL, help="flushed before and after")
    parser.add_argument("--skip-check-all", action="store_true")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    parser.add_argument("--quick", action="store_true", help="100 articles: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.articles = 100
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    with tempfile.TemporaryDirectory(prefix="bench-politeness-") as tmp, \
            Site(args.articles) as site, Databases(args.postgres_url, "politeness") as dbs, \
            Broker(args.redis_url) as broker:  # fmt: skip
        home = Path(tmp)
        env = clean_env(home, TRACKER_ALLOW_NETWORKS="127.0.0.0/8", TRACKER_ALLOWED_PORTS="*",
                        NO_COLOR="1",
                        TRACKER_PER_HOST_RATE=f"{args.rate:g}")  # fmt: skip
        runs = [celery_run(args, site, dbs, broker, home, env)]
        print(f"  {runs[-1].label}: {len(runs[-1].times)} requests in {runs[-1].span:.1f} s",
              file=sys.stderr)
        if not args.skip_check_all:
            runs.append(check_all_run(args, site, dbs, home, env))
            print(f"  {runs[-1].label}: {len(runs[-1].times)} requests in "
                  f"{runs[-1].span:.1f} s", file=sys.stderr)
    text = report(runs, args, started)
    print(text)
    if not args.no_docs:
        write_section("bench_politeness", text)


if __name__ == "__main__":
    main()
