"""Reading the changes at 100,000 articles on PostgreSQL and 1,000 on SQLite, in process
(issue 15, targets 2 and 5): ``report.changes(since 1h)`` and its rendering, before and after
in one run, on the same databases.

    .venv/bin/python benchmarks/bench_changes.py [--before REF] [--articles 100000]

Builds the databases once, in bulk, as ``bench_claim`` does (``bench_web.bulk_articles``: one
version each; ``bench_web.hundred_changes``: 100 articles of three versions, 60 of whose
changes are in the last hour): ``--articles`` on PostgreSQL, 1,000 in a SQLite file. Then
runs this checkout and ``REF`` (a worktree; each its own Python process on the same databases:
the schema must be the same) in turn, ``--rounds`` times, the order swapped every round so
that both share the machine's load of the moment. Each times, ``--repeat`` times after one
warm-up, ``report.changes`` followed by ``render_text`` (what ``tracker changes --since 1h``
does after its start-up) in three cases: on PostgreSQL; on SQLite through stdlib ``sqlite3``
(a new ``App``, as the command); on SQLite through an open engine, only the (article, number)
pairs found (what ``tracker check --report`` reads back after its pass). Wall time, this
process's CPU time and the statements sent through SQLAlchemy; both trees' outputs (the text
and, untimed, ``to_json``) are compared byte for byte (their SHA-256).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent


def build(url: str, articles: int) -> None:
    """``articles`` bulk articles and the hundred changes in the database of ``url``."""
    sys.path.insert(0, str(HERE))
    from sqlalchemy import text, update

    import benchmarks.bench_web as bench_web
    from db.models import Article
    from tracker.app import App
    from tracker.config import load_settings

    app = App(load_settings(database_url=url))
    app.engine  # noqa: B018 - made and migrated here
    bench_web.NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    bench_web.bulk_articles(app, 0, articles)
    # 100 more articles with two versions each, their second spread over the last 100
    # minutes: `changes --since 1h` finds 60.
    bench_web.NOW = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=80)
    bench_web.hundred_changes(app)
    with app.engine.begin() as connection:
        connection.execute(update(Article).where(Article.id > articles).values(
            next_check_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)))
    analyze = "VACUUM ANALYZE" if url.startswith("postgresql") else "ANALYZE"
    with app.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(analyze))
    app.close()


# What each tree measures: (label, database, the engine open first, only the pairs found).
CASES = (
    ("changes --since 1h, PostgreSQL", "postgresql", True, False),
    ("changes --since 1h, SQLite (stdlib sqlite3)", "sqlite", False, False),
    ("check --report read-back, SQLite (engine open)", "sqlite", True, True),
)


def measure(urls: dict[str, str], repeat: int) -> dict[str, Any]:
    """This process's tree (``sys.path[0]``) reading the changes ``repeat`` times per case."""
    import tracker

    assert Path(tracker.__file__).is_relative_to(sys.path[0]), (tracker.__file__, sys.path[0])
    return {label: measure_case(urls[database], engine, only, repeat)
            for label, database, engine, only in CASES}  # fmt: skip


def measure_case(url: str, engine: bool, only: bool, repeat: int) -> dict[str, Any]:
    from tracker import report
    from tracker.app import App
    from tracker.config import load_settings
    from tracker.reading import changes_since, parse_since
    from tracker.terminal import json_text

    app = App(load_settings(database_url=url))
    statements = [0]
    if engine:  # as `tracker check --report` reads back: through the pass's engine
        from sqlalchemy import event

        def count(*_: Any) -> None:
            statements[0] += 1

        event.listen(app.engine, "before_cursor_execute", count)
    pairs = {(c.version.article_id, c.version.number)
             for c in changes_since(app, parse_since("1h"))} if only else None  # fmt: skip
    walls, cpus, counts, digests = [], [], [], set()
    for _ in range(repeat + 1):  # the first warms the connection pool and the imports
        statements[0] = 0
        started, cpu = time.perf_counter(), time.process_time()
        entries = report.changes(app, parse_since("1h"), None, pairs)
        text_ = report.render_text(entries, color=False)
        walls.append(1000 * (time.perf_counter() - started))
        cpus.append(1000 * (time.process_time() - cpu))
        counts.append(statements[0] if engine else None)
        text_ += json_text(report.to_json(entries))  # compared, not timed
        digests.add(hashlib.sha256(text_.encode()).hexdigest())
    app.close()
    return {"wall": walls[1:], "cpu": cpus[1:], "statements": counts[1:],
            "changes": [len(entries)], "digests": sorted(digests)}


def run_tree(code: Path, urls: dict[str, str], repeat: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(code), "TZ": "UTC"}
    done = subprocess.run([sys.executable, str(HERE / "benchmarks" / "bench_changes.py"),
                           "--measure", json.dumps(urls), "--code", str(code),
                           "--repeat", str(repeat)],
                          env=env, check=True, capture_output=True, text=True, cwd=code)
    return dict(json.loads(done.stdout.splitlines()[-1]))


