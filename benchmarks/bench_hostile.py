"""One ``tracker check`` (a real process) against each hostile response of a fixed catalogue
served on 127.0.0.1 (``tests/hostile.py``): compression bombs, dripping heads and bodies, an
endless body, a 1.9 MB paragraph, 100,000 levels of nesting, header garbage, huge headers,
broken redirects, lying Content-Types. For each: the process's peak RSS (``wait4``), its wall
time, and the check's own duration as recorded (``checks.duration_ms``: from the start of the
check to its stored outcome, without the interpreter's start-up), with the outcome.

Targets (issue 9): every peak RSS under 300 MiB; every check under the configured
``fetch_deadline`` + 1 s. The huge paragraph is checked twice (a first version, then an edit),
so that the second check diffs two 1.9 MB paragraphs.

    .venv/bin/python benchmarks/bench_hostile.py [--deadline 10] [--only gzip-gzip-bomb,...]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from harness import (
    ROOT,
    bullet_list,
    clean_env,
    command_line,
    machine_info,
    package_versions,
    table,
    write_section,
)

sys.path.insert(0, str(ROOT))  # the hostile server lives with the tests
from tests import hostile
from tests.hostile import Answer, HostileServer

RSS_LIMIT_MIB = 300
TRACKER = [sys.executable, "-m", "tracker.cli"]


@dataclass(frozen=True, slots=True)
class Measured:
    case: str
    outcome: str
    error: str
    rss_mib: float
    wall: float
    check: float  # seconds, as recorded by the check itself


def changing_paragraph(size: int = 1_900_000) -> hostile.Script:
    """A huge paragraph, edited between the first request and the later ones."""
    served = [0]

    def script(answer: Answer) -> None:
        served[0] += 1
        words = (b"Wort " * (size // 5))
        if served[0] > 1:
            words = words.replace(b"Wort Wort Wort", b"Wort Satz Wort", 20_000)
        body = b"<html><body><article><h1>Lang</h1><p>" + words + b"</p></article></body></html>"
        hostile.html(body)(answer)

    return script


def run(command: list[str], env: dict[str, str], timeout: float) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit status) of one child, measured with wait4."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    watchdog = threading.Timer(timeout, process.kill)
    watchdog.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        watchdog.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, process.returncode


def last_check(db: Path) -> tuple[str, str, float]:
    with sqlite3.connect(db) as connection:
        row = connection.execute(
            "select outcome, coalesce(error, ''), duration_ms from checks order by id desc limit 1"
        ).fetchone()
    return (row[0], row[1], row[2] / 1000) if row else ("none", "no check recorded", 0.0)


def measure(case: str, script: hostile.Script, deadline: float, checks: int = 1) -> Measured:
    with tempfile.TemporaryDirectory() as tmp, HostileServer() as server:
        home = Path(tmp)
        db = home / "t.db"
        env = clean_env(home, TRACKER_DATABASE_URL=f"sqlite:///{db}", NO_COLOR="1",
                        TRACKER_ALLOW_NETWORKS="127.0.0.0/8", TRACKER_ALLOWED_PORTS="*",
                        TRACKER_PER_HOST_RATE="0", TRACKER_FETCH_DEADLINE=f"{deadline:g}")
        url = server.route("/news/a", script)
        # A database other than the default one is made by `tracker migrate` only.
        for command in (["migrate"], ["add", url]):
            subprocess.run([*TRACKER, *command], env=env, cwd=ROOT, check=True,
                           capture_output=True, timeout=120)
        for _ in range(checks):
            wall, rss, _ = run([*TRACKER, "check", url], env, timeout=deadline * 6 + 60)
        outcome, error, took = last_check(db)
    return Measured(case, outcome, error, rss, wall, took)


def catalogue() -> dict[str, tuple[hostile.Script, int]]:
    cases = {name: (make(), 1) for name, make in hostile.CATALOGUE.items()
             if name != "huge-paragraph"}
    cases["huge-paragraph"] = (changing_paragraph(), 2)
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deadline", type=float, default=10.0, help="fetch_deadline, seconds")
    parser.add_argument("--only", default="", help="comma-separated case names")
    parser.add_argument("--no-write", action="store_true", help="print, do not update the docs")
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    machine = machine_info()
    wanted = {c for c in args.only.split(",") if c}
    results = []
    for case, (script, checks) in catalogue().items():
        if wanted and case not in wanted:
            continue
        result = measure(case, script, args.deadline, checks)
        results.append(result)
        print(f"{case:20} {result.outcome:10} rss {result.rss_mib:7.1f} MiB  wall "
              f"{result.wall:5.1f} s  check {result.check:5.2f} s  {result.error[:70]}",
              flush=True)
    rows = []
    for r in results:
        ok = r.rss_mib < RSS_LIMIT_MIB and r.check < args.deadline + 1
        rows.append([r.case, r.outcome, f"{r.rss_mib:.0f}", f"{r.wall:.1f}", f"{r.check:.2f}",
                     "yes" if ok else "**no**", _cell(r.error)])
    text = "\n\n".join([
        "## Hostile responses: one `tracker check` each",
        f"Each row is one `tracker check URL` process against one response of the catalogue in "
        f"`tests/hostile.py`, served on 127.0.0.1, with `fetch_deadline` = {args.deadline:g} s "
        f"and every other setting at its default (10 MiB body cap). Peak RSS of the process "
        f"(`wait4`), its wall time (including about a second of interpreter start-up and "
        f"imports), and the check's own duration as stored in `checks.duration_ms`. Targets: "
        f"under {RSS_LIMIT_MIB} MiB, and the check under the deadline + 1 s. The huge "
        "paragraph is checked twice (the second check diffs an edit of it); its row is the "
        "second check, and it measures the aligner (issue 9 item 2), which the `align` branch "
        "bounds: on a branch without that fix it is expected outside the targets.",
        table(["case", "outcome", "peak RSS MiB", "wall s", "check s", "within targets",
               "recorded error"], rows),
        f"Command: `{command_line()}`, started {started}.",
        "Machine:\n" + bullet_list(machine),
        "Versions:\n" + bullet_list(package_versions(["httpx", "h11", "trafilatura", "lxml"])),
    ])
    if not args.no_write:
        write_section("bench_hostile", text)
    print(text)


def _cell(text: str) -> str:
    short = text if len(text) <= 90 else text[:89] + "…"
    return short.replace("|", "\\|").replace("\n", " ") or "—"


if __name__ == "__main__":
    main()
