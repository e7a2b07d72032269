"""Soak test of the Celery deployment: one hour, every article on a 5-minute interval.

Run ``.venv/bin/python benchmarks/soak.py`` (options: ``--articles N`` (1500), ``--minutes M``
(60), ``--interval S`` (300), ``--sample S`` (30), ``--change-fraction F`` (0.03 of the pages
changed every minute), ``--out DIR`` (soak-out), ``--postgres-url``, ``--redis-url`` (default
``redis://127.0.0.1:6379/12``, flushed before and after), ``--no-docs``; ``--report DIR/soak.json``
only rewrites the markdown and the docs section from a finished run's JSON).

Set-up. ``tests/articleserver.py`` serves N articles in its own process (harness.Site); a
PostgreSQL database of its own (``bench_soak_<random>_1``, dropped at the end) tracks them all
with ``tracker add - --every 5m`` and ``TRACKER_MAX_INTERVAL=300``, so a quiet page stays on a
5-minute interval and a changed one drops to 2.5 minutes and climbs back (±10 % jitter on each
interval, as always). Their first checks are spread uniformly over the first interval, so the
load is steady from the start: N / 300 checks per second. Every minute ``--change-fraction`` of
the pages get a new version (``/_control/advance``). The deployment is the documented one:
``tracker worker --concurrency 2`` (one Celery worker, two prefork pool processes) and ``tracker
beat`` (default settings: 2 s tick, 30 s leases), ``TRACKER_PER_HOST_CONCURRENCY=8`` and
``TRACKER_PER_HOST_RATE=0`` (all pages are on 127.0.0.1).

Measured:

- RSS of the worker's main process and of each pool process (``/proc/<pid>/status`` VmRSS)
  every ``--sample`` seconds; growth = (median of the last three samples) ÷ (the sample at
  10 minutes) − 1. The issue's bound: ≤ 5 %.
- Checks per article per 5-minute window (from ``checks.started_at``, windows counted from the
  start): articles with no check in a full window after the first. With the ±10 % jitter an
  interval may be up to 330 s, so a window can be empty without a check being late; the
  stricter measure is the gap between two consecutive checks of an article: "skipped" means a
  gap over 1.1 × interval + 30 s (a due check not started within 30 s of its latest due time).
- Lag (``checks.lag_ms``: check started − due), p50/p95/max, after the first window.
- Leases: live and stranded (ran out unrenewed) at every sample, and left behind at the end:
  after the beat stops and the queues drain, then after the worker stops (warm shutdown), every
  ``lease_token`` still set on articles, sources and deliveries.

Output: ``DIR/soak.json`` (every sample) and ``DIR/soak.md``, also written to the ``soak``
section of docs/benchmarks.md. The machine is shared: the load average is sampled too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import random
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench_service import (
    POSTGRES_URL,
    Broker,
    Child,
    Databases,
    opened,
    percentile,
    service_env,
    wait_until,
)
from harness import (
    BIN,
    ROOT,
    Site,
    bullet_list,
    command_line,
    machine_info,
    run_measured,
    table,
    write_section,
)

REDIS_URL = "redis://127.0.0.1:6379/12"
LEASED = ("articles", "sources", "deliveries")
WARM = 600.0  # seconds: RSS growth is measured from here
SLACK = 30.0  # seconds a due check may wait before it counts as skipped


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                text = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(text.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return sorted(found)


def worker_processes(root: int) -> dict[str, int]:
    """The Celery worker's main process (``tracker worker`` execs into it) and its pool."""
    processes = {"main": root}
    for n, pid in enumerate(children_of(root), 1):
        processes[f"pool-{n} ({pid})"] = pid
    return processes


def lease_state(store: Any) -> dict[str, dict[str, int]]:
    counts = {}
    for name in LEASED:
        row = store.db.execute(
            f"SELECT count(*) FILTER (WHERE lease_until >= now()), "
            f"count(*) FILTER (WHERE lease_until < now()), count(*) "
            f"FROM {name} WHERE lease_token IS NOT NULL"
        ).fetchone()
        counts[name] = {"live": int(row[0]), "stranded": int(row[1]), "held": int(row[2])}
    return counts


