"""Benchmark of ``tracker check --all`` against urlwatch 2.29 on a local news site.

Run ``.venv/bin/python benchmarks/bench_check.py`` (options: ``--articles N`` (1000),
``--repeat R`` (1), ``--skip-urlwatch``, ``--no-docs``, ``--profile DIR``, ``--before DIR|COMMIT``,
``--design redesign``: pages that declare no body, read by the generic path). A quick
smoke run:
``--articles 50 --skip-urlwatch --no-docs``. It prints markdown tables and writes them, with
the command line and machine info, to its section of docs/benchmarks.md.

Set-up. ``tests/articleserver.py`` serves article-0000 … article-<N-1> (the story_de fixture,
~9 KB HTML pages with an advert and a clock that change on every request) in its own process,
so the client under test has the GIL to itself. All articles are on one host, 127.0.0.1, so
the per-host limit is the binding one: tracker runs with TRACKER_PER_HOST_CONCURRENCY=8,
TRACKER_PER_HOST_RATE=0 (no request rate: see bench_politeness.py for that) and
``--concurrency 8``, on a fresh SQLite database in a temporary directory, with the default
raw-body retention (bodies of new versions are stored). Each pass is one ``tracker check --all
--report`` subprocess (the pass and the report of the changes it found, what a cron job runs),
measured from outside with ``wait4``: wall time, CPU user+sys, peak RSS.

Passes, in this order, on the same database (the order keeps both tools' validators fresh for
the conditional passes):

1. all new: first sight of every article;
2. unchanged, conditional GET: the server answers 304 to every request;
3. 10% changed: ``POST /_control/advance?fraction=0.1&seed=…`` before the pass;
4. 100% changed: every article advanced; gives the cost of a changed page directly;
5. unchanged, no validators: conditional GET off on the server, so every page is downloaded
   and, its bytes differing (rotating advert), extracted and compared;
6. unchanged, identical bytes: mode ``static-body`` for every article (the control API sets
   modes per article, so that is one request per article) and conditional GET still off; an
   untimed pass first stores the static bodies' digests.

"CPU ms/check" is the child's user+sys CPU divided by N; "net" subtracts the CPU of the same
command on an empty database (interpreter start, imports, schema check: a fixed cost per
process that the long-running ``tracker run`` pays once). trafilatura's own time is measured
in this process on a seeded sample of the pages served in the 100%-changed pass.

urlwatch 2.29 runs the same passes with a urls.yaml of N jobs ``url: …`` with
``filter: [css: article, html2text]`` (html2text's default method, ``re``: a regex tag
stripper), every reporter disabled (``report.stdout.enabled: false``; the others are off by
default) and its own config, cache (minidb/SQLite), hooks and HOME in a temporary directory.
Its concurrency is not configurable in 2.29: ``urlwatch/worker.py`` runs every job in a
``ThreadPoolExecutor(max_workers=MAX_WORKERS)`` with the module constant ``MAX_WORKERS = 10``;
the launcher sets it to 8 before ``urlwatch.cli.main()`` for a like-for-like comparison
(``--urlwatch-workers``). urlwatch fetches with ``requests.request`` (a new connection per
job) and sends If-None-Match/If-Modified-Since from its cache. The two tools alternate within
each pass (and swap the order every other pass and repeat) on the same server state.

With ``--profile DIR`` tracker runs under ``benchmarks/profiled.py`` (cProfile in every
thread; in one process, ``TRACKER_PROCESSES=1``, since the profiler does not follow the
processes a large pass would fork), urlwatch is skipped, DIR/<pass>.prof is kept for each
pass and the hotspots are printed; the timings of that run are inflated by the profiler and
are not written to the docs.

With ``--before DIR`` (a source tree of tracker, e.g. ``git archive COMMIT | tar -x -C DIR``)
or ``--before COMMIT`` (extracted with ``git archive`` into the run's temporary directory)
that tree runs as a third tool, "tracker-before" (the same venv, DIR first on PYTHONPATH, its
own database), alternating with this tree and urlwatch in every pass on the same server state;
a table of after ÷ before ratios is added.

Bytecode. Before measuring, ``tracker/`` and ``db/`` of each tree measured are compiled
(``compileall``), as ``pip install`` does for an installed package and as urlwatch's are: an
editable checkout run with ``PYTHONDONTWRITEBYTECODE=1`` (set on these machines) compiles every
module of tracker from source in every command, about 0.08 s of CPU per command that no
installed tracker pays (measured 2026-12-06: the empty-database command 0.742 → 0.658 s CPU,
five runs each, load 10).
"""

