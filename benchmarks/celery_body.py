"""The worker pool's side of a Celery check against the embedded path, in one process.

Run ``.venv/bin/python benchmarks/celery_body.py --redis-url redis://127.0.0.1:6379/N``
(``--rounds R`` (10), ``--postgres-url``). It prints; it writes no section of the docs.

The same first-sight checks of the bench_service pages (``tests/articleserver.py`` in its own
process, a fresh PostgreSQL database, dropped at the end), in rounds of 64 claims, alternating
which goes first:

- embedded: ``passes.check_many(claims, concurrency=8, stop=Event())`` per 32 claims, what
  ``tracker run`` does with a round of claims;
- Celery: the ``tracker.check_batch`` task's body per 32 claims, run in this process by
  ``Task.apply`` (run count and queued records in Redis, lease renewal, the checks, one
  ``tracker.dispatch`` published), without the broker's receive and acknowledge, which the
  worker's main process does (``bench_service.py`` measures that process apart).

CPU per check is ``time.process_time`` of this process. A last round of the Celery body runs
under cProfile in every thread (``benchmarks/profiled.py``'s method) and prints the calls that
only Celery makes; cProfile inflates everything about 4×, so read them against its total.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import pstats
import secrets
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import redis
from harness import Site
from sqlalchemy import update

from db.models import Article
from db.session import forget_engines, make_engine, session_scope, upgrade
from tracker import passes, scheduling
from tracker.app import App
from tracker.articles import add_articles
from tracker.clock import utcnow
from tracker.config import load_settings
from workers import tasks

ROUND, BATCH = 64, 32
CELERY_ONLY = ("_leased", "_runs", "started", "delay", "trace_task", "renew")


@contextmanager
def database(server: str) -> Iterator[str]:
    name = f"celery_body_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = server.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    try:
        upgrade(make_engine(url))
        yield url
    finally:
        forget_engines()
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Pass:
    """Articles made due a round at a time, claimed, and checked one way or the other."""

    def __init__(self, app: App, ids: list[int]) -> None:
        self.app = app
        self.ids = ids

    def due(self, count: int) -> list[scheduling.Claim]:
        chosen, self.ids = self.ids[:count], self.ids[count:]
        with session_scope(self.app.writer) as session:
            session.execute(update(Article).where(Article.id.in_(chosen))
                            .values(next_check_at=utcnow()))
        return scheduling.claim_due(self.app, limit=count)

    def embedded(self, claims: list[scheduling.Claim]) -> None:
        for start in range(0, len(claims), BATCH):
            passes.check_many(self.app, claims[start : start + BATCH], concurrency=8,
                              stop=threading.Event())

    def celery(self, claims: list[scheduling.Claim]) -> None:
        for start in range(0, len(claims), BATCH):
            batch = [(c.article_id, c.token) for c in claims[start : start + BATCH]]
            tasks.check_batch.apply(args=(batch,))


def profiled(run: Callable[[], None]) -> pstats.Stats:
    profilers: list[cProfile.Profile] = []

    def start(*_: Any) -> None:
        profiler = cProfile.Profile(time.thread_time)
        profilers.append(profiler)
        profiler.enable()

    threading.setprofile(start)
    main = cProfile.Profile(time.thread_time)
    main.enable()
    run()
    main.disable()
    threading.setprofile(None)  # type: ignore[arg-type]
    stats = pstats.Stats(main)
    for profiler in profilers:
        stats.add(profiler)
    return stats


def measure(app: App, ids: list[int], rounds: int, broker: Any) -> None:
    work = Pass(app, ids)
    work.celery(work.due(16))  # warm-up: imports, connections, the first extraction
    cpu: dict[str, list[float]] = {"embedded": [], "celery": []}
    for number in range(rounds):
        order = ["embedded", "celery"][:: 1 if number % 2 == 0 else -1]
        for label in order:
            claims = work.due(ROUND)
            started = time.process_time()
            getattr(work, label)(claims)
            cpu[label].append(1000 * (time.process_time() - started) / len(claims))
            broker.delete("deliver")  # the dispatch tasks published: nobody runs them here
    for label, values in cpu.items():
        print(f"{label}: median {statistics.median(values):.2f} ms CPU/check "
              f"({', '.join(f'{v:.2f}' for v in values)})")
    claims = work.due(2 * ROUND)
    stats = profiled(lambda: work.celery(claims))
    print(f"Celery body under cProfile: {1000 * stats.total_tt / len(claims):.2f} ms/check")
    for (filename, line, name), (_, calls, _, cumulative, _) in sorted(
        stats.stats.items(), key=lambda item: -item[1][3]  # type: ignore[attr-defined]
    ):
        if name in CELERY_ONLY and ("workers" in filename or "tracker" in filename
                                    or "celery" in filename):
            print(f"  {1000 * cumulative / len(claims):7.3f} ms/check {calls:5d} calls "
                  f"{Path(filename).parent.name}/{Path(filename).name}:{line} {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--postgres-url",
                        default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    count = 16 + (2 * args.rounds + 2) * ROUND
    broker = redis.Redis.from_url(args.redis_url)
    broker.flushdb()
    with database(args.postgres_url) as url, Site(count) as site:
        settings = load_settings(
            database_url=url, broker_url=args.redis_url, rate_limit_url=args.redis_url,
            allow_networks="127.0.0.0/8", allowed_ports="*", per_host_concurrency=8,
            per_host_rate=0,
        )
        app = App(settings)
        tasks._context = app  # the task's context is this App, as in a pool process
        tasks.celery.conf.broker_url = args.redis_url
        try:
            add_articles(app, site.urls(), interval=86_400)
            with session_scope(app.writer) as session:
                session.execute(update(Article).values(
                    next_check_at=utcnow() + dt.timedelta(days=3650)))
                ids = sorted(session.scalars(Article.__table__.select().with_only_columns(
                    Article.id)))
            measure(app, ids, args.rounds, broker)
        finally:
            app.close()
            broker.flushdb()


if __name__ == "__main__":
    main()
