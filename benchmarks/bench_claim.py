"""The tick's claim at 100,000 articles on PostgreSQL, on its own (issue 15, item 5): quick to
rerun, and before/after in one run.

    .venv/bin/python benchmarks/bench_claim.py [--before REF] [--rounds 2] [--articles 100000]

Builds the articles once, in bulk (``bench_web.bulk_articles``: one version each, every
article due; and ``bench_web.hundred_changes``, 60 of whose changes are in the last hour), then
times ``tracker.scheduling.claim_due`` (``claim_batch`` 500) in three cases:

- due: claiming 500 at a time until every article is leased. Every other call is timed from
  outside (wall; this process's CPU time; and the time spent in the driver's ``execute`` and
  the commit: the database's share, round trips included); the calls between them run the
  claim's statements under ``EXPLAIN (ANALYZE, BUFFERS)`` and commit (server time: the
  statements' execution times);
- nothing due: 50 calls with every article leased (leases last an hour: nothing renews them
  here);
- settled: 20 calls with half of the articles settled (never claimed, their last due time in
  the past), after a VACUUM.

Then ``list_articles(limit=50)`` at three offsets and ``report.changes(since 1h)``, in this
process (the command's own work, without its start-up). ``--before REF`` also measures a
worktree of ``REF`` (its own database, this very script run there), in turn with this
checkout, ``--rounds`` times, the order swapped each round: both columns share the machine's
load of the moment. The plans of the claim's statements are those of the last run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CODE = Path(os.environ.get("BENCH_CLAIM_CODE", Path(__file__).resolve().parent.parent))
HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(CODE))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50": 0.0, "p95": 0.0, "max": 0.0}
    return {"n": len(values), "p50": statistics.median(values),
            "p95": percentile(values, 0.95), "max": max(values)}


KINDS = ("wall", "cpu", "driver", "server")


class DriverClock:
    """Time spent in the driver's ``execute`` (and the commit): the database's share of a call,
    round trips included, without SQLAlchemy's compiling and the Python around it."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.total = 0.0
        self._started = 0.0

        def before(*_: Any) -> None:
            self._started = time.perf_counter()

        def after(*_: Any) -> None:
            self.total += time.perf_counter() - self._started

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        event.listen(engine, "commit", before)
        # The commit event fires before the driver's commit: time it on the connection pool's
        # side instead, when the connection comes back (after the commit has returned).
        event.listen(engine.pool, "checkin", after)


def server_claim(app: Any, limit: int, until: dt.datetime) -> tuple[float, list[str]]:
    """One claim of ``limit`` with its statements under EXPLAIN (ANALYZE, BUFFERS), committed:
    the statements' execution time (ms, commit excluded) and their plans."""
    from db import lease
    from db.session import session_scope
    from tracker.leases import ARTICLES

    now = dt.datetime.now(dt.UTC)
    plans, total = [], 0.0
    with session_scope(app.writer) as session:
        for lines in explained(session, lease, ARTICLES, now, until, limit):
            total += float(next(line for line in lines if line.startswith("Execution Time"))
                           .split()[2])
            plans.append("\n".join(lines))
    return total, plans


def explained(session: Any, lease: Any, work: Any, now: dt.datetime, until: dt.datetime,
              limit: int) -> Any:
    """Run the claim's statements, whichever form the code under test has, under EXPLAIN
    (ANALYZE, BUFFERS); yields the plan of each."""
    connection = session.connection()
    for statement in claim_statements(session, lease, work, now, until, limit):
        compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
        yield connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}").scalars().all()