from __future__ import annotations

import argparse
import compileall
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bench_startup import extract_commit
from harness import (
    BIN,
    ROOT,
    Site,
    Usage,
    bullet_list,
    clean_env,
    command_line,
    machine_info,
    median,
    package_versions,
    run_measured,
    table,
    write_section,
)

SEED = 20240619
TOOLS = ("tracker", "tracker-before", "urlwatch")
SAMPLE = 100  # pages for the in-process extraction timing
ROUNDS = 3
PROFILED = Path(__file__).with_name("profiled.py")
URLWATCH_LAUNCHER = (
    "import sys, urlwatch.worker; urlwatch.worker.MAX_WORKERS = int(sys.argv.pop(1)); "
    "from urlwatch.cli import main; main()"
)
# tracker.extract.generic calls trafilatura with these options; keep them in step.
TRAFILATURA_OPTIONS = {
    "include_images": False, "include_comments": False, "include_tables": True,
    "with_metadata": False, "deduplicate": False,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Pass:
    key: str
    title: str
    conditional: bool = True  # the server's ETag/Last-Modified/304 switch
    advance: float = 0.0  # share of the articles moved to their next version first
    static: bool = False  # identical bytes on every request
    warmup: bool = False  # an untimed pass first


PASSES = (
    Pass("all_new", "all new (first sight)"),
    Pass("not_modified", "unchanged, conditional GET (304)"),
    Pass("changed_10", "10% changed", advance=0.1),
    Pass("changed_all", "100% changed", advance=1.0),
    Pass("no_validators", "unchanged, no validators (200, bytes differ)", conditional=False),
    Pass(
        "same_bytes",
        "unchanged, identical bytes (200)",
        conditional=False,
        static=True,
        warmup=True,
    ),
)


class Tool(Protocol):
    name: str

    def prepare(self, urls: list[str]) -> None: ...

    def run(self, label: str, timeout: float) -> Usage: ...

    def baseline(self, timeout: float) -> Usage: ...

    def outcomes(self, usage: Usage) -> str: ...


class Tracker:
    name = "tracker"

    def __init__(
        self, home: Path, concurrency: int, profile_dir: Path | None = None,
        code: Path | None = None,
    ) -> None:
        """``code``: a source tree of tracker to run instead of this one (``--before``)."""
        home.mkdir(parents=True)
        self.home, self.concurrency, self.profile_dir = home, concurrency, profile_dir
        self.code = code
        if code is not None:
            self.name = "tracker-before"
        self.env = self._env(home / "tracker.db")
        if profile_dir:  # the profiler sees one process: keep the pass in it, unforked
            self.env["TRACKER_PROCESSES"] = "1"

    def _env(self, database: Path) -> dict[str, str]:
        extra = {"PYTHONPATH": str(self.code)} if self.code is not None else {}
        return clean_env(
            self.home, **extra,
            TRACKER_DATABASE_URL=f"sqlite:///{database}",
            TRACKER_ALLOW_NETWORKS="127.0.0.0/8", TRACKER_ALLOWED_PORTS="*",
            TRACKER_PER_HOST_CONCURRENCY=str(self.concurrency),
            TRACKER_PER_HOST_RATE="0",  # every article is on one host: no request rate
            TRACKER_CONCURRENCY=str(self.concurrency),
        )

    def command(self, label: str | None = None) -> list[str]:
        # --report: the pass prints the changes it found, the read a cron job does afterwards
        args = ["check", "--all", "--concurrency", str(self.concurrency), "--format", "json",
                "--report"]
        if self.profile_dir and label:
            output = self.profile_dir / f"{label}.prof"
            return [sys.executable, str(PROFILED), str(output), "tracker.cli:main", *args]
        return [str(BIN / "tracker"), *args]

    def prepare(self, urls: list[str]) -> None:
        listing = self.home / "urls.txt"
        listing.write_text("\n".join(urls) + "\n", encoding="utf-8")
        # A database other than the default one is made by `tracker migrate` only.
        run_measured([str(BIN / "tracker"), "migrate"], env=self.env, timeout=300)
        run_measured([str(BIN / "tracker"), "add", "-"], env=self.env, timeout=300,
                     stdin=listing)  # fmt: skip

    def run(self, label: str, timeout: float) -> Usage:
        # 3: some checks failed (a loaded machine can time a fetch out); the outcomes say so
        return run_measured(self.command(label), env=self.env, timeout=timeout,
                            exit_codes=(0, 3))

    def baseline(self, timeout: float) -> Usage:
        """The same command on an empty database (migrated, then one unmeasured run)."""
        env = self._env(self.home / "empty.db")
        run_measured([str(BIN / "tracker"), "migrate"], env=env, timeout=timeout)
        run_measured(self.command(), env=env, timeout=timeout)
        return run_measured(self.command(), env=env, timeout=timeout)

    def outcomes(self, usage: Usage) -> str:
        counts = json.loads(usage.stdout)["outcomes"]
        return ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))


