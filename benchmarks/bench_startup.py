"""Start-up of the read commands on a database of 1,000 articles, before and after a change.

Run ``.venv/bin/python benchmarks/bench_startup.py --before REF`` (options: ``--articles N``
(1000), ``--repeat R`` (9), ``--no-docs``). Without ``--before`` only the working tree is
measured.

Set-up. ``tests/articleserver.py`` serves N articles in its own process; each variant (the
working tree, and with ``--before`` the commit REF extracted with ``git archive`` into a
temporary directory) gets its own SQLite database in a temporary HOME, made with that variant's
``tracker migrate``, ``add -`` and ``check --all``; then 10 % of the articles move on to their
next version and each variant checks them all again, so ``changes --since 1h`` has 100 changes
to report and the article given to ``show`` and ``history`` has two versions.

Each variant's ``tracker`` and ``db`` are compiled to bytecode first (``compileall``), as an
installed tracker is (pip compiles at install): without it every start compiles each module it
imports, which these machines' ``PYTHONDONTWRITEBYTECODE=1`` would repeat at every run (about
0.1 s of CPU; figures before 2026-12-06 19:30 UTC include it).

Each command runs as ``python -c "from tracker.cli import main; main()" ARGS`` with PYTHONPATH
set to the variant's source tree (the same launcher for both, so only the code differs), the
variants alternating run by run; the table gives the median wall and CPU time of ``--repeat``
runs, measured from outside with ``wait4``. One more run under ``python -X importtime`` gives
the time spent importing (the sum of the top-level modules' cumulative times, inflated by the
measurement itself) and which of the heavy libraries a command loaded.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
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

LAUNCHER = "import sys; sys.argv[0] = 'tracker'; from tracker.cli import main; main()"
HEAVY = ("sqlalchemy", "httpx", "deepdiff", "pydantic", "trafilatura", "lxml", "celery",
         "alembic", "fastapi", "jinja2", "rich")  # fmt: skip
TARGET = 0.25  # seconds of wall time per command (issue 15, item 3)
STORY = ROOT / "tests" / "fixtures" / "story_de"


@dataclass
class Variant:
    name: str
    source: Path
    home: Path
    extra_path: str = ""  # more of PYTHONPATH after the source (an older typer, say)
    walls: dict[str, list[float]] = field(default_factory=dict)
    cpus: dict[str, list[float]] = field(default_factory=dict)
    imports: dict[str, tuple[float, list[str]]] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return clean_env(
            self.home, PYTHONPATH=":".join(filter(None, [str(self.source), self.extra_path])),
            NO_COLOR="1",
            TRACKER_DATABASE_URL=f"sqlite:///{self.home / 'tracker.db'}",
            TRACKER_ALLOW_NETWORKS="127.0.0.0/8", TRACKER_ALLOWED_PORTS="*",
            TRACKER_PER_HOST_CONCURRENCY="8", TRACKER_PER_HOST_RATE="0",
        )  # fmt: skip

    def command(self, args: list[str], *, importtime: bool = False) -> list[str]:
        # -P: not the current directory first on sys.path, so PYTHONPATH picks the variant
        flags = ["-P", "-X", "importtime"] if importtime else ["-P"]
        return [sys.executable, *flags, "-c", LAUNCHER, *args]

    def run(self, args: list[str], *, stdin: Path | None = None) -> float:
        return self.usage(args, stdin=stdin).wall

    def usage(self, args: list[str], *, stdin: Path | None = None) -> Usage:
        # tracker diff exits 1 when the files differ, as diff(1) does
        codes = (0, 1) if args[:1] == ["diff"] else (0,)
        return run_measured(self.command(args), env=self.env, timeout=600, stdin=stdin,
                            exit_codes=codes)  # fmt: skip


def extract_commit(ref: str, into: Path) -> Path:
    """The tree of ``ref`` (tracker/ and db/ are what the launcher imports), via git archive."""
    archive = into / "source.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", ref], stdout=out, check=True)
    source = into / "source"
    with tarfile.open(archive) as tar:
        tar.extractall(source, filter="data")
    return source


def compile_sources(source: Path) -> None:
    """Bytecode of the variant's own modules, written beside them (``__pycache__``)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(source / "tracker"),
                    str(source / "db")], check=True, env=env)  # fmt: skip


def build_databases(site: Site, variants: list[Variant]) -> str:
    """Each variant's database: N articles, all seen once, 10 % changed since. The URL of a
    changed article (for show and history)."""
    listing = variants[0].home / "urls.txt"
    listing.write_text("\n".join(site.urls()) + "\n", encoding="utf-8")
    for variant in variants:
        for args in (["migrate"], ["add", "-"], ["check", "--all", "--format", "json"]):
            variant.run(args, stdin=listing if args == ["add", "-"] else None)
    changed = site.control("advance", fraction=0.1, seed=15)
    for variant in variants:
        variant.run(["check", "--all", "--format", "json"])
    return site.url(sorted(changed["advanced"])[0])


