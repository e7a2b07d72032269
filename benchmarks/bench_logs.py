"""Log volume of the Celery service at INFO: bytes and lines per check, for this tree and for
another one (e.g. main before the logging changes), measured the same way.

Run ``.venv/bin/python benchmarks/bench_logs.py [--articles 200] [--rounds 2]
[--compare DIR] [--no-docs]``. ``--compare DIR`` (repeatable) is another source tree of tracker
(e.g. ``mkdir /tmp/main && git archive main | tar -x -C /tmp/main``), run with this venv's
packages and ``PYTHONPATH=DIR``.

Set-up: the article server (harness.Site) in its own process, a fresh PostgreSQL database
``bench_logs_<random>`` (dropped at the end) and Redis database ``--redis-url`` (flushed),
``celery -A workers worker -l INFO -c 2`` and ``celery -A workers beat -l INFO`` with a 0.5 s
tick. The N articles are checked once (first sight), then made due ``--rounds`` times more
(not_modified). Counted: the bytes and lines the worker and the beat wrote from "ready" until
every check of the last round was stored, divided by the checks made meanwhile. Per-minute
summary lines only appear in runs longer than a minute.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (
    ROOT,
    Site,
    bullet_list,
    clean_env,
    command_line,
    machine_info,
    table,
    write_section,
)

POSTGRES = os.environ.get("TRACKER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


class Output:
    """A process whose output is counted (bytes, lines) from a mark on."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path) -> None:
        self.chunks: list[str] = []
        self.process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.chunks.append(line)

    def text(self) -> str:
        return "".join(self.chunks)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self._reader.join(10)


def psql(url: str, sql: str, database: str | None = None) -> str:
    target = url.rsplit("/", 1)[0] + f"/{database}" if database else url
    return subprocess.run(["psql", target, "-Atc", sql], check=True, capture_output=True,
                          text=True, timeout=60).stdout.strip()


def wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def measure(tree: Path, site: Site, args: argparse.Namespace) -> dict[str, float]:
    name = f"bench_logs_{secrets.token_hex(4)}"
    psql(POSTGRES, f'CREATE DATABASE "{name}"')
    database = POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    workers: list[Output] = []
    try:
        with tempfile.TemporaryDirectory() as home:
            env = clean_env(Path(home), PYTHONPATH=str(tree), TRACKER_DATABASE_URL=database,
                            TRACKER_BROKER_URL=args.redis_url, TRACKER_TICK_SECONDS="0.5",
                            TRACKER_ALLOW_NETWORKS="127.0.0.0/8", TRACKER_ALLOWED_PORTS="*",
                            TRACKER_PER_HOST_RATE="0", TRACKER_PER_HOST_CONCURRENCY="8")
            subprocess.run([sys.executable, "-m", "tracker.cli", "migrate"], env=env, cwd=tree,
                           check=True, capture_output=True, timeout=120)
            subprocess.run([sys.executable, "-m", "tracker.cli", "add", "-", "--every", "1d"],
                           env=env, cwd=tree, check=True, capture_output=True, timeout=300,
                           input="\n".join(site.urls()), text=True)
            subprocess.run(["redis-cli", "-u", args.redis_url, "flushdb"], check=True,
                           capture_output=True, timeout=30)
            celery = [sys.executable, "-m", "celery", "-A", "workers"]
            worker = Output([*celery, "worker", "-Q", "fetch,deliver,housekeeping", "-l", "INFO",
                             "-c", "2", "--without-gossip", "--without-mingle"], env, tree)
            workers.append(worker)
            wait(lambda: "ready." in worker.text(), 90, "the worker")
            beat = Output([*celery, "beat", "-l", "INFO", "--schedule",
                           str(Path(home) / "beat")], env, tree)
            workers.append(beat)
            start = len(worker.text()), len(beat.text())
            lines = worker.text().count("\n"), beat.text().count("\n")

            def checks() -> int:
                return int(psql(POSTGRES, "SELECT count(*) FROM checks", name))

            for round_ in range(args.rounds + 1):
                goal = args.articles * (round_ + 1)
                if round_:
                    psql(POSTGRES, "UPDATE articles SET next_check_at = now()", name)
                wait(lambda goal=goal: checks() >= goal, 600, f"round {round_}")
            time.sleep(1)
            made = checks()
            written = len(worker.text()) - start[0] + len(beat.text()) - start[1]
            new_lines = (worker.text().count("\n") - lines[0] + beat.text().count("\n")
                         - lines[1])
            return {"checks": made, "bytes": written, "lines": new_lines,
                    "bytes_per_check": written / made, "lines_per_check": new_lines / made}
    finally:
        for process in workers:
            process.stop()
        psql(POSTGRES, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        subprocess.run(["redis-cli", "-u", args.redis_url, "flushdb"], capture_output=True,
                       timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--compare", type=Path, action="append", default=[],
                        help="another source tree, e.g. main (repeatable)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    trees = [("this tree", ROOT)] + [(f"`{tree.name}`", tree) for tree in args.compare]
    rows, results = [], {}
    with Site(args.articles) as site:
        for label, tree in trees:
            result = measure(tree, site, args)
            results[label] = result
            rows.append([label, f"{result['checks']:.0f}", f"{result['bytes']:,.0f}",
                         f"{result['bytes_per_check']:.0f}", f"{result['lines_per_check']:.2f}"])
            print(label, result, flush=True)
    text = table(["code", "checks", "bytes at INFO", "bytes/check", "lines/check"], rows)
    ours = max(results["this tree"]["bytes_per_check"], 1e-9)
    for label, _ in trees[1:]:
        text += (f"\n\n{label} writes {results[label]['bytes_per_check'] / ours:.0f}× the bytes "
                 "per check of this tree.")
    section = (f"## Log volume of the Celery service at INFO\n\n`{command_line()}`\n\n"
               f"{text}\n\nA check a second at the first figure is "
               f"{results['this tree']['bytes_per_check'] * 86_400 / 1e6:,.2f} MB a day; "
               "on top of it each process that works writes one summary line a minute (about "
               "150 bytes, 0.2 MB a day), whatever the load. The run is shorter than a minute, "
               "so no summary line is in the count. Machine:\n\n" + bullet_list(machine_info()))
    print(section)
    if not args.no_docs:
        write_section("bench_logs", section)


if __name__ == "__main__":
    main()