class Urlwatch:
    name = "urlwatch"

    def __init__(self, home: Path, workers: int) -> None:
        home.mkdir(parents=True)
        self.home, self.workers = home, workers
        self.env = clean_env(home)
        self.config = home / "urlwatch.yaml"
        self.config.write_text("report:\n  stdout:\n    enabled: false\n", encoding="utf-8")
        self.cache = home / "cache.db"
        self._last = ""

    def command(self, urls: Path, cache: Path) -> list[str]:
        return [sys.executable, "-c", URLWATCH_LAUNCHER, str(self.workers),
                "--urls", str(urls), "--config", str(self.config),
                "--hooks", str(self.home / "hooks.py"), "--cache", str(cache)]  # fmt: skip

    def prepare(self, urls: list[str]) -> None:
        jobs = (f"url: {url}\nfilter:\n  - css: article\n  - html2text\n" for url in urls)
        (self.home / "urls.yaml").write_text("---\n".join(jobs), encoding="utf-8")

    def run(self, label: str, timeout: float) -> Usage:
        # urlwatch picks the latest snapshot by a timestamp in whole seconds: two passes in the
        # same second would compare against an arbitrary one of them.
        time.sleep(1.0)
        before = self._saved()
        usage = run_measured(self.command(self.home / "urls.yaml", self.cache), env=self.env,
                             timeout=timeout)  # fmt: skip
        saved, errors = (a - b for a, b in zip(self._saved(), before, strict=True))
        self._last = f"saved {saved}" + (f" (errors {errors})" if errors else "")
        return usage

    def baseline(self, timeout: float) -> Usage:
        empty = self.home / "empty.yaml"
        empty.write_text("", encoding="utf-8")
        command = self.command(empty, self.home / "empty-cache.db")
        run_measured(command, env=self.env, timeout=timeout)
        return run_measured(command, env=self.env, timeout=timeout)

    def outcomes(self, usage: Usage) -> str:
        """Reporters are off, so count what the pass saved: urlwatch saves a snapshot for a
        new or changed page (and for an error, with tries > 0), nothing for an unchanged one."""
        return self._last

    def _saved(self) -> tuple[int, int]:
        if not self.cache.exists():
            return 0, 0
        with sqlite3.connect(self.cache) as db:
            saved, errors = db.execute(
                "SELECT count(*), count(*) FILTER (WHERE tries > 0) FROM CacheEntry"
            ).fetchone()
        return int(saved), int(errors)


