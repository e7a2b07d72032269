"""100,000 articles on PostgreSQL (issue 15, item 5): the tick's claim, the paginated listing,
the changes report, the web view's lists and the bytes the database takes.

    .venv/bin/python benchmarks/bench_scale.py [--articles 100000] [--served 2000] [--repeat 7]

Set-up, in a new PostgreSQL database (``TRACKER_BENCH_POSTGRES_URL``, default the local
server): ``--served`` articles on ``tests/articleserver.py`` (its own process, pages generated
from the story fixture) are added and checked for real with ``tracker check URL…``; then 5 % of
them move on to their next version and are checked again, so the last hour holds that many
changes. The other articles are rows inserted in bulk (``bench_web.bulk_articles``: one
version each, 50 hosts). Then:

- claim: 10 % of all articles are made due and ``tracker.scheduling.claim_due`` (what the tick
  and ``tracker run`` call, ``claim_batch`` 500) runs until they are all leased, then as many
  times again with nothing due, then 20 times with half the articles settled (never claimed,
  their last ``next_check_at`` in the past; the table vacuumed first); the time of each call,
  p50/p95/max, and the query plans (``db.lease.due_rows``). Leases last an hour here, standing
  for the heartbeat that renews them in a service;
- commands: ``tracker list --limit 50`` at offsets 0, half-way and the last page, and ``tracker
  changes --since 1h`` (text and JSON), each a subprocess, median wall of ``--repeat`` runs,
  next to ``tracker --help`` (the interpreter and command-line floor), and the same query and
  rendering timed in this process (no start-up);
- web view: the server time of the article list pages (``bench_web.measure``);
- storage: the database and each table's size (``pg_total_relation_size``) against its rows
  and, for the paragraphs, against the bytes of the distinct paragraph texts.

The 1-hour soak of issue 15 (2 workers, every article every 5 minutes) is not part of it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import text, update  # noqa: E402

from benchmarks.bench_web import bulk_articles, deep_cursor, measure, postgres_database  # noqa: E402
from benchmarks.harness import (  # noqa: E402
    BIN,
    Site,
    bullet_list,
    clean_env,
    command_line,
    machine_info,
    run_measured,
    table,
    write_section,
)
from db.models import Article  # noqa: E402
from tracker.app import App  # noqa: E402
from tracker.articles import add_articles  # noqa: E402
from tracker.config import load_settings  # noqa: E402
from tracker.scheduling import claim_due  # noqa: E402
from tracker.web.server import Address, BackgroundServer  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class Database:
    """The benchmark's PostgreSQL database and the ``tracker`` command run against it."""

    def __init__(self, url: str, home: Path) -> None:
        self.url = url
        # Nothing renews the leases here (no worker holds them): a lease of an hour stands for
        # the heartbeat, so the claims with nothing due find the batches claimed before still
        # held, not run out (claiming 90,000 takes longer than a 30 s lease).
        self.app = App(load_settings(database_url=url, lease_seconds=3600))
        self.env = clean_env(home, TRACKER_DATABASE_URL=url, NO_COLOR="1",
                             TRACKER_ALLOW_NETWORKS="127.0.0.0/8", TRACKER_ALLOWED_PORTS="*",
                             TRACKER_PER_HOST_CONCURRENCY="8", TRACKER_PER_HOST_RATE="0")

    def tracker(self, *args: str, timeout: float = 1800) -> float:
        return run_measured([str(BIN / "tracker"), *args], env=self.env, timeout=timeout).wall

    def scalar(self, sql: str) -> Any:
        with self.app.engine.connect() as connection:
            return connection.execute(text(sql)).scalar()


def fill(db: Database, site: Site, articles: int) -> dict[str, str]:
    served = site.urls()
    add_articles(db.app, served)
    started = time.perf_counter()
    bulk_articles(db.app, len(served), articles - len(served))
    bulk = time.perf_counter() - started
    first = db.tracker("check", "--concurrency", "8", *served)
    changed = site.control("advance", fraction=0.05, seed=15)["advanced"]
    second = db.tracker("check", "--concurrency", "8", *served)
    with db.app.engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    return {
        f"{articles - len(served):,} rows inserted in bulk": f"{bulk:.1f} s",
        f"first sight of the {len(served):,} served articles (`tracker check URL…`)":
            f"{first:.1f} s",
        f"their second pass, {len(changed)} changed": f"{second:.1f} s",
    }  # fmt: skip