def claim_statements(session: Any, lease: Any, work: Any, now: dt.datetime,
                     until: dt.datetime, limit: int) -> Any:
    """The claim's statements with their values, whichever form the code under test has."""
    from sqlalchemy import text

    if hasattr(lease, "claim_statement"):  # one statement: lock, lease and return
        yield lease.claim_statement(work).params(lease.claim_params(now, until, limit))
        session.execute(text("SET LOCAL synchronous_commit = off"))
        return
    select_ = lease.due_rows(work, now, limit)
    yield select_
    ids = [row.id for row in session.execute(select_)]  # already locked by this transaction
    if ids:
        yield lease._lease(work.model, ids, until)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import text, update

    import benchmarks.bench_web as bench_web
    from db.models import Article
    from tracker import report
    from tracker.app import App
    from tracker.articles import list_articles, parse_since
    from tracker.config import load_settings
    from tracker.scheduling import claim_due
    from tracker.terminal import json_text

    url, drop = bench_web.postgres_database()
    result: dict[str, Any] = {"code": str(CODE)}
    try:
        app = App(load_settings(database_url=url, lease_seconds=3600))
        app.engine  # noqa: B018 - made and migrated here
        bench_web.NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)  # all due
        started = time.perf_counter()
        bench_web.bulk_articles(app, 0, args.articles)
        # 100 more articles with two versions each, their second spread over the last 100
        # minutes (not due: checked a minute ago): `changes --since 1h` finds 60.
        bench_web.NOW = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=80)
        bench_web.hundred_changes(app)
        with app.engine.begin() as connection:
            connection.execute(update(Article).where(Article.id > args.articles).values(
                next_check_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)))
        vacuum(app)
        result["bulk s"] = time.perf_counter() - started
        clock = DriverClock(app.engine)
        until = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        walls, cpus, drivers, servers, claimed, plans = [], [], [], [], 0, []
        for call in range(10**9):
            if call % 2:
                server, plans = server_claim(app, app.settings.claim_batch, until)
                servers.append(server)
                if server and "rows=0 " in plans[0].splitlines()[0]:
                    break
                continue
            clock.total = 0.0
            started, cpu = time.perf_counter(), time.process_time()
            got = len(claim_due(app))
            walls.append(1000 * (time.perf_counter() - started))
            cpus.append(1000 * (time.process_time() - cpu))
            drivers.append(1000 * clock.total)
            claimed += got
            if not got:
                break
        result["due"] = {"wall": walls, "cpu": cpus, "driver": drivers, "server": servers,
                         "calls": len(walls) + len(servers)}
        result["due plans"] = plans_of(app, until)
        result["nothing due"] = timed(app, clock, claim_due, args.idle_calls)
        result["nothing due"]["server"] = [server_claim(app, 500, until)[0] for _ in range(10)]
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        with app.engine.begin() as connection:
            connection.execute(update(Article).where(Article.id % 2 == 1)
                               .values(state="settled", next_check_at=past, lease_token=None,
                                       lease_until=None))
        vacuum(app, "articles")
        result["settled"] = timed(app, clock, claim_due, 20)
        result["settled"]["server"] = [server_claim(app, 500, until)[0] for _ in range(10)]
        with app.engine.connect() as connection:
            result["indexes"] = connection.execute(text(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'articles' ORDER BY 1"
            )).scalars().all()
        reads: dict[str, list[float]] = {}
        for _ in range(args.repeat):
            for offset in (0, args.articles // 2, args.articles - 50):
                started = time.perf_counter()
                json_text(list_articles(app, limit=50, offset=offset))
                reads.setdefault(f"list --limit 50 --offset {offset:,} --format json",
                                 []).append(1000 * (time.perf_counter() - started))
            started = time.perf_counter()
            report.render_text(report.changes(app, parse_since("1h"), None), color=False)
            reads.setdefault("changes --since 1h", []).append(
                1000 * (time.perf_counter() - started))
        result["reads"] = reads
        app.close()
    finally:
        drop()
    return result


def plans_of(app: Any, until: dt.datetime) -> list[str]:
    """The plans of a 500-row claim in a transaction rolled back (with articles still due:
    the claim of the last batch, a few rows, shows little)."""
    from sqlalchemy import update
    from sqlalchemy.orm import Session

    from db import lease
    from db.models import Article
    from tracker.leases import ARTICLES

    with app.engine.connect() as connection:
        # Make 500 leased rows due again (their lease ran out), as a takeover would see them.
        connection.execute(update(Article).where(Article.id <= 1000, Article.id % 2 == 0)
                           .values(next_check_at=dt.datetime.now(dt.UTC)
                                   - dt.timedelta(minutes=1), lease_until=None))
        session = Session(bind=connection)
        plans = [short("\n".join(lines)) for lines in explained(
            session, lease, ARTICLES, dt.datetime.now(dt.UTC), until, 500)]
        connection.rollback()
    return plans


def short(plan: str) -> str:
    """A plan with its long lines (the 500 ids of an IN list) cut."""
    return "\n".join(line if len(line) < 300 else line[:300] + " …" for line in plan.splitlines())


def timed(app: Any, clock: DriverClock, claim_due: Any, calls: int) -> dict[str, Any]:
    walls, cpus, drivers = [], [], []
    for _ in range(calls):
        clock.total = 0.0
        started, cpu = time.perf_counter(), time.process_time()
        claim_due(app)
        walls.append(1000 * (time.perf_counter() - started))
        cpus.append(1000 * (time.process_time() - cpu))
        drivers.append(1000 * clock.total)
    return {"wall": walls, "cpu": cpus, "driver": drivers, "calls": calls}


def vacuum(app: Any, table: str = "") -> None:
    from sqlalchemy import text

    with app.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"VACUUM ANALYZE {table}"))


def before(ref: str, argv: list[str]) -> dict[str, Any]:
    """This script run on a worktree of ``ref``, with its own database."""
    folder = Path(tempfile.mkdtemp(prefix="bench_claim-before-"))
    subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", str(folder), ref],
                   check=True, capture_output=True)
    try:
        env = {**os.environ, "BENCH_CLAIM_CODE": str(folder)}
        done = subprocess.run([sys.executable, __file__, *argv, "--json"], env=env, check=True,
                              capture_output=True, text=True)
        return dict(json.loads(done.stdout.splitlines()[-1]))
    finally:
        subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force", str(folder)],
                       check=False, capture_output=True)