@dataclass
class Record:
    wall: float
    cpu: float
    net_cpu: float
    rss_mib: float
    outcomes: str
    status: str


@dataclass
class Results:
    articles: int
    records: dict[tuple[str, str], list[Record]] = field(default_factory=lambda: defaultdict(list))
    baselines: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    extraction: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))


def run_repeat(args: argparse.Namespace, repeat: int, results: Results, workdir: Path) -> None:
    n = args.articles
    timeout = max(120.0, 0.5 * n)
    with Site(n, template=args.design) as site:
        tools: list[Tool] = [Tracker(workdir / "tracker", args.concurrency, args.profile)]
        if args.before:
            tools.append(Tracker(workdir / "before", args.concurrency, code=args.before))
        if not args.skip_urlwatch:
            tools.append(Urlwatch(workdir / "urlwatch", args.urlwatch_workers))
        for tool in tools:
            results.baselines[tool.name].append(tool.baseline(timeout).cpu)
            tool.prepare(site.urls())
        for index, step in enumerate(PASSES):
            _prepare_server(site, step, seed=args.seed + repeat)
            order = tools if (index + repeat) % 2 == 0 else tools[::-1]
            if step.warmup:
                for tool in order:
                    tool.run(f"{step.key}-warmup", timeout)
            for tool in order:
                site.control("reset")
                usage = tool.run(step.key, timeout)
                status = site.stats()["status"]
                baseline = results.baselines[tool.name][-1]
                record = Record(
                    wall=usage.wall,
                    cpu=usage.cpu,
                    net_cpu=usage.cpu - baseline,
                    rss_mib=usage.max_rss_kb / 1024,
                    outcomes=tool.outcomes(usage),
                    status=" / ".join(f"{status.get(code, 0)}" for code in ("200", "304")),
                )
                results.records[step.key, tool.name].append(record)
                print(
                    f"  repeat {repeat + 1} {step.key:<14} {tool.name:<9} {usage.wall:7.2f} s "
                    f"wall {usage.cpu:7.2f} s CPU  {record.outcomes}",
                    file=sys.stderr,
                )
            if step.key == "changed_all" and not args.profile:
                _time_extraction(site, results, seed=args.seed + repeat)


def _prepare_server(site: Site, step: Pass, *, seed: int) -> None:
    site.control("conditional", on=int(step.conditional))
    if step.advance:
        site.control("advance", fraction=step.advance, seed=seed)
    if step.static:
        site.set_mode_all("static-body")


def _time_extraction(site: Site, results: Results, *, seed: int) -> None:
    """CPU per page of trafilatura alone and of tracker's whole extraction, in this process,
    on the pages just served (a seeded sample), median of a few rounds."""
    from trafilatura import bare_extraction

    from tracker.extract import extract_page

    slugs = random.Random(seed).sample(site.slugs, min(SAMPLE, len(site.slugs)))
    pages = [(site.url(slug), site.fetch(slug)) for slug in slugs]
    extract_page(pages[0][1], url=pages[0][0])  # first-call set-up is not per-page cost
    bare_extraction(pages[0][1].decode(), url=pages[0][0], **TRAFILATURA_OPTIONS)
    jobs = {
        "trafilatura": lambda url, body: bare_extraction(
            body.decode(), url=url, **TRAFILATURA_OPTIONS
        ),
        "extract_page": lambda url, body: extract_page(body, url=url),
    }
    for name, job in jobs.items():
        rounds = []
        for _ in range(ROUNDS):
            start = time.process_time()
            for url, body in pages:
                job(url, body)
            rounds.append((time.process_time() - start) / len(pages))
        results.extraction[name].append(median(rounds))


# --- reporting ------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:.2f}"