Runs = dict[str, dict[str, dict[str, list[Any]]]]  # tree → case → measure → samples


def render(args: argparse.Namespace, runs: Runs, loads: list[str], started: str,
           build_s: float) -> str:
    sys.path.insert(0, str(HERE))
    from benchmarks.harness import bullet_list, command_line, machine_info, table

    names = list(runs)
    rows = []
    for label, *_ in CASES:
        for kind in ("wall", "cpu", "statements"):
            found = [[v for v in runs[n][label][kind] if v is not None] for n in names]
            if not all(found):
                continue
            medians = [statistics.median(values) for values in found]
            cells = [f"{label}: {kind}", *(f"{m:.1f}" for m in medians)]
            if len(names) == 2:
                cells.append(f"{medians[1] / medians[0]:.2f} ×" if medians[0] else "—")
            rows.append(cells)
    headers = ["read (median; ms, statements per read)", *names]
    if len(names) == 2:
        headers.append("after ÷ before")
    verdicts = []
    for label, *_ in CASES:
        digests = {n: runs[n][label]["digests"] for n in names}
        same = len({digest for found in digests.values() for digest in found}) == 1
        shown = {n: sorted({d[:12] for d in found}) for n, found in digests.items()}
        changes = sorted({c for n in names for c in runs[n][label]["changes"]})
        verdicts.append(f"{label}: {changes} changes, output "
                        + ("**byte-identical**" if same else f"**differs**: {shown}"))
    parts = [
        "## Reading the changes (issue 15, targets 2 and 5; stream report)",
        f"Command: `{command_line()}` (started {started}; load average {' → '.join(loads)}). "
        f"{args.articles:,} articles in bulk on PostgreSQL, 1,000 in a SQLite file, each "
        "plus 100 of three versions: 60 changes in the last hour (built in "
        f"{build_s:.0f} s); see the docstring of `benchmarks/bench_changes.py`. "
        "`report.changes(since 1h)` and `render_text` in process (without the command's "
        f"start-up), {args.repeat} times per case, tree and round, {args.rounds} rounds, the "
        "trees in turn on the same databases. `cpu`: this process's (the Python side, the "
        "least sensitive to the load); `statements`: those sent through SQLAlchemy per read "
        "(the stdlib sqlite3 path is not counted). The read-back is what `tracker check "
        "--report` does after its pass (only the pairs the pass stored, through the pass's "
        "engine). Target ≤ 300 ms for the command.",
        table(headers, rows),
        "Outputs (the text and, untimed, the JSON) compared across trees and repeats by "
        "SHA-256:",
        "\n".join(f"- {line}" for line in verdicts),
        "Machine:", bullet_list(machine_info()),
    ]
    return "\n\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=100_000, help="on PostgreSQL")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--before", metavar="REF", help="also measure this commit")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    parser.add_argument("--measure", metavar="URLS", help=argparse.SUPPRESS)
    parser.add_argument("--code", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["TZ"] = "UTC"
    if args.measure:
        sys.path.insert(0, args.code)
        print(json.dumps(measure(json.loads(args.measure), args.repeat)))
        return
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    loads = [f"{os.getloadavg()[0]:.1f}"]
    sys.path.insert(0, str(HERE))
    import benchmarks.bench_web as bench_web

    home = Path(tempfile.mkdtemp(prefix="bench_changes-"))
    postgres, drop = bench_web.postgres_database()
    urls = {"postgresql": postgres, "sqlite": f"sqlite:///{home / 'tracker.db'}"}
    folder = home / "before"
    old, new = f"before ({args.before})", "after" if args.before else "this checkout"
    trees = {new: HERE}
    runs: Runs = {}
    try:
        began = time.perf_counter()
        build(urls["postgresql"], args.articles)
        build(urls["sqlite"], 1000)
        build_s = time.perf_counter() - began
        loads.append(f"{os.getloadavg()[0]:.1f}")
        if args.before:
            subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", str(folder),
                            str(args.before)], check=True, capture_output=True)
            trees = {old: folder, new: HERE}
        for round_ in range(args.rounds):
            for name in list(trees) if round_ % 2 == 0 else list(reversed(trees)):
                for label, found in run_tree(trees[name], urls, args.repeat).items():
                    case = runs.setdefault(name, {}).setdefault(label, {})
                    for key, values in found.items():
                        case.setdefault(key, []).extend(values)
                loads.append(f"{os.getloadavg()[0]:.1f}")
    finally:
        if args.before:
            subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force",
                            str(folder)], check=False, capture_output=True)
        drop()
        shutil.rmtree(home, ignore_errors=True)
    runs = {name: runs[name] for name in trees}
    text_ = render(args, runs, loads, started, build_s)
    print(text_)
    if not args.no_docs:
        from benchmarks.harness import write_section

        write_section("bench_changes", text_)


if __name__ == "__main__":
    main()
