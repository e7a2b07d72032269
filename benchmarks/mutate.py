"""Mutation testing of the diff: do the tests notice when ``align.py`` or ``diff.py`` is wrong?

Run like a benchmark, not in CI (it takes minutes)::

    .venv/bin/python benchmarks/mutate.py                       # every mutant, default tests
    .venv/bin/python benchmarks/mutate.py --jobs 2 --json /tmp/mutants.json
    .venv/bin/python benchmarks/mutate.py --tests tests/test_diff.py   # a smaller test set
    .venv/bin/python benchmarks/mutate.py --only 'MOVE_MIN'     # mutants whose text matches
    .venv/bin/python benchmarks/mutate.py --survivors-of /tmp/mutants.json   # after new tests
    .venv/bin/python benchmarks/mutate.py --modules tracker/decide.py tracker/schedule.py \
        tracker/decide_poll.py --tests tests/test_decide.py tests/test_decide_poll.py

A small mutator of its own (no third-party tool): it parses each module, enumerates one-point
changes of the syntax tree, and for each mutant writes the changed module into a scratch copy
of the repository and runs the diff-related tests there with ``pytest -x`` and a timeout, in
a child forked from a process that has the third-party modules imported already. A mutant
is *killed* when the tests fail (or time out), *survives* when they pass. Mutations:

- comparison operators flipped at the edge or negated (``<`` → ``<=``, ``==`` → ``!=``, ``in``
  → ``not in``), ``and`` ↔ ``or``, ``not x`` → ``x``, ``min`` ↔ ``max``;
- numbers changed (an int by ±1, a float by ±0.1), ``+`` ↔ ``-``, ``*`` ↔ ``/``;
- statements dropped (calls, augmented assignments, ``if``/``for`` blocks, ``continue``/
  ``break``, stores into attributes or items);
- and the mutants that issue 10 found surviving, written out (``MOVE_MIN`` 0.6 → 0.9, …).

The scratch copies hold ``tracker/``, ``db/``, ``tests/``, ``docs/`` and ``pyproject.toml``;
pytest puts the copy first on ``sys.path``, so the mutated module is the one imported (checked
on the unmutated code and on one mutant that must die, before the run starts).

The survivors are written down in ``docs/mutation.md``, each killed by a test since or named
equivalent with the reason.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import importlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from queue import Queue

ROOT = Path(__file__).resolve().parent.parent
MODULES = ["tracker/align.py", "tracker/diff.py"]
DEFAULT_TESTS = [  # the quickest to fail first
    "tests/test_align_steps.py",
    "tests/test_align_units.py",
    "tests/test_align_bounds.py",
    "tests/test_align_pinned.py",
    "tests/test_diff.py",
    "tests/test_align_properties.py",
    "tests/test_render.py",
    "tests/test_significance.py",
    "tests/test_payload.py",
]
# Issue 10's seven survivors, as source replacements (module, old text, new text).
ISSUE_MUTANTS = [
    ("tracker/align.py", "MOVE_MIN = 0.6", "MOVE_MIN = 0.9"),
    ("tracker/align.py", "PIECE_MIN = 0.5", "PIECE_MIN = 0.9"),
    ("tracker/align.py", "MAX_PARTNERS = 8", "MAX_PARTNERS = 1"),
    ("tracker/align.py", "MODIFY_MIN = 0.45", "MODIFY_MIN = 0.35"),
    ("tracker/align.py", "        self._take_unique_moves()\n", "        pass\n"),
    ("tracker/align.py", "        self._take_distant_moves()\n", "        pass\n"),
]

_FLIPPED_COMPARE: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
_FLIPPED_BINOP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
}
_DROPPABLE = (ast.Expr, ast.AugAssign, ast.If, ast.For, ast.While, ast.Continue, ast.Break)


@dataclass
class Mutant:
    module: str
    line: int
    description: str
    source: str = ""  # the mutated module; left out of the report
    outcome: str = ""  # "killed", "survived", "timeout"
    seconds: float = 0.0


# --- the mutator ----------------------------------------------------------------------------

Change = Callable[[ast.AST], None]


def _is_docstring(node: ast.AST, parent: ast.AST | None) -> bool:
    body = getattr(parent, "body", None)
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str) and bool(body) and body[0] is node)


def _points(tree: ast.AST) -> Iterator[tuple[ast.AST, int, str, Change]]:
    """(node, line, description, change) for every mutation of the tree, in source order."""
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    annotations = {id(sub) for node in ast.walk(tree)
                   for ann in _annotations(node) for sub in ast.walk(ann)}
    for node in ast.walk(tree):
        if id(node) in annotations:
            continue
        line = getattr(node, "lineno", 0)
        yield from _node_points(node, line, parents.get(node))


def _annotations(node: ast.AST) -> list[ast.AST]:
    found: list[ast.AST] = []
    if isinstance(node, ast.AnnAssign):
        found.append(node.annotation)
    if isinstance(node, ast.arg) and node.annotation:
        found.append(node.annotation)
    if isinstance(node, ast.FunctionDef) and node.returns:
        found.append(node.returns)
    return found


def _node_points(node: ast.AST, line: int,
                 parent: ast.AST | None) -> Iterator[tuple[ast.AST, int, str, Change]]:
    if isinstance(node, ast.Compare):
        for k, op in enumerate(node.ops):
            flipped = _FLIPPED_COMPARE.get(type(op))
            if flipped:
                yield node, line, f"{_name(op)} → {flipped.__name__}", _set_compare(k, flipped)
    elif isinstance(node, ast.BoolOp):
        other = ast.Or if isinstance(node.op, ast.And) else ast.And
        yield node, line, f"{_name(node.op)} → {other.__name__}", _set_attr("op", other())
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield node, line, "not x → x", _unwrap_not
    elif isinstance(node, ast.BinOp) and type(node.op) in _FLIPPED_BINOP:
        flipped_op = _FLIPPED_BINOP[type(node.op)]
        yield node, line, f"{_name(node.op)} → {flipped_op.__name__}", _set_attr("op", flipped_op())
    elif isinstance(node, ast.Constant) and _is_number(node.value):
        for value in _other_numbers(node.value):
            yield node, line, f"{node.value!r} → {value!r}", _set_attr("value", value)
    elif isinstance(node, ast.Name) and node.id in ("min", "max"):
        other_name = "max" if node.id == "min" else "min"
        yield node, line, f"{node.id} → {other_name}", _set_attr("id", other_name)
    if _droppable(node, parent):
        first = ast.unparse(node).splitlines()[0][:60]
        yield node, line, f"drop `{first}`", _drop


def _droppable(node: ast.AST, parent: ast.AST | None) -> bool:
    if isinstance(node, ast.Assign):
        return all(isinstance(t, ast.Attribute | ast.Subscript) for t in node.targets) \
            and isinstance(parent, ast.FunctionDef | ast.For | ast.If | ast.While | ast.With)
    return isinstance(node, _DROPPABLE) and not _is_docstring(node, parent) \
        and isinstance(parent, ast.FunctionDef | ast.For | ast.If | ast.While | ast.With)


def _name(op: ast.AST) -> str:
    return type(op).__name__


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _other_numbers(value: float) -> list[float]:
    if isinstance(value, int):
        return [value + 1, value - 1]
    return [round(value + 0.1, 6), round(value - 0.1, 6)]


def _set_compare(k: int, op: type[ast.cmpop]) -> Change:
    def change(node: ast.AST) -> None:
        assert isinstance(node, ast.Compare)
        node.ops[k] = op()
    return change


def _set_attr(name: str, value: object) -> Change:
    def change(node: ast.AST) -> None:
        setattr(node, name, value)
    return change


# A node cannot replace itself in its parent, so these two leave a marker that _Rewrite acts on.
def _unwrap_not(node: ast.AST) -> None:
    node._unwrap = True  # type: ignore[attr-defined]


def _drop(node: ast.AST) -> None:
    node._drop = True  # type: ignore[attr-defined]


class _Rewrite(ast.NodeTransformer):
    """Turns the markers left by ``_unwrap_not`` and ``_drop`` into the changed tree."""

    def visit(self, node: ast.AST) -> ast.AST:
        node = super().visit(node)
        if getattr(node, "_unwrap", False):
            assert isinstance(node, ast.UnaryOp)
            return node.operand
        if getattr(node, "_drop", False):
            return ast.Pass()
        return node


def mutants_of(module: str) -> list[Mutant]:
    source = (ROOT / module).read_text(encoding="utf-8")
    tree = ast.parse(source)
    count = sum(1 for _ in _points(tree))
    found = []
    for k in range(count):
        mutated = copy.deepcopy(tree)
        node, line, description, change = next(
            point for n, point in enumerate(_points(mutated)) if n == k
        )
        change(node)
        mutated = ast.fix_missing_locations(_Rewrite().visit(mutated))
        found.append(Mutant(module, line, description, ast.unparse(mutated)))
    for name, old, new in ISSUE_MUTANTS:
        if name == module and old in source:
            line = source[: source.index(old)].count("\n") + 1
            found.append(Mutant(module, line, f"issue 10: {old.strip()} → {new.strip()}",
                                source.replace(old, new, 1)))
    return found


# --- running --------------------------------------------------------------------------------


def scratch_copy(into: Path) -> Path:
    for name in ("tracker", "db", "tests", "docs"):
        shutil.copytree(ROOT / name, into / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", into / "pyproject.toml")
    return into


# Imported once here, before any fork, so that each mutant's run starts warm; nothing of the
# project (tracker, db, tests) is, so that the child imports the scratch copy's.
# (Nor are pytest plugins such as hypothesis: pytest must import them itself to rewrite them.)
_WARM = ("pytest", "sqlalchemy", "httpx", "deepdiff", "jsonschema",
         "standardwebhooks", "rich", "typer", "celery", "trafilatura", "lxml.html")


def warm_up() -> None:
    for name in _WARM:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def run_tests(workdir: Path, tests: list[str], timeout: float) -> str:
    """Run the tests in a forked child inside ``workdir``: "killed", "survived", "timeout"."""
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.chdir(workdir)
            os.environ.update(PYTHONHASHSEED="0", TRACKER_PROPERTY_EXAMPLES="30")
            sys.path.insert(0, str(workdir))
            with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), \
                    contextlib.redirect_stderr(quiet):
                import pytest

                code = int(pytest.main(["-x", "-q", "-p", "no:cacheprovider", *tests]))
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return "survived" if os.waitstatus_to_exitcode(status) == 0 else "killed"
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "timeout"


def run_mutant(mutant: Mutant, workdir: Path, tests: list[str], timeout: float) -> Mutant:
    target = workdir / mutant.module
    original = target.read_text(encoding="utf-8")
    started = time.perf_counter()
    try:
        target.write_text(mutant.source, encoding="utf-8")
        mutant.outcome = run_tests(workdir, tests, timeout)
    finally:
        target.write_text(original, encoding="utf-8")
    mutant.seconds = time.perf_counter() - started
    return mutant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", nargs="+", default=DEFAULT_TESTS)
    parser.add_argument("--modules", nargs="+", default=MODULES,
                        help="the modules to mutate (e.g. tracker/decide.py)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--only", default="", help="run mutants whose description contains it")
    parser.add_argument("--json", type=Path, help="write every mutant's outcome here")
    parser.add_argument("--sample", type=int, default=1, help="every n-th mutant only")
    parser.add_argument("--lines", default="",
                        help="MODULE:FIRST-LAST, only mutants of those lines (e.g. after an edit)")
    parser.add_argument("--survivors-of", type=Path,
                        help="only the mutants that survived in this --json file of a run")
    args = parser.parse_args()
    tests = [t for t in args.tests if (ROOT / t).exists()]
    every = [m for module in args.modules for m in mutants_of(module)
             if args.only in m.description]
    # A sample keeps every n-th mutant, and issue 10's survivors always.
    mutants = [m for n, m in enumerate(every)
               if n % args.sample == 0 or m.description.startswith("issue 10")]
    if args.lines:
        module, span = args.lines.rsplit(":", 1)
        first, last = (int(n) for n in span.split("-"))
        mutants = [m for m in mutants if m.module == module and first <= m.line <= last]
    if args.survivors_of:
        earlier = json.loads(args.survivors_of.read_text(encoding="utf-8"))
        survived = {(m["module"], m["line"], m["description"]) for m in earlier
                    if m["outcome"] == "survived"}
        mutants = [m for m in mutants if (m.module, m.line, m.description) in survived]
    with tempfile.TemporaryDirectory(prefix="tracker-mutate-") as scratch:
        workdirs = [scratch_copy(Path(scratch) / f"w{n}") for n in range(args.jobs)]
        warm_up()
        check_setup(workdirs[0], tests, args.timeout, args.modules[0])
        print(f"{len(mutants)} mutants of {', '.join(args.modules)}; tests: {' '.join(tests)}",
              flush=True)
        started = time.perf_counter()
        free: Queue[Path] = Queue()
        for workdir in workdirs:
            free.put(workdir)
        with ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(_in_free_workdir, m, free, tests, args.timeout)
                       for m in mutants]
            for n, future in enumerate(futures, 1):
                mutant = future.result()
                if mutant.outcome == "survived":
                    print(f"  survived: {mutant.module}:{mutant.line} {mutant.description}",
                          flush=True)
                if n % 25 == 0:
                    print(f"  … {n}/{len(mutants)}", flush=True)
    report(mutants, time.perf_counter() - started, args.json)


def _in_free_workdir(mutant: Mutant, free: Queue[Path], tests: list[str],
                     timeout: float) -> Mutant:
    """Run one mutant in a scratch copy no other thread is using."""
    workdir = free.get()
    try:
        return run_mutant(mutant, workdir, tests, timeout)
    finally:
        free.put(workdir)


def check_setup(workdir: Path, tests: list[str], timeout: float, module: str) -> None:
    """The unmutated copy passes, and an obviously broken one fails: the copy is what runs.
    ``module`` (the first one mutated) is the one broken: the tests surely import it."""
    if run_tests(workdir, tests, timeout) != "survived":
        sys.exit("the tests fail on the unmutated code: fix that first")
    broken = Mutant(module, 0, "broken", (ROOT / module).read_text(encoding="utf-8")
                    + "\nraise SystemExit('mutated copy imported')\n")
    if run_mutant(broken, workdir, tests, timeout).outcome == "survived":
        sys.exit(f"a broken {module} in the scratch copy went unnoticed: the copy is not used")


def report(mutants: list[Mutant], seconds: float, json_path: Path | None) -> None:
    killed = sum(m.outcome != "survived" for m in mutants)
    print(f"\nkilled {killed}/{len(mutants)} ({killed / max(len(mutants), 1):.0%}) "
          f"in {seconds / 60:.1f} min")
    survivors = [m for m in mutants if m.outcome == "survived"]
    if survivors:
        print("\n| module | line | mutation |\n|---|---|---|")
        for m in survivors:
            print(f"| {m.module} | {m.line} | {m.description} |")
    if json_path:
        rows = [{k: v for k, v in asdict(m).items() if k != "source"} for m in mutants]
        json_path.write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
