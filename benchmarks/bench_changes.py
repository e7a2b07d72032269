"""Reading the changes at 100,000 articles on PostgreSQL, in process (issue 15, targets 2 and
5): ``report.changes(since 1h)`` and its rendering, before and after in one run, on one
database.

    .venv/bin/python benchmarks/bench_changes.py [--before REF] [--articles 100000]

Builds the articles once, in bulk, as ``bench_claim`` does (``bench_web.bulk_articles``: one
version each; ``bench_web.hundred_changes``: 100 articles of three versions, 60 of whose
changes are in the last hour), then times, ``--repeat`` times each and in turn (the order
swapped every round, so that both share the machine's load of the moment), this checkout's
and ``REF``'s (a worktree, its own Python process on the same database: the schema must be
the same) ``report.changes(app, parse_since("1h"))`` followed by ``render_text`` (what
``tracker changes --since 1h`` does after its start-up): wall time, this process's CPU time,
and the statements sent to the database. Both trees' outputs (the text and, untimed,
``to_json``) are compared byte for byte (their SHA-256).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent


def build(articles: int) -> tuple[str, Any]:
    """A PostgreSQL database of ``articles`` bulk articles and the hundred changes."""
    sys.path.insert(0, str(HERE))
    from sqlalchemy import text, update

    import benchmarks.bench_web as bench_web
    from db.models import Article
    from tracker.app import App
    from tracker.config import load_settings

    url, drop = bench_web.postgres_database()
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
    with app.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    app.close()
    return url, drop


def measure(url: str, repeat: int) -> dict[str, Any]:
    """This process's tree (``sys.path[0]``) reading the changes ``repeat`` times."""
    from sqlalchemy import event

    import tracker
    from tracker import report
    from tracker.app import App
    from tracker.config import load_settings
    from tracker.reading import parse_since
    from tracker.terminal import json_text

    app = App(load_settings(database_url=url))
    statements = [0]

    def count(*_: Any) -> None:
        statements[0] += 1

    event.listen(app.engine, "before_cursor_execute", count)
    walls, cpus, counts, digests = [], [], [], set()
    for _ in range(repeat + 1):  # the first warms the connection pool and the imports
        statements[0] = 0
        started, cpu = time.perf_counter(), time.process_time()
        entries = report.changes(app, parse_since("1h"), None)
        text_ = report.render_text(entries, color=False)
        walls.append(1000 * (time.perf_counter() - started))
        cpus.append(1000 * (time.process_time() - cpu))
        counts.append(statements[0])
        text_ += json_text(report.to_json(entries))  # compared, not timed
        digests.add(hashlib.sha256(text_.encode()).hexdigest())
    app.close()
    assert Path(tracker.__file__).is_relative_to(sys.path[0]), (tracker.__file__, sys.path[0])
    return {"wall": walls[1:], "cpu": cpus[1:], "statements": counts[1:],
            "changes": len(entries), "digests": sorted(digests)}


def run_tree(code: Path, url: str, repeat: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(code), "TZ": "UTC"}
    done = subprocess.run([sys.executable, str(HERE / "benchmarks" / "bench_changes.py"),
                           "--measure", url, "--code", str(code), "--repeat", str(repeat)],
                          env=env, check=True, capture_output=True, text=True, cwd=code)
    return dict(json.loads(done.stdout.splitlines()[-1]))


def render(args: argparse.Namespace, runs: dict[str, dict[str, list[Any]]], loads: list[str],
           started: str, build_s: float) -> str:
    sys.path.insert(0, str(HERE))
    from benchmarks.harness import bullet_list, command_line, machine_info, table

    names = list(runs)
    rows = []
    for kind, label in (("wall", "wall (ms)"), ("cpu", "CPU (ms)"),
                        ("statements", "statements")):
        cells = [label] + [f"{statistics.median(runs[n][kind]):.1f}" for n in names]
        if len(names) == 2:
            old, new = (statistics.median(runs[n][kind]) for n in names)
            cells.append(f"{new / old:.2f} ×" if old else "—")
        rows.append(cells)
    headers = ["changes --since 1h, in process (median)", *names]
    if len(names) == 2:
        headers.append("after ÷ before")
    digests = {n: runs[n]["digests"] for n in names}
    same = len({digest for found in digests.values() for digest in found}) == 1
    shown = {n: sorted({d[:12] for d in found}) for n, found in digests.items()}
    changes = {n: runs[n]["changes"][0] for n in names}
    parts = [
        "## Reading the changes at 100,000 articles (issue 15, targets 2 and 5; stream report)",
        f"Command: `{command_line()}` (started {started}; load average {' → '.join(loads)}). "
        f"{args.articles:,} articles in bulk on PostgreSQL plus 100 of three versions, "
        f"{changes[names[-1]]} changes in the last hour (built in {build_s:.0f} s); see the "
        "docstring of `benchmarks/bench_changes.py`. `report.changes(since 1h)` and "
        f"`render_text` in process (without the command's start-up), {args.repeat} times per "
        f"tree per round, {args.rounds} rounds, the trees in turn on one database. `CPU`: this "
        "process's (the Python side, the least sensitive to the load); `statements`: those "
        "sent to the database per read. Target ≤ 300 ms for the command.",
        table(headers, rows),
        "Output (text and JSON) byte-identical across trees and repeats: "
        + ("**yes**" if same else f"**no**: {shown}"),
        "Machine:", bullet_list(machine_info()),
    ]
    return "\n\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--before", metavar="REF", help="also measure this commit")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    parser.add_argument("--measure", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--code", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["TZ"] = "UTC"
    if args.measure:
        sys.path.insert(0, args.code)
        print(json.dumps(measure(args.measure, args.repeat)))
        return
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    loads = [f"{os.getloadavg()[0]:.1f}"]
    began = time.perf_counter()
    url, drop = build(args.articles)
    build_s = time.perf_counter() - began
    loads.append(f"{os.getloadavg()[0]:.1f}")
    folder = Path(tempfile.mkdtemp(prefix="bench_changes-before-")) if args.before else None
    old, new = f"before ({args.before})", "after" if args.before else "this checkout"
    trees = {new: HERE}
    runs: dict[str, dict[str, list[Any]]] = {}
    try:
        if folder is not None:
            subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", str(folder),
                            str(args.before)], check=True, capture_output=True)
            trees = {old: folder, new: HERE}
        for round_ in range(args.rounds):
            names = list(trees) if round_ % 2 == 0 else list(reversed(trees))
            for name in names:
                found = run_tree(trees[name], url, args.repeat)
                for key, value in found.items():
                    runs.setdefault(name, {}).setdefault(key, []).extend(
                        value if isinstance(value, list) else [value])
                loads.append(f"{os.getloadavg()[0]:.1f}")
    finally:
        if folder is not None:
            subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force",
                            str(folder)], check=False, capture_output=True)
        drop()
    runs = {name: runs[name] for name in trees}
    text_ = render(args, runs, loads, started, build_s)
    print(text_)
    if not args.no_docs:
        from benchmarks.harness import write_section

        write_section("bench_changes", text_)


if __name__ == "__main__":
    main()
