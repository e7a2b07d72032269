"""What a first-sight version's store costs the parent of ``tracker check --all``, against the
floor of the same SQL run by stdlib ``sqlite3`` (issue 15, target 1).

In one process, on a fresh SQLite database of ``--articles`` pages of the local news site:
every article is checked up to its store and kept (``check_target(..., stores=...)``, as a
forked process keeps it for the parent); then each kept check is stored by ``store_kept`` while
the engine's ``before_cursor_execute`` records every statement the driver receives (its SQL and
its parameters, already converted by SQLAlchemy); then those statements run again with
``sqlite3`` on a copy of the database taken before the stores, in one ``BEGIN IMMEDIATE`` …
``COMMIT`` per check. Both are timed with ``time.thread_time``. The replay leaves out what a
store on ``sqlite3`` would still do in Python (decide, build and convert the values, the write
gate's ``flock``), so the gap is an upper bound of what such a store saves::

    python benchmarks/store_floor.py --articles 300 [--tree DIR]

Since stream sight (issue 15, fifth session) a first version on SQLite is stored on the driver
itself (``db.firststore``): SQLAlchemy sees none of its statements, so for such a tree the
capture is empty, the replay times empty transactions, and only the ``store_kept`` figure
means anything (its listener no longer slows that path, as it does the SQLAlchemy one).

``--tree``: a source tree of tracker to measure instead of this one (on ``sys.path`` first).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import BIN, Site, clean_env, run_measured

Captured = list[tuple[str, Any, bool]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--tree", type=Path, default=None)
    args = parser.parse_args()
    if args.tree is not None:
        sys.path.insert(0, str(args.tree.resolve()))
    with Site(args.articles) as site, tempfile.TemporaryDirectory(prefix="store_floor-") as tmp:
        database = Path(tmp) / "tracker.db"
        _prepare(site, Path(tmp), database)
        orm, statements = _store_kept(args.articles, database, Path(tmp) / "copy.db")
        raw = _replay(Path(tmp) / "copy.db", statements)
    print(f"{len(orm)} first-sight stores, {statistics.median(len(s) for s in statements)} "
          f"statements each (load {os.getloadavg()[0]:.1f}); thread CPU per store, median "
          f"(mean): store_kept {_ms(orm)}, the same SQL by sqlite3 {_ms(raw)}")


def _prepare(site: Site, home: Path, database: Path) -> None:
    env = clean_env(home, TRACKER_DATABASE_URL=f"sqlite:///{database}")
    (home / "urls.txt").write_text("\n".join(site.urls()) + "\n", encoding="utf-8")
    run_measured([str(BIN / "tracker"), "migrate"], env=env, timeout=300)
    run_measured([str(BIN / "tracker"), "add", "-"], env=env, timeout=300,
                 stdin=home / "urls.txt")
    os.environ.update(TRACKER_DATABASE_URL=f"sqlite:///{database}", TRACKER_PER_HOST_RATE="0",
                      TRACKER_ALLOW_NETWORKS="127.0.0.0/8", TRACKER_ALLOWED_PORTS="*")


def _store_kept(n: int, database: Path, copy: Path) -> tuple[list[float], list[Captured]]:
    """Thread CPU of each ``store_kept`` and the statements each sent to the driver."""
    from sqlalchemy import event

    from tracker.app import App
    from tracker.check import KeptStores, check_target, load_targets, store_kept
    from tracker.config import load_settings

    app = App(load_settings())
    stores = KeptStores()
    for target in load_targets(app, list(range(1, n + 1))).values():
        check_target(app, target, stores=stores)
    shutil.copy(database, copy)
    statements: list[Captured] = []

    def capture(_conn: Any, _cursor: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
        statements[-1].append((sql, params, many))

    event.listen(app.writer.kw["bind"], "before_cursor_execute", capture)
    cpu = []
    for kept in stores.take():
        statements.append([])
        started = time.thread_time()
        result = store_kept(app, kept)
        cpu.append(time.thread_time() - started)
        assert result.outcome == "first_seen", result
    app.close()
    return cpu, statements


def _replay(copy: Path, statements: list[Captured]) -> list[float]:
    """Thread CPU of each check's statements run by sqlite3 in a transaction of their own."""
    connection = sqlite3.connect(copy, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        connection.execute(f"PRAGMA {pragma}")
    cpu = []
    for group in statements:
        started = time.thread_time()
        connection.execute("BEGIN IMMEDIATE")
        for sql, params, many in group:
            if sql.startswith("BEGIN"):
                continue
            if many:
                connection.executemany(sql, params)
            else:
                connection.execute(sql, params).fetchall()
        connection.execute("COMMIT")
        cpu.append(time.thread_time() - started)
    connection.close()
    return cpu


def _ms(seconds: list[float]) -> str:
    return f"{1000 * statistics.median(seconds):.3f} ms ({1000 * statistics.mean(seconds):.3f})"


if __name__ == "__main__":
    main()