def _m(values: list[Record], attribute: str) -> float:
    return median(getattr(r, attribute) for r in values)


def main_table(results: Results) -> str:
    n = results.articles
    rows = []
    for step in PASSES:
        for tool in TOOLS:
            records = results.records.get((step.key, tool))
            if not records:
                continue
            wall = _m(records, "wall")
            rows.append((
                step.title, tool, f"{wall:.2f}", f"{n / wall:.0f}", _ms(_m(records, "cpu") / n),
                _ms(_m(records, "net_cpu") / n), f"{_m(records, 'rss_mib'):.0f}",
                records[-1].outcomes, records[-1].status,
            ))  # fmt: skip
    headers = ("pass", "tool", "wall s", "checks/s", "CPU ms/check", "net CPU ms/check",
               "peak RSS MiB", "outcomes (last run)", "server 200 / 304")  # fmt: skip
    return table(headers, rows)


def ratio_table(results: Results) -> str:
    targets = {"all_new": 1.0, "changed_10": 0.7, "not_modified": 0.5, "no_validators": 0.5,
               "same_bytes": 0.5}  # fmt: skip
    rows = []
    for step in PASSES:
        theirs = results.records.get((step.key, "urlwatch"))
        for tool in TOOLS[:2]:
            ours = results.records.get((step.key, tool))
            if not ours or not theirs:
                continue
            wall = median(a.wall / b.wall for a, b in zip(ours, theirs, strict=True))
            cpu = median(a.cpu / b.cpu for a, b in zip(ours, theirs, strict=True))
            target = targets.get(step.key)
            verdict = "—" if target is None else ("met" if wall <= target else "**not met**")
            rows.append((step.title, tool, f"{wall:.2f} ×", f"{cpu:.2f} ×",
                         "—" if target is None else f"≤ {target} ×", verdict))  # fmt: skip
    headers = ("pass", "tool", "wall ÷ urlwatch", "CPU ÷ urlwatch", "target (wall)",
               "verdict")  # fmt: skip
    return table(headers, rows)


def before_table(results: Results) -> str:
    """This tree against ``--before``'s, pass by pass (median of the per-run ratios)."""
    n = results.articles
    rows = []
    for step in PASSES:
        after = results.records.get((step.key, "tracker"))
        before = results.records.get((step.key, "tracker-before"))
        if not after or not before:
            continue
        pairs = list(zip(after, before, strict=True))
        rows.append((
            step.title, f"{median(a.wall / b.wall for a, b in pairs):.2f} ×",
            f"{median(a.cpu / b.cpu for a, b in pairs):.2f} ×",
            _ms(_m(before, "net_cpu") / n), _ms(_m(after, "net_cpu") / n),
        ))  # fmt: skip
    return table(("pass", "wall after ÷ before", "CPU after ÷ before",
                  "net CPU ms/check before", "after"), rows)  # fmt: skip


def target_table(results: Results) -> str:
    n = results.articles
    per_check = {
        key: _m(records, "net_cpu") / n
        for (key, tool), records in results.records.items()
        if tool == "tracker"
    }
    rows = []
    for key, limit, label in (
        ("not_modified", 0.002, "unchanged 304 check"),
        ("same_bytes", 0.003, "unchanged 200, identical bytes"),
    ):
        if key in per_check:
            value = per_check[key]
            rows.append((label, f"{_ms(value)} ms", f"< {_ms(limit)} ms",
                         "met" if value < limit else "**not met**"))  # fmt: skip
    if results.extraction:
        own = median(results.extraction["trafilatura"])
        changed = per_check["changed_all"]
        rows.append(("changed page ÷ trafilatura's own time", f"{changed / own:.2f} ×",
                     "≤ 1.5 ×", "met" if changed / own <= 1.5 else "**not met**"))  # fmt: skip
    return table(("target", "measured (net CPU per check)", "target", "verdict"), rows)