def commands(url: str) -> dict[str, list[str]]:
    return {
        "tracker --help": ["--help"],
        "tracker list": ["list"],
        "tracker list --format json": ["list", "--format", "json"],
        "tracker changes --since 1h": ["changes", "--since", "1h"],
        "tracker changes --since 1h --format json": ["changes", "--since", "1h", "--format",
                                                     "json"],
        "tracker show URL": ["show", url],
        "tracker history URL": ["history", url],
        "tracker diff v2.txt v3.txt": ["diff", str(STORY / "v2.txt"), str(STORY / "v3.txt")],
    }  # fmt: skip


def import_profile(variant: Variant, args: list[str]) -> tuple[float, list[str]]:
    """Seconds spent importing (top-level modules' cumulative times) and the heavy libraries
    loaded, from one ``-X importtime`` run."""
    result = subprocess.run(variant.command(args, importtime=True), env=variant.env,
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    if result.returncode not in (0, 1):  # 1: tracker diff found differences
        raise RuntimeError(f"{args}: exit status {result.returncode}\n{result.stderr[-2000:]}")
    total, loaded = 0, set()
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative, name = line.split("|")
        if not name.startswith("  "):  # " name" at the top level, two more spaces a level
            total += int(cumulative)
        top = name.strip().split(".")[0]
        if top in HEAVY:
            loaded.add(top)
    return total / 1e6, sorted(loaded)


def measure(variants: list[Variant], runs: dict[str, list[str]], repeat: int) -> None:
    floor = [sys.executable, "-c", "pass"]
    for _ in range(repeat):
        for variant in variants:
            usage = run_measured(floor, env=variant.env, timeout=60)
            variant.walls.setdefault("python -c pass", []).append(usage.wall)
            variant.cpus.setdefault("python -c pass", []).append(usage.cpu)
            for label, args in runs.items():
                usage = variant.usage(args)
                variant.walls.setdefault(label, []).append(usage.wall)
                variant.cpus.setdefault(label, []).append(usage.cpu)
    for variant in variants:
        for label, args in runs.items():
            variant.imports[label] = import_profile(variant, args)


def report(variants: list[Variant], runs: dict[str, list[str]], args: argparse.Namespace,
           started: str, before: str | None) -> str:  # fmt: skip
    names = [v.name for v in variants]
    headers = ["command", *(f"{n} wall s" for n in names)]
    if len(variants) == 2:
        headers.append("after ÷ before")
    headers += [f"{n} CPU s" for n in names]
    headers += [*(f"{n} imports s" for n in names), *(f"{n}: heavy libraries" for n in names)]
    headers.append(f"target ≤ {TARGET} s")
    rows = []
    for label in ["python -c pass", *runs]:
        walls = [median(v.walls[label]) for v in variants]
        row = [label, *(f"{w:.3f}" for w in walls)]
        if len(variants) == 2:
            row.append(f"{walls[1] / walls[0]:.2f} ×")
        row += [f"{median(v.cpus[label]):.3f}" for v in variants]
        if label in runs:
            row += [f"{v.imports[label][0]:.3f}" for v in variants]
            row += [", ".join(v.imports[label][1]) or "—" for v in variants]
            row.append("met" if walls[-1] <= TARGET else "**not met**")
        else:
            row += ["—"] * (2 * len(variants)) + ["(interpreter floor)"]
        rows.append(row)
    described = (f"`before` is commit `{before}`, `after` the working tree" if before
                 else "the working tree only")  # fmt: skip
    if args.before_path:
        described += f" (`before` with `{args.before_path}` on its PYTHONPATH)"
    parts = [
        "## Command start-up (issue 15, item 3)",
        f"Command: `{command_line()}` (started {started}); {described}. {args.articles} "
        "articles in SQLite, 10 % with a second version; median wall and CPU (user + system) "
        f"of {args.repeat} runs each, the variants alternating; imports from one "
        "`python -X importtime` run (the sum of top-level modules' cumulative times: the "
        "measurement inflates it). See the "
        "docstring of `benchmarks/bench_startup.py`.",
        table(headers, rows),
        "Machine and versions:",
        bullet_list(machine_info() | package_versions(["typer", "SQLAlchemy", "rich"])),
    ]
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--before", help="a commit to compare with (git archive of it)")
    parser.add_argument("--before-path", default="", help="put on the before variant's "
                        "PYTHONPATH after its source, e.g. a directory with the typer it used "
                        "(pip install --no-deps --target DIR 'typer==0.29.2')")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    args = parser.parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    with tempfile.TemporaryDirectory(prefix="bench_startup-") as workdir:
        work = Path(workdir)
        variants = []
        if args.before:
            variants.append(Variant("before", extract_commit(args.before, work), work / "b",
                                    extra_path=args.before_path))
        variants.append(Variant("after" if args.before else "now", ROOT, work / "a"))
        for variant in variants:
            variant.home.mkdir()
            compile_sources(variant.source)
        with Site(args.articles) as site:
            url = build_databases(site, variants)
        runs = commands(url)
        measure(variants, runs, args.repeat)
        text = report(variants, runs, args, started, args.before)
    print(text)
    if not args.no_docs:
        write_section("bench_startup", text)
        print(f"written to {ROOT / 'docs' / 'benchmarks.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