def run(args: argparse.Namespace) -> dict[str, Any]:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    home = out / "home"
    home.mkdir(exist_ok=True)
    data: dict[str, Any] = {
        "command": command_line(), "started": time.strftime("%Y-%m-%d %H:%M %Z"),
        "articles": args.articles, "minutes": args.minutes, "interval": args.interval,
        "machine": machine_info(), "samples": [], "changes": 0, "warm": args.warm,
    }  # fmt: skip
    with (
        Site(args.articles) as site,
        Databases(args.postgres_url, "soak") as dbs,
        Broker(args.redis_url) as broker,
    ):
        url = dbs.create()
        env = service_env(home, url, broker.url, TRACKER_MAX_INTERVAL=str(args.interval),
                          TRACKER_BEAT_SCHEDULE=str(home / "celerybeat-schedule"))
        listing = home / "urls.txt"
        listing.write_text("\n".join(site.urls()) + "\n", encoding="utf-8")
        every = f"{args.interval}s"
        run_measured([str(BIN / "tracker"), "add", "-", "--every", every], env=env,
                     timeout=900, stdin=listing)  # fmt: skip
        with opened(url) as store:
            start = utcnow() + dt.timedelta(seconds=20)
            rng = random.Random(20261206)
            ids = [row[0] for row in store.db.execute("SELECT id FROM articles").fetchall()]
            store.schedule({i: start + dt.timedelta(seconds=rng.uniform(0, args.interval))
                            for i in ids})  # fmt: skip
            worker = Child("worker", [str(BIN / "tracker"), "worker", "--concurrency", "2",
                                      "--loglevel", "WARNING"], env, out)  # fmt: skip
            beat = Child("beat", [str(BIN / "tracker"), "beat", "--loglevel", "WARNING"], env, out)
            data["t0"] = start.isoformat()
            try:
                _sample_loop(args, data, site, store, broker, worker, beat, start)
                data["end"] = utcnow().isoformat()
                beat.stop()
                drained = _drain(store, broker, worker)
                data["after_beat_stopped"] = {"drained": drained, "leases": lease_state(store)}
                worker.stop(timeout=120)
                data["after_worker_stopped"] = {"leases": lease_state(store)}
                data["checks"] = [
                    (article, started.isoformat(), lag, outcome)
                    for article, started, lag, outcome in store.db.execute(
                        "SELECT article_id, started_at, lag_ms, outcome FROM checks "
                        "ORDER BY article_id, started_at"
                    ).fetchall()
                ]  # fmt: skip
                data["worker_log_tail"] = worker.tail(40)
            finally:
                beat.stop()
                worker.stop()
    (out / "soak.json").write_text(json.dumps(data), encoding="utf-8")
    return data


def _sample_loop(
    args: argparse.Namespace, data: dict[str, Any], site: Site, store: Any, broker: Broker,
    worker: Child, beat: Child, start: dt.datetime,
) -> None:  # fmt: skip
    end = start + dt.timedelta(minutes=args.minutes)
    next_change = time.monotonic() + 60
    minute = 0
    while utcnow() < end:
        worker.ensure_alive()
        beat.ensure_alive()
        if time.monotonic() >= next_change:
            minute += 1
            answer = site.control("advance", fraction=args.change_fraction, seed=minute)
            data["changes"] += len(answer.get("advanced", {}))
            next_change += 60
        processes = worker_processes(worker.pid)
        sample = {
            "t": (utcnow() - start).total_seconds(),
            "rss_kb": {name: rss_kb(pid) for name, pid in processes.items()},
            "leases": lease_state(store),
            "queued": broker.waiting(("fetch", "deliver", "housekeeping")),
            "checks": int(store.scalar("SELECT count(*) FROM checks")),
            "load": os.getloadavg()[0],
        }
        data["samples"].append(sample)
        print(json.dumps(sample), file=sys.stderr, flush=True)
        time.sleep(args.sample)