def extraction_table(results: Results) -> str:
    if not results.extraction:
        return ""
    n = results.articles
    own = median(results.extraction["trafilatura"])
    whole = median(results.extraction["extract_page"])
    rows = [
        ("trafilatura.bare_extraction (in-process)", _ms(own), "1.00 ×"),
        ("tracker.extract.extract_page (in-process)", _ms(whole), f"{whole / own:.2f} ×"),
    ]
    for key, title in (
        ("changed_all", "check of a changed page (100% changed pass)"),
        ("no_validators", "check of an unchanged page, new bytes"),
    ):
        value = _m(results.records[key, "tracker"], "net_cpu") / n
        rows.append((title, _ms(value), f"{value / own:.2f} ×"))
    per_304 = _m(results.records["not_modified", "tracker"], "net_cpu") / n
    mixed = _m(results.records["changed_10", "tracker"], "net_cpu")
    changed = max(1, round(0.1 * n))
    derived = (mixed - (n - changed) * per_304) / changed
    rows.append(("check of a changed page (10% pass minus 304 cost)", _ms(derived),
                 f"{derived / own:.2f} ×"))  # fmt: skip
    return table(("CPU per page", "ms", "÷ trafilatura"), rows)


def report(results: Results, args: argparse.Namespace, started: str) -> str:
    n = results.articles
    baselines = {tool: f"{median(values):.2f} s CPU"
                 for tool, values in results.baselines.items()}  # fmt: skip
    parts = [
        "## tracker check vs urlwatch 2.29",
        f"Command: `{command_line()}` (started {started}). N = {n} articles on one host "
        f"(127.0.0.1; the article server in its own process), concurrency {args.concurrency} "
        f"and per-host concurrency {args.concurrency} for tracker, {args.urlwatch_workers} "
        f"worker threads for urlwatch; medians of {args.repeat} run(s). See the docstring of "
        "`benchmarks/bench_check.py` for the set-up of each pass.",
        "Per-process fixed cost (the command on an empty database / empty job list), "
        f"subtracted in the net column: {', '.join(f'{k} {v}' for k, v in baselines.items())}.",
        main_table(results),
    ]
    if any(tool == "urlwatch" for _, tool in results.records):
        parts += ["Ratios (median of the per-run ratios):", ratio_table(results)]
    if any(tool == "tracker-before" for _, tool in results.records):
        parts += [f"This tree against `--before {args.before_label}`, run alternately in the "
                  "same passes on the same server state:", before_table(results)]
    parts += ["Targets:", target_table(results)]
    if results.extraction:
        parts += [f"Extraction cost, CPU per page ({SAMPLE}-page seeded sample of the pages "
                  f"served in the 100%-changed pass, median of {ROUNDS} rounds):",
                  extraction_table(results)]  # fmt: skip
    info = machine_info() | package_versions(
        ["trafilatura", "httpx", "SQLAlchemy", "lxml", "urlwatch", "requests", "html2text"]
    )
    parts += ["Machine and versions:", bullet_list(info)]
    return "\n\n".join(parts) + "\n"


# Where a check spends its time; functions renamed since are left out of the table. The first
# is the whole check (the share column's base).
PHASES = (
    ("check_target (the whole check)", "tracker/check.py", "check_target"),
    ("fetch (httpx, incl. connection set-up)", "tracker/fetch.py", "fetch"),
    ("explain_page (extraction)", "tracker/extract/pipeline.py", "explain_page"),
    ("  trafilatura bare_extraction", "trafilatura/core.py", "bare_extraction"),
    ("  metadata", "tracker/extract/metadata.py", "read_metadata"),
    ("content_hash", "tracker/check.py", "content_hash"),
    ("unchanged: two statements (_record_quickly)", "tracker/check.py", "_record_quickly"),
    ("compare and build the rows, before the write (_compared)", "tracker/check.py",
     "_compared"),
    ("  latest_version", "db/queries.py", "latest_version"),
    ("  diff_documents", "tracker/diff.py", "diff_documents"),
    ("    align (paragraph matching)", "tracker/align.py", "align"),
    ("  rows of the new version (_prepare)", "tracker/check.py", "_prepare"),
    ("    zlib.compress (raw body, diff)", "~", "<built-in method zlib.compress>"),
    ("write transaction, after extraction (_record)", "tracker/check.py", "_record"),
    ("  lock the row (SELECT … FOR UPDATE)", "db/queries.py", "lock_article"),
    ("  last_outcome", "db/queries.py", "last_outcome"),
    ("  _apply (the writes)", "tracker/check.py", "_apply"),
    ("    store_version", "tracker/check.py", "store_version"),
    ("session commits (all transactions)", "db/session.py", "session_scope"),
)  # fmt: skip


