"""Run a Python entry point under cProfile in every thread, and summarise the result.

``python -m cProfile`` profiles only the main thread, while ``tracker check`` runs its checks
in a thread pool, so it would show the main thread waiting. This launcher gives each thread its
own profiler, timed with ``time.thread_time`` (CPU time of that thread, so waiting on the
network or the GIL is not counted), and merges them into one pstats file::

    python benchmarks/profiled.py OUT.prof tracker.cli:main check --all --format json

Checks run in worker threads; the main thread (imports, settings, the list of articles) is
kept in the same file. ``hotspots()`` reads such a file back as table rows. cProfile's
per-call overhead inflates code made of many small Python calls (SQLAlchemy) relative to C code
(lxml), so read the shares as an upper bound for Python-heavy functions.
"""

from __future__ import annotations

import cProfile
import importlib
import pstats
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Thread and pool plumbing: always ~100% cumulative, never a place to optimise.
_PLUMBING = ("threading.py", "concurrent/futures/", "tracker/runner.py", "tracker/passes.py",
             "benchmarks/")


def main(argv: list[str]) -> int:
    output, target, *args = argv
    module, _, function = target.partition(":")
    profilers: list[cProfile.Profile] = []

    def start_in_thread(*_: Any) -> None:
        profiler = cProfile.Profile(time.thread_time)
        profilers.append(profiler)
        profiler.enable()  # replaces this hook for the rest of the thread

    entry = getattr(importlib.import_module(module), function or "main")
    sys.argv = [target, *args]
    threading.setprofile(start_in_thread)
    main_profiler = cProfile.Profile(time.thread_time)
    main_profiler.enable()
    code: Any = 0
    try:
        entry()
    except SystemExit as exc:
        code = exc.code
    finally:
        main_profiler.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
        stats = pstats.Stats(main_profiler)
        for profiler in profilers:
            stats.add(profiler)
        stats.dump_stats(output)
    return code if isinstance(code, int) else 0 if code is None else 1


def hotspots(path: Path, *, limit: int = 12, by: str = "cumulative") -> list[tuple[str, ...]]:
    """The top functions of a profile: (function, cumulative %, self %, calls).

    Percentages are of all profiled CPU time in the file (every thread)."""
    stats = _load(path)
    total = stats.total_tt or 1.0
    key = 3 if by == "cumulative" else 2
    ranked = sorted(stats.stats.items(), key=lambda item: item[1][key], reverse=True)
    rows = []
    for (filename, line, name), (_, calls, self_time, cumulative, _) in ranked:
        if any(part in filename for part in _PLUMBING):
            continue
        rows.append((_where(filename, line, name), _percent(cumulative, total),
                     _percent(self_time, total), f"{calls:,}"))  # fmt: skip
        if len(rows) == limit:
            break
    return rows


def phases(path: Path, names: Sequence[tuple[str, str, str]]) -> list[tuple[str, ...]]:
    """(label, share of the whole check, ms per check) for each (label, file suffix, function)
    found in the profile, the first of ``names`` being the whole check; a function renamed
    since is left out."""
    stats = _load(path)
    cumulative: dict[tuple[str, str], tuple[int, float]] = {}
    for (filename, _, name), (_, calls, _, cum, _) in stats.stats.items():
        for _, suffix, function in names:
            if name == function and filename.endswith(suffix):
                count, time_ = cumulative.get((suffix, function), (0, 0.0))
                cumulative[suffix, function] = (count + calls, time_ + cum)
    checks, whole = cumulative.get(names[0][1:], (0, 0.0))  # the first: the whole check
    rows = []
    for label, suffix, function in names:
        if (suffix, function) in cumulative and checks:
            time_ = cumulative[suffix, function][1]
            rows.append((label, _percent(time_, whole), f"{1000 * time_ / checks:.2f}"))
    return rows


def by_library(path: Path, *, limit: int = 10) -> list[tuple[str, str]]:
    """Self time grouped by where the code lives: a package, tracker's modules, the stdlib,
    or a C builtin (sqlite3's execute, lxml's parser, ...)."""
    stats = _load(path)
    total = stats.total_tt or 1.0
    groups: Counter[str] = Counter()
    for (filename, _, name), (_, _, self_time, _, _) in stats.stats.items():
        groups[_library(filename, name)] += self_time
    return [(group, _percent(time_, total)) for group, time_ in groups.most_common(limit)]


def total_cpu(path: Path) -> float:
    return float(_load(path).total_tt)


def _load(path: Path) -> Any:
    return pstats.Stats(str(path))  # total_tt and stats are undocumented but stable


def _percent(part: float, whole: float) -> str:
    return f"{100 * part / (whole or 1.0):.1f} %"


def _library(filename: str, name: str) -> str:
    if filename == "~":
        return "builtin " + re.sub(r"<(built-in )?(method|function) ", "", name).rstrip(">")
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    if filename.startswith(str(ROOT)):
        return str(Path(filename).relative_to(ROOT))
    if "/lib/python3" in filename:
        return "stdlib " + filename.split("/lib/python3", 1)[1].split("/")[1]
    return filename


def _where(filename: str, line: int, name: str) -> str:
    if filename == "~":  # a builtin
        return f"`{name}`"
    for marker in ("site-packages/", "/lib/python3"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            if marker == "/lib/python3":
                filename = filename.split("/", 1)[1]
            break
    else:
        filename = (
            str(Path(filename).resolve().relative_to(ROOT))
            if filename.startswith(str(ROOT))
            else filename
        )
    return f"`{filename}:{line}({name})`"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
