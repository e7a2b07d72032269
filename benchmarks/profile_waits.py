"""Where the all-new pass of ``tracker check --all`` waits: the SQLite write gate, measured.

    .venv/bin/python benchmarks/profile_waits.py [--articles 1000] [--concurrency 8]

bench_check's first-sight pass takes far more wall time than CPU time on two cores, so
something serialises it. This runs that pass (a fresh SQLite database, ``--articles`` pages of
``tests/articleserver.py`` in its own process, ``tracker check --all``) with
``db.sqlite.WriteGate`` instrumented in every process of the pass: for each writer, the time
it waited for the gate, the time it held it, and the CPU time its thread used while holding
it. If the holders spend most of their hold off the CPU (waiting for the GIL that the other
check threads of their process take for extraction, or for the machine), and the gate is held
most of the pass's wall time, the gate is what serialises the pass.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from harness import BIN, Site, clean_env, run_measured

# Runs inside `tracker check`: wraps the gate, then hands over to the command line.
PROBE = r"""
import json, os, sys, threading, time
import db.sqlite as sqlite

stats = {"wait": 0.0, "hold": 0.0, "hold_cpu": 0.0, "writes": 0}
local = threading.local()
acquire, release = sqlite.WriteGate.acquire, sqlite.WriteGate.release
out = os.environ["PROBE_OUT"]

def dump():
    with open(os.path.join(out, f"{os.getpid()}.json"), "w") as f:
        json.dump({**stats, "cpu": time.process_time()}, f)

def timed_acquire(self):
    start = time.perf_counter()
    acquire(self)
    local.start, local.cpu = time.perf_counter(), time.thread_time()
    stats["wait"] += local.start - start

def timed_release(self):
    stats["hold"] += time.perf_counter() - local.start
    stats["hold_cpu"] += time.thread_time() - local.cpu
    stats["writes"] += 1
    release(self)
    if stats["writes"] % 20 == 0:  # forked pool processes end without atexit
        dump()

sqlite.WriteGate.acquire, sqlite.WriteGate.release = timed_acquire, timed_release
sys.argv = ["tracker", *sys.argv[1:]]
from tracker.cli import main
try:
    main()
finally:
    dump()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="profile_waits-") as folder, \
            Site(args.articles) as site:  # fmt: skip
        home, out = Path(folder), Path(folder) / "out"
        out.mkdir()
        env = clean_env(home, TRACKER_DATABASE_URL=f"sqlite:///{home / 'tracker.db'}",
                        TRACKER_ALLOW_NETWORKS="127.0.0.0/8", TRACKER_ALLOWED_PORTS="*",
                        TRACKER_PER_HOST_CONCURRENCY=str(args.concurrency),
                        TRACKER_PER_HOST_RATE="0", PROBE_OUT=str(out))  # fmt: skip
        listing = home / "urls.txt"
        listing.write_text("\n".join(site.urls()) + "\n", encoding="utf-8")
        run_measured([str(BIN / "tracker"), "migrate"], env=env, timeout=300)
        run_measured([str(BIN / "tracker"), "add", "-"], env=env, timeout=300, stdin=listing)
        load = os.getloadavg()[0]
        usage = run_measured([sys.executable, "-c", PROBE, "check", "--all", "--concurrency",
                              str(args.concurrency), "--format", "json"], env=env,
                             timeout=max(300.0, args.articles))  # fmt: skip
        writers = [json.loads(p.read_text()) for p in out.glob("*.json")]
    writers = [w for w in writers if w["writes"] > 10]  # the pass's processes, not the parent
    held = sum(w["hold"] for w in writers)
    print(f"all-new pass of {args.articles} articles: {usage.wall:.1f} s wall, {usage.cpu:.1f} s "
          f"CPU (load average {load:.1f} at the start, {len(os.sched_getaffinity(0))} cores)")
    for w in writers:
        print(f"  process: {w['writes']} writes, waited {w['wait']:.1f} s for the gate (all its "
              f"threads), held it {w['hold']:.1f} s, of which {w['hold_cpu']:.1f} s on the CPU; "
              f"process CPU {w['cpu']:.1f} s")
    print(f"  the gate was held {held:.1f} s of the {usage.wall:.1f} s wall "
          f"({held / usage.wall:.0%}); holders on the CPU "
          f"{sum(w['hold_cpu'] for w in writers) / held:.0%} of their hold")
    print(time.strftime("%Y-%m-%d %H:%M %Z"))


if __name__ == "__main__":
    main()