def claims(db: Database) -> tuple[list[list[str]], str]:
    """Claim timings with 10 % of the articles due, then with none; and the claim's plan."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with db.app.engine.begin() as connection:
        connection.execute(update(Article).where(Article.id % 10 == 0)
                           .values(next_check_at=past, lease_until=None, lease_token=None))
        connection.execute(text("ANALYZE articles"))
    due = db.scalar("SELECT count(*) FROM articles WHERE next_check_at <= now()")
    rows = []
    for label in (f"{due:,} due, claim_batch 500 (until all are leased)", "nothing due"):
        times, claimed = [], 0
        for _ in range(max(1, -(-due // 500))):
            started = time.perf_counter()
            claimed += len(claim_due(db.app))
            times.append(1000 * (time.perf_counter() - started))
        rows.append([label, str(len(times)), f"{claimed:,}", f"{statistics.median(times):.1f}",
                     f"{percentile(times, 0.95):.1f}", f"{max(times):.1f}",
                     "met" if percentile(times, 0.95) <= 50 else "**not met**"])  # fmt: skip
    plan = explain_claim(db)
    # Settled (and paused) articles are never claimed but keep their last next_check_at, in
    # the past: the claim's index range holds them all.
    with db.app.engine.begin() as connection:
        connection.execute(update(Article).where(Article.id % 2 == 1)
                           .values(state="settled", next_check_at=past))
    # Settling 50,000 at once is the set-up's doing (checks settle a few at a time): the dead
    # rows it leaves are vacuumed before measuring, as autovacuum would, so the figures are
    # those of the steady state rather than of autovacuum running alongside.
    with_vacuum(db, "articles")
    settled = db.scalar("SELECT count(*) FROM articles WHERE state = 'settled'")
    plan += "\n\nWith 50,000 settled articles last due in the past:\n\n" + explain_claim(db)
    times = []
    for _ in range(20):
        started = time.perf_counter()
        claim_due(db.app)
        times.append(1000 * (time.perf_counter() - started))
    rows.append([f"nothing due, {settled:,} settled articles last due in the past", "20", "0",
                 f"{statistics.median(times):.1f}", f"{percentile(times, 0.95):.1f}",
                 f"{max(times):.1f}",
                 "met" if percentile(times, 0.95) <= 50 else "**not met**"])  # fmt: skip
    return rows, plan


def explain_claim(db: Database) -> str:
    """EXPLAIN ANALYZE of the claim's SELECT (``db.lease.due_rows``, as ``claim_due`` runs it)."""
    from db.lease import due_rows
    from tracker.leases import ARTICLES

    statement = due_rows(ARTICLES, dt.datetime.now(dt.UTC), 500)
    compiled = statement.compile(db.app.engine, compile_kwargs={"literal_binds": True})
    with db.app.engine.begin() as connection:
        lines = connection.execute(text(f"EXPLAIN ANALYZE {compiled}")).scalars().all()
        connection.rollback()
    return "\n".join(lines)


def commands(db: Database, articles: int, repeat: int) -> list[list[str]]:
    last = max(0, articles - 50)
    runs = {
        "tracker --help (floor: interpreter and command line)": ["--help"],
        "tracker list --limit 50": ["list", "--limit", "50"],
        "tracker list --limit 50 --format json": ["list", "--limit", "50", "--format", "json"],
        f"tracker list --limit 50 --offset {articles // 2:,}": [
            "list", "--limit", "50", "--offset", str(articles // 2), "--format", "json"],
        f"tracker list --limit 50 --offset {last:,} (last page)": [
            "list", "--limit", "50", "--offset", str(last), "--format", "json"],
        "tracker changes --since 1h": ["changes", "--since", "1h"],
        "tracker changes --since 1h --format json": ["changes", "--since", "1h", "--format",
                                                     "json"],
    }  # fmt: skip
    walls: dict[str, list[float]] = {label: [] for label in runs}
    inside: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(repeat):
        for label, args in runs.items():
            walls[label].append(db.tracker(*args))
            if args != ["--help"]:
                inside[label].append(in_process(db, args))
    rows = []
    for label, values in walls.items():
        wall = statistics.median(values)
        target = "—" if "help" in label else ("met" if wall <= 0.3 else "**not met**")
        query = f"{statistics.median(inside[label]):.3f}" if inside[label] else "—"
        rows.append([label, f"{wall:.3f}", f"{min(values):.3f}", query, target])
    return rows


def in_process(db: Database, args: list[str]) -> float:
    """What the command does once started (its query and rendering, no start-up), timed in
    this process on a warm engine: the part of the wall time that is not the start-up."""
    from rich.console import Console

    from tracker import report
    from tracker.articles import list_articles, parse_since
    from tracker.cli.output import articles_table
    from tracker.terminal import json_text

    started = time.perf_counter()
    as_json = "json" in args
    if args[0] == "list":
        data = list_articles(db.app, limit=50, offset=int(args[4]) if "--offset" in args else 0)
        if as_json:
            json_text(data)
        else:
            Console(file=io.StringIO(), width=100_000).print(articles_table(data["articles"]))
    else:
        entries = report.changes(db.app, parse_since("1h"), None)
        if as_json:
            json_text(report.to_json(entries))
        else:
            report.render_text(entries, color=False)
    return time.perf_counter() - started


def web_lists(db: Database, repeat: int) -> list[list[str]]:
    server = BackgroundServer(db.app, Address("127.0.0.1", 0)).start()
    rows = []
    try:
        with httpx.Client(base_url=server.address.url.rstrip("/"), timeout=120) as client:
            pages = {
                "articles page": "/",
                "articles page 21 (cursor)": f"/?cursor={deep_cursor(client, 20)}",
                "articles tagged": "/?tag=politik",
                "API articles": "/api/v1/articles",
                "recent changes page": "/changes",
            }
            for label, path in pages.items():
                found = measure(client, path, repeat)
                rows.append([label, f"{found['p50']:.1f}", f"{found['p95']:.1f}",
                             f"{found['cold']:.1f}",
                             "met" if found["p95"] < 50 else "**not met**"])  # fmt: skip
    finally:
        server.stop()
    return rows


def storage(db: Database, empty: int) -> tuple[list[list[str]], dict[str, str]]:
    tables = ("articles", "versions", "paragraphs", "checks", "events", "bodies")
    rows = []
    for name in tables:
        size = int(db.scalar(f"SELECT pg_total_relation_size('{name}')"))
        count = int(db.scalar(f"SELECT count(*) FROM {name}"))
        rows.append([name, f"{count:,}", f"{size:,}", f"{size / count:,.0f}" if count else "—"])
    total = int(db.scalar("SELECT pg_database_size(current_database())")) - empty
    # as stored: text, or an edit script or deflated text (db.edits) in delta
    distinct = int(db.scalar("SELECT coalesce(sum(octet_length(text)), 0) + "
                             "coalesce(sum(octet_length(delta)), 0) FROM paragraphs"))
    versions = int(db.scalar("SELECT count(*) FROM versions"))
    # Every served page is the same fixture story and every bulk row shares one paragraph, so
    # the distinct text is tiny here: the ratio to it is bench_storage's measure, not this one's.
    figures = {
        "database growth over an empty migrated one": f"{total:,} bytes",
        "per stored version (whole database ÷ versions)": f"{total / versions:,.0f} bytes",
        "distinct paragraph text as stored (shared by every page here)": f"{distinct:,} bytes",
    }
    return rows, figures


def with_vacuum(db: Database, table: str = "") -> None:
    """VACUUM cannot run in a transaction: on an autocommit connection."""
    with db.app.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"VACUUM ANALYZE {table}"))