def merge(into: dict[str, Any], found: dict[str, Any]) -> None:
    """Add one run's samples to those of the runs before it (the last run's plans)."""
    for key, value in found.items():
        if isinstance(value, dict):
            merge(into.setdefault(key, {}), value)
        elif isinstance(value, list) and value and isinstance(value[0], float):
            into.setdefault(key, []).extend(value)
        elif isinstance(value, int | float) and key == "calls":
            into[key] = into.get(key, 0) + value
        else:
            into[key] = value


def render(args: argparse.Namespace, runs: dict[str, dict[str, Any]], loads: list[str],
           started: str) -> str:
    from benchmarks.harness import bullet_list, command_line, machine_info, table

    names = list(runs)
    rows = []
    for case in ("due", "nothing due", "settled"):
        for kind in KINDS:
            if kind not in runs[names[0]][case]:
                continue
            cells = [f"{case}: {kind}"]
            found = {name: summary(runs[name][case][kind]) for name in names}
            for name in names:
                cells += [f"{found[name]['p50']:.1f}", f"{found[name]['p95']:.1f}"]
            if len(names) == 2:
                old, new = (found[n]["p95"] for n in names)
                cells.append(f"{new / old:.2f} ×" if old else "—")
            rows.append(cells)
    headers = ["claim (ms)"] + [f"{n} {p}" for n in names for p in ("p50", "p95")]
    if len(names) == 2:
        headers.append("p95 after ÷ before")
    reads = []
    for label in runs[names[-1]]["reads"]:
        reads.append([label] + [f"{statistics.median(runs[n]['reads'][label]):.1f}"
                                for n in names])
    last = runs[names[-1]]
    parts = [
        "## The tick's claim at 100,000 articles (issue 15, item 5; target p95 ≤ 50 ms)",
        f"Command: `{command_line()}` (started {started}; load average "
        f"{' → '.join(loads)}). {args.articles:,} articles in bulk, all due; see the docstring "
        "of `benchmarks/bench_claim.py`. `due`: claiming 500 at a time until all are leased "
        f"({last['due']['calls']} calls in {args.rounds} rounds, half of them timed from "
        "outside, half under EXPLAIN). "
        "`wall`: `claim_due` as the tick calls it; `cpu`: this process's CPU time in it (the "
        "Python side, the least sensitive to the load); `driver`: the time in the driver's execute "
        "and the commit (the database's share with its round trips); `server`: the execution "
        "time of the claim's statements (EXPLAIN ANALYZE, commit excluded).",
        table(headers, rows),
        "In process (`list_articles`, `report.changes`: the command's work without its "
        f"start-up; median of {args.repeat}, ms; target ≤ 300 ms for the command):",
        table(["read", *names], reads),
        f"Indexes on `articles` ({names[-1]}): " + ", ".join(f"`{i}`" for i in last["indexes"]),
        f"The claim of 500 due rows (takeovers among them), `EXPLAIN (ANALYZE, BUFFERS)` "
        f"({names[-1]}):",
        "\n\n".join(f"```\n{plan}\n```" for plan in last["due plans"]),
        "Machine:", bullet_list(machine_info()),
    ]
    return "\n\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--idle-calls", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--before", metavar="REF", help="also measure this commit")
    parser.add_argument("--rounds", type=int, default=2, help="before and after, in turn")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-docs", action="store_true", help="print only")
    args = parser.parse_args()
    os.environ["TZ"] = "UTC"
    if args.json:
        print(json.dumps(measure(args)))
        return
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    loads = [f"{os.getloadavg()[0]:.1f}"]
    runs: dict[str, dict[str, Any]] = {}
    argv = ["--articles", str(args.articles), "--idle-calls", str(args.idle_calls),
            "--repeat", str(args.repeat)]
    old, new = f"before ({args.before})", "after" if args.before else "this checkout"
    for round_ in range(args.rounds):
        # Before and after in turn, the order swapped every round: a change of load in the
        # middle falls on both.
        order = [old, new] if round_ % 2 == 0 else [new, old]
        for name in order if args.before else [new]:
            found = before(args.before, argv) if name == old else measure(args)
            merge(runs.setdefault(name, {}), found)
            loads.append(f"{os.getloadavg()[0]:.1f}")
    runs = {name: runs[name] for name in ([old, new] if args.before else [new])}
    text_ = render(args, runs, loads, started)
    print(text_)
    if not args.no_docs:
        from benchmarks.harness import write_section

        write_section("bench_claim", text_)


if __name__ == "__main__":
    main()
