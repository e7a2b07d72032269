"""Where the server time of a 500-row claim goes (issue 15, item 5): the claim's statement (as
``db.lease.claim_statement`` writes it, in SQL) on copies of one 100,000-article table that
differ in one thing each, in turn, so that the load of the moment falls on all of them.

    .venv/bin/python benchmarks/claim_variants.py [--articles 100000] [--rounds 6]

- ``articles``: the table as migrated (its six indexes: every claimed row is a non-HOT update,
  since the claim moves ``next_check_at``, which ``ix_articles_due`` holds, so every index gets
  a new entry): the claim as it was (a SELECT, then an UPDATE of the ids it returned), and as
  one statement committed as usual and without waiting for the WAL flush (what ``db.lease``
  does now);
- ``articles without host and source_id indexes``: two indexes fewer;
- ``narrow schedule table``: only what the claim reads and writes (id, state, the due and lease
  columns), with its primary key and the partial due index: the cost of the claim if the
  schedule lived in a table of its own.

Each round claims 40 batches of 500 from each table, then gives them back and vacuums. Times
are the statement's and the commit's, measured around the driver (psycopg, no SQLAlchemy).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

import benchmarks.bench_web as bench_web  # noqa: E402
from benchmarks.harness import bullet_list, command_line, machine_info, table, write_section  # noqa: E402
from tracker.app import App  # noqa: E402
from tracker.config import load_settings  # noqa: E402

CLAIM = """
WITH due AS (
  SELECT id, lease_token IS NOT NULL AS takeover, next_check_at AS o0, id AS o1 FROM {table}
  WHERE state IN ('active', 'unavailable', 'deleted') AND next_check_at <= now()
    AND coalesce(lease_until, '1970-01-01') < now()
  ORDER BY next_check_at, id LIMIT 500 FOR UPDATE SKIP LOCKED),
leased AS (
  UPDATE {table} a SET next_check_at = now() + interval '1 hour',
    lease_token = replace(gen_random_uuid()::text, '-', ''),
    lease_until = now() + interval '1 hour',
    due_at = CASE WHEN a.lease_token IS NULL THEN a.next_check_at
                  ELSE coalesce(a.due_at, a.next_check_at) END
  FROM due WHERE a.id = due.id RETURNING a.id, a.lease_token, due.takeover, due.o0, due.o1)
SELECT id, lease_token, takeover FROM leased ORDER BY o0, o1
"""
# The claim before it was one statement: the SELECT, then the UPDATE of the ids it returned.
SELECT = """
SELECT id, lease_token FROM {table}
WHERE state IN ('active', 'unavailable', 'deleted') AND next_check_at <= now()
  AND coalesce(lease_until, '1970-01-01') < now()
ORDER BY next_check_at, id LIMIT 500 FOR UPDATE SKIP LOCKED
"""
UPDATE = """
UPDATE {table} SET next_check_at = now() + interval '1 hour',
  lease_token = replace(gen_random_uuid()::text, '-', ''), lease_until = now() + interval '1 hour',
  due_at = CASE WHEN lease_token IS NULL THEN next_check_at ELSE coalesce(due_at, next_check_at) END