def _drain(store: Any, broker: Broker, worker: Child) -> bool:
    """Wait (at most 120 s) for the queues to empty and the running checks to end."""
    def idle() -> bool:
        leases = lease_state(store)
        return broker.waiting(("fetch", "deliver")) == 0 and all(
            v["live"] == 0 for v in leases.values())

    try:
        wait_until(idle, 120, "the queues to drain", [worker])
    except TimeoutError:
        return False
    return True


# --- analysis ----------------------------------------------------------------------------


def analyse(data: dict[str, Any]) -> dict[str, Any]:
    interval = float(data["interval"])
    t0 = dt.datetime.fromisoformat(data["t0"])
    end = dt.datetime.fromisoformat(data["end"])
    windows = int((end - t0).total_seconds() // interval)
    by_article: dict[int, list[tuple[float, int | None]]] = {}
    outcomes: dict[str, int] = {}
    for article, started, lag, outcome in data["checks"]:
        t = (dt.datetime.fromisoformat(started) - t0).total_seconds()
        if t > (end - t0).total_seconds():
            continue
        by_article.setdefault(article, []).append((t, lag))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    empty_windows = 0
    articles_missing = 0
    gaps: list[float] = []
    lags: list[float] = []
    limit = 1.1 * interval + SLACK
    for checks in by_article.values():
        counts = [0] * windows
        for t, lag in checks:
            w = int(t // interval)
            if 0 <= w < windows:
                counts[w] += 1
            if t >= interval and lag is not None:
                lags.append(lag / 1000)
        missing = sum(1 for c in counts[1:] if c == 0)
        empty_windows += missing
        articles_missing += bool(missing)
        times = [t for t, _ in checks]
        gaps += [b - a for a, b in itertools.pairwise(times)]
    never = data["articles"] - len(by_article)
    samples = data["samples"]
    warm_from = float(data.get("warm", WARM))
    rss: dict[str, dict[str, float]] = {}
    for name in {n for s in samples for n in s["rss_kb"]}:
        series = [(s["t"], s["rss_kb"][name]) for s in samples if s["rss_kb"].get(name)]
        warm = [kb for t, kb in series if t >= warm_from]
        if not warm:
            continue
        last = statistics.median(kb for _, kb in series[-3:])
        rss[name] = {"at_start": series[0][1] / 1024, "at_10min": warm[0] / 1024,
                     "end": last / 1024, "peak": max(kb for _, kb in series) / 1024,
                     "growth": last / warm[0] - 1}  # fmt: skip
    stranded = max((sum(v["stranded"] for v in s["leases"].values()) for s in samples), default=0)
    return {
        "windows": windows, "checks": sum(outcomes.values()), "outcomes": outcomes,
        "never_checked": never, "empty_windows": empty_windows,
        "articles_with_empty_window": articles_missing,
        "gap_limit": limit, "gaps_over_limit": sum(1 for g in gaps if g > limit),
        "max_gap": max(gaps, default=0.0),
        "gap_p50": percentile(gaps, 0.5) if gaps else 0.0,
        "lag_p50": percentile(lags, 0.5) if lags else 0.0,
        "lag_p95": percentile(lags, 0.95) if lags else 0.0,
        "lag_max": max(lags, default=0.0), "rss": rss, "max_stranded_during": stranded,
        "load": [s["load"] for s in samples],
    }  # fmt: skip


def report(data: dict[str, Any]) -> str:
    a = analyse(data)
    n, interval = data["articles"], data["interval"]
    after_beat = data["after_beat_stopped"]
    after_worker = data["after_worker_stopped"]["leases"]
    left = sum(v["held"] for v in after_worker.values())
    rss_rows = [(name, f"{v['at_start']:.1f}", f"{v['at_10min']:.1f}", f"{v['end']:.1f}",
                 f"{v['peak']:.1f}", f"{100 * v['growth']:+.1f} %")
                for name, v in sorted(a["rss"].items())]  # fmt: skip
    loads = a["load"]
    rate = a["checks"] / (a["windows"] * interval) if a["windows"] else 0.0
    worst = max((v["growth"] for v in a["rss"].values()), default=0.0)
    verdicts = [
        f"RSS growth after the first 10 minutes: at most {100 * worst:+.1f} % "
        f"({'within' if worst <= 0.05 else 'OVER'} the 5 % bound).",
        f"Checks skipped (gap over 1.1 × {interval} s + {SLACK:.0f} s = {a['gap_limit']:.0f} s): "
        f"{a['gaps_over_limit']}; longest gap {a['max_gap']:.0f} s (median {a['gap_p50']:.0f} "
        f"s); articles never checked: {a['never_checked']}.",
        f"5-minute windows after the first ({a['windows'] - 1} per article): {a['empty_windows']}"
        f" empty, in {a['articles_with_empty_window']} of {n} articles (the ±10 % jitter alone "
        "can leave one empty).",
        f"Lag (due → started, after the first window): p50 {a['lag_p50']:.2f} s, p95 "
        f"{a['lag_p95']:.2f} s, max {a['lag_max']:.2f} s.",
        f"Leases: at most {a['max_stranded_during']} stranded at any sample; after the beat "
        f"stopped and the queues drained ({'drained' if after_beat['drained'] else 'NOT drained'}"
        f" within 120 s): {_leases(after_beat['leases'])}; after the worker stopped: {left} "
        f"left behind ({_leases(after_worker)}).",
        f"{a['checks']:,} checks in {a['windows']} windows ({rate:.1f} checks/s; target "
        f"{n / interval:.1f}); outcomes: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(a["outcomes"].items()))
        + f"; {data['changes']:,} page changes.",
    ]
    parts = [
        "## Soak: Celery deployment, one hour, every article on a 5-minute interval",
        f"Command: `{data['command']}` ({data['started']}). Script: `benchmarks/soak.py` (its "
        f"docstring has the method). {n:,} articles, `tracker worker --concurrency 2` + `tracker "
        f"beat` (default settings), {data['minutes']} minutes, RSS sampled every "
        f"{data['samples'][1]['t'] - data['samples'][0]['t']:.0f} s.",
        "\n".join(f"- {line}" for line in verdicts),
        "RSS of the worker's processes (MiB):",
        table(("process", "start", "at warm-up end", "end (median of last 3)", "peak",
               "growth since warm-up"), rss_rows),
        f"Load average (1 min) during the run: min {min(loads):.2f}, median "
        f"{statistics.median(loads):.2f}, max {max(loads):.2f} (2 cores shared with other "
        "work).",
        "Machine:",
        bullet_list(data["machine"]),
    ]
    return "\n\n".join(parts) + "\n"


def _leases(counts: dict[str, dict[str, int]]) -> str:
    return ", ".join(f"{k} {v['held']} held ({v['stranded']} stranded)" for k, v in counts.items())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=1500)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--interval", type=int, default=300)
    parser.add_argument("--sample", type=float, default=30.0)
    parser.add_argument("--warm", type=float, default=WARM, help="RSS growth from here (s)")
    parser.add_argument("--change-fraction", type=float, default=0.03)
    parser.add_argument("--out", type=Path, default=ROOT / "soak-out")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--redis-url", default=REDIS_URL, help="flushed before and after")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--report", type=Path, help="a finished run's soak.json: report only")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-ups
    if args.report:
        data = json.loads(args.report.read_text(encoding="utf-8"))
        out = args.report.parent
    else:
        data = run(args)
        out = args.out
    text = report(data)
    (out / "soak.md").write_text(text, encoding="utf-8")
    print(text)
    if not args.no_docs:
        write_section("soak", text)


if __name__ == "__main__":
    main()