def run(args: argparse.Namespace) -> str:
    url, drop = postgres_database()
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    try:
        with tempfile.TemporaryDirectory(prefix="bench_scale-") as home:
            db = Database(url, Path(home))
            db.app.engine  # noqa: B018 - made and migrated here
            empty = int(db.scalar("SELECT pg_database_size(current_database())"))
            with Site(args.served) as site:
                set_up = fill(db, site, args.articles)
            with_vacuum(db)
            storage_rows, storage_figures = storage(db, empty)
            command_rows = commands(db, args.articles, args.repeat)
            web_rows = web_lists(db, args.web_repeat)
            claim_rows, plan = claims(db)
            db.app.close()
    finally:
        drop()
    return report(args, started, set_up, claim_rows, plan, command_rows, web_rows,
                  storage_rows, storage_figures)


def report(args: argparse.Namespace, started: str, set_up: dict[str, str], *tables: Any) -> str:
    claim_rows, plan, command_rows, web_rows, storage_rows, storage_figures = tables
    parts = [
        "## 100,000 articles on PostgreSQL (issue 15, item 5)",
        f"Command: `{command_line()}` (started {started}). {args.articles:,} articles, "
        f"{args.served:,} of them served by the local article server and checked for real, the "
        "rest inserted in bulk; see the docstring of `benchmarks/bench_scale.py`. The 1-hour "
        "soak with 2 workers was not run.",
        "Set-up:", bullet_list(set_up),
        "### The tick's claim (`claim_due`, target p95 ≤ 50 ms)",
        table(["articles", "calls", "claimed", "p50 ms", "p95 ms", "max ms", "verdict"],
              claim_rows),
        "The claim's SELECT (`db.lease.due_rows`), `EXPLAIN ANALYZE` with nothing left due:",
        f"```\n{plan}\n```",
        f"### Commands (median wall of {args.repeat} runs, subprocess; target ≤ 0.3 s)",
        "`in-process s`: the same query and rendering timed inside the benchmark's process (a "
        "warm engine, no interpreter, imports or engine start-up), median of as many runs.",
        table(["command", "median s", "min s", "in-process s", "verdict"], command_rows),
        f"### Web view lists (server time, {args.web_repeat} requests after a cold one)",
        table(["page", "p50 ms", "p95 ms", "cold ms", "p95 < 50 ms"], web_rows),
        "### Storage (after VACUUM ANALYZE)",
        table(["table", "rows", "bytes (with indexes, TOAST)", "bytes per row"], storage_rows),
        bullet_list(storage_figures),
        "Machine:", bullet_list(machine_info()),
    ]
    return "\n\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--served", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--web-repeat", type=int, default=30)
    parser.add_argument("--no-docs", action="store_true", help="print only")
    args = parser.parse_args()
    os.environ["TZ"] = "UTC"
    text_ = run(args)
    print(text_)
    if not args.no_docs:
        write_section("bench_scale", text_)


if __name__ == "__main__":
    main()