WHERE id = ANY(%s) RETURNING id, lease_token
"""
VARIANTS = {
    "articles (6 indexes), SELECT then UPDATE, synchronous commit": ("articles", "two"),
    "articles (6 indexes), synchronous commit": ("articles", "on"),
    "articles (6 indexes), commit without WAL flush": ("articles", "off"),
    "articles without host and source_id indexes (4), no flush": ("articles_fewer", "off"),
    "narrow schedule table (2 indexes), no flush": ("schedule", "off"),
}


def set_up(connection: psycopg.Connection[tuple[object, ...]]) -> None:
    connection.execute("CREATE TABLE articles_fewer (LIKE articles INCLUDING ALL)")
    connection.execute("INSERT INTO articles_fewer SELECT * FROM articles")
    for index in ("host", "source_id"):
        found = connection.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'articles_fewer' "
            f"AND indexdef LIKE '%({index})%'").fetchone()
        assert found, index
        connection.execute(f'DROP INDEX "{found[0]}"')
    connection.execute("CREATE TABLE schedule AS SELECT id, state, next_check_at, lease_token, "
                       "lease_until, due_at FROM articles")
    connection.execute("ALTER TABLE schedule ADD PRIMARY KEY (id)")
    connection.execute("CREATE INDEX ix_schedule_due ON schedule (next_check_at, id) "
                       "WHERE state IN ('active', 'unavailable', 'deleted')")
    connection.execute("VACUUM ANALYZE")


def block(connection: psycopg.Connection[tuple[object, ...]], name: str, sync: str,
          calls: int) -> tuple[list[float], list[float]]:
    statements, commits = [], []
    for _ in range(calls):
        with connection.transaction():
            started = time.perf_counter()
            if sync == "two":
                ids = [row[0] for row in connection.execute(SELECT.format(table=name))]
                rows = connection.execute(UPDATE.format(table=name), [ids]).fetchall()
            else:
                connection.execute(f"SET LOCAL synchronous_commit = {sync}")
                rows = connection.execute(CLAIM.format(table=name)).fetchall()
            executed = time.perf_counter()
        statements.append(1000 * (executed - started))
        commits.append(1000 * (time.perf_counter() - executed))
        assert len(rows) == 500
    connection.execute(f"UPDATE {name} SET next_check_at = due_at, lease_token = NULL, "
                       "lease_until = NULL, due_at = NULL WHERE lease_token IS NOT NULL")
    connection.execute(f"VACUUM ANALYZE {name}")
    return statements, commits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--no-docs", action="store_true", help="print only")
    args = parser.parse_args()
    started, loads = time.strftime("%Y-%m-%d %H:%M %Z"), [f"{os.getloadavg()[0]:.1f}"]
    url, drop = bench_web.postgres_database()
    found: dict[str, tuple[list[float], list[float]]] = {v: ([], []) for v in VARIANTS}
    try:
        app = App(load_settings(database_url=url))
        app.engine  # noqa: B018 - made and migrated here
        bench_web.NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)  # all due
        bench_web.bulk_articles(app, 0, args.articles)
        app.close()
        with psycopg.connect(url, autocommit=True) as connection:
            set_up(connection)
            calls = min(40, args.articles // 1000)  # half of the table at most
            for _ in range(args.rounds):
                for label, (name, sync) in VARIANTS.items():
                    statements, commits = block(connection, name, sync, calls)
                    found[label][0].extend(statements)
                    found[label][1].extend(commits)
                loads.append(f"{os.getloadavg()[0]:.1f}")
    finally:
        drop()
    base = statistics.median(found[next(iter(VARIANTS))][0])
    rows = []
    for label, (statements, commits) in found.items():
        rows.append([label, f"{statistics.median(statements):.1f}",
                     f"{percentile(statements, 0.95):.1f}", f"{statistics.median(commits):.2f}",
                     f"{percentile(commits, 0.95):.2f}",
                     f"{statistics.median(statements) / base:.2f} ×"])
    text_ = "\n\n".join([
        "## Where a 500-row claim's server time goes (issue 15, item 5)",
        f"Command: `{command_line()}` (started {started}; load average {' → '.join(loads)}). "
        f"{args.articles:,} articles, {args.rounds} rounds of "
        f"{min(40, args.articles // 1000)} claims of 500 on each variant in turn; see "
        "the docstring of `benchmarks/claim_variants.py`.",
        table(["variant", "statement p50 ms", "p95 ms", "commit p50 ms", "p95 ms",
               "statement p50 ÷ first"], rows),
        "Machine:", bullet_list(machine_info()),
    ]) + "\n"
    print(text_)
    if not args.no_docs:
        write_section("claim_variants", text_)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


if __name__ == "__main__":
    main()