def hotspot_report(directory: Path) -> str:
    from profiled import by_library, hotspots, phases, total_cpu

    parts = [
        "## Profile of tracker check --all",
        f"Command: `{command_line()}`. Each pass ran under `benchmarks/profiled.py`: cProfile "
        "in every thread, timed with `time.thread_time` (CPU, not waiting). Shares are of "
        "all profiled CPU of the pass; ms per check are inflated by the profiler (compare "
        "them with each other, not with the benchmark table). The .prof files are in "
        f"`{directory}` (`python -m pstats` or snakeviz).",
    ]
    for step in PASSES:
        path = directory / f"{step.key}.prof"
        if not path.exists():
            continue
        parts += [
            f"### {step.title}: {total_cpu(path):.1f} s profiled CPU",
            table(("phase", "share of check_article", "ms/check"), phases(path, PHASES)),
            "Self time by library:",
            table(("where", "self"), by_library(path)),
            "Top functions by cumulative time (thread and pool plumbing left out):",
            table(("function", "cumulative", "self", "calls"), hotspots(path)),
            "Top functions by self time:",
            table(("function", "cumulative", "self", "calls"), hotspots(path, by="self")),
        ]
    return "\n\n".join(parts) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-urlwatch", action="store_true")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--urlwatch-workers", type=int, default=8)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--no-docs", action="store_true", help="print only")
    parser.add_argument("--profile", type=Path, help="profile tracker's passes into this dir")
    parser.add_argument("--design", choices=["classic", "redesign"], default="classic",
                        help="the article server's site design: redesign declares no body "
                        "(no itemprop, no JSON-LD articleBody), so the generic path runs")
    parser.add_argument("--before",
                        help="a source tree of tracker, or a commit (extracted with `git "
                             "archive`), to run alternately with this one, on its own "
                             "database")  # fmt: skip
    args = parser.parse_args(argv)
    if args.profile:
        args.profile = args.profile.resolve()
        args.profile.mkdir(parents=True, exist_ok=True)
        args.skip_urlwatch = True
    return args


def source_tree(before: str, into: Path) -> Path:
    """``--before``: a directory as it is, or a commit extracted with ``git archive``."""
    return Path(before).resolve() if Path(before).is_dir() else extract_commit(before, into)


def compile_tree(tree: Path) -> None:
    """Bytecode for tracker's packages of ``tree``, as an installed package has (docstring)."""
    for package in ("tracker", "db"):
        compileall.compile_dir(tree / package, quiet=1, workers=1)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    results = Results(args.articles)
    with tempfile.TemporaryDirectory(prefix="bench_check-before-") as trees:
        args.before_label = args.before
        if args.before:
            args.before = source_tree(args.before, Path(trees))
            compile_tree(args.before)
        compile_tree(ROOT)
        for repeat in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="bench_check-") as workdir:
                run_repeat(args, repeat, results, Path(workdir))
    section = "bench_check_profile" if args.profile else "bench_check"
    if args.design != "classic":
        section = f"{section}_{args.design}"
    text = hotspot_report(args.profile) if args.profile else report(results, args, started)
    print(text)
    if not args.no_docs:
        write_section(section, text)
        print(f"written to {ROOT / 'docs' / 'benchmarks.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
