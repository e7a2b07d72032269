"""The shape of the code: lines per module, function lengths, and which tracker modules touch
the database, at a git revision or in the working tree.

    python benchmarks/code_shape.py                      # the working tree
    python benchmarks/code_shape.py --rev c20bf46        # a commit, read with git show
    python benchmarks/code_shape.py --modules tracker/check.py tracker/decide.py

A module "touches the database" when it imports SQLAlchemy or any ``db`` module other than
``db.states`` (the lists of state words, which hold no persistence).
"""

from __future__ import annotations

import argparse
import ast
import statistics
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PURE_DB_MODULES = frozenset({"db.states"})


def source(path: str, rev: str | None) -> str | None:
    if rev is None:
        file = ROOT / path
        return file.read_text("utf-8") if file.is_file() else None
    shown = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True,
                           text=True, check=False)
    return shown.stdout if shown.returncode == 0 else None


def tracker_modules(rev: str | None) -> list[str]:
    if rev is None:
        return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tracker").rglob("*.py"))
    listed = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, "tracker"], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    return sorted(line for line in listed.stdout.splitlines() if line.endswith(".py"))


def function_lengths(tree: ast.AST) -> list[int]:
    return [node.end_lineno - node.lineno + 1 for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno is not None]


def touches_database(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        if any(_persistence(name) for name in names):
            return True
    return False


def _persistence(name: str) -> bool:
    """SQLAlchemy, or a db module (``db.x`` or a name imported from one) but the pure ones."""
    parts = name.split(".")
    if parts[0] == "sqlalchemy":
        return True
    return parts[0] == "db" and len(parts) > 1 and ".".join(parts[:2]) not in PURE_DB_MODULES


def describe(lengths: list[int]) -> str:
    if not lengths:
        return "no functions"
    ordered = sorted(lengths)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    median = statistics.median(ordered)
    return f"{len(ordered)} functions, median {median:g} / p90 {p90} / max {ordered[-1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rev", help="a git revision (default: the working tree)")
    parser.add_argument("--modules", nargs="*",
                        default=["tracker/check.py", "tracker/decide.py", "tracker/schedule.py",
                                 "tracker/decide_poll.py", "tracker/sources.py",
                                 "tracker/polls.py"])
    args = parser.parse_args()
    print(f"revision: {args.rev or 'working tree'}")
    for path in args.modules:
        text = source(path, args.rev)
        if text is None:
            print(f"{path}: (none)")
            continue
        tree = ast.parse(text)
        db = "touches the database" if touches_database(tree) else "pure"
        print(f"{path}: {len(text.splitlines())} lines, {describe(function_lengths(tree))}, {db}")
    every: list[int] = []
    touching: list[str] = []
    modules = tracker_modules(args.rev)
    for path in modules:
        text = source(path, args.rev)
        if text is None:
            continue
        tree = ast.parse(text)
        every += function_lengths(tree)
        if touches_database(tree):
            touching.append(path)
    print(f"tracker/ overall: {len(modules)} modules, {describe(every)}")
    print(f"tracker modules touching the database: {len(touching)} of {len(modules)}")


if __name__ == "__main__":
    main()
