"""The ``tracker`` command line.

Heavy modules (SQLAlchemy, httpx, trafilatura) are imported inside the commands that use them,
so ``tracker --help`` and a diff of two text files start fast. Errors meant for the user
(``TrackerError``, bad arguments) and database errors print one clear line and exit 1; nothing
else is caught. ``tracker check`` exits 3 when a check failed (docs/usage.md). Everything
printed that may come from the web goes through ``tracker.terminal``.

One module per group of commands; ``common`` holds the ``cli`` Typer object, the global
options, the formats and exit statuses, and the helpers every command uses (``call`` turns
errors into one line, ``emit`` prints JSON or text). Importing a module registers its commands,
in the order ``tracker --help`` lists them.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from pathlib import Path
from typing import Any, NoReturn

from typer.main import get_command_name

# isort: off
# Each module registers its commands when imported: this order is the order of `tracker --help`.
from tracker.cli import articles, changes, extract, hosts, sources  # noqa: F401
from tracker.cli import embedded, notify, service, data  # noqa: F401

# isort: on
from tracker.cli.common import cli

__all__ = ["cli", "main"]

# The global options that take a value (the word after them is not the command's name).
_VALUED = frozenset({"--db", "--log-format"})
# The commands that leave without the interpreter's teardown when they are the program
# (``_leave``): all they write goes to standard output, standard error and the database.
_LEAVE_AT_ONCE = frozenset({"check", "list", "changes", "show", "history", "diff"})


def main() -> None:
    """Run the command line. Typer builds a Click command from the signature of every command
    at each start (about a third of a read command's start-up); a process runs one command,
    so only that one is built when the arguments name it. Help on the whole command line,
    a group and an unknown name get everything, as before."""
    command = _invoked(sys.argv[1:])
    if command is None:
        cli()
        return
    if _name(command) in _LEAVE_AT_ONCE and _is_the_program():
        try:
            _run(command)
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                _leave(exc.code or 0)
            raise
        _leave(0)
    _run(command)


def _run(command: Any) -> None:
    commands, groups = cli.registered_commands, cli.registered_groups
    cli.registered_commands, cli.registered_groups = [command], []
    try:
        cli()
    finally:
        cli.registered_commands, cli.registered_groups = commands, groups


def _is_the_program() -> bool:
    """Whether this process is the ``tracker`` command (its console script, or ``python -m
    tracker.cli``), not a test, profiler or launcher that calls ``main`` and goes on."""
    program = sys.modules.get("__main__")
    spec = getattr(program, "__spec__", None)
    if spec is not None:
        return bool(spec.name == "tracker.cli.__main__")
    return Path(getattr(program, "__file__", None) or "").stem == "tracker"


def _leave(code: int) -> NoReturn:
    """End the process without the interpreter's teardown: freeing the modules and objects of
    a process that imported SQLAlchemy and httpx costs about 0.12 s of CPU (0.2 s of wall
    after a 1,000-article pass), a third of `tracker check`'s fixed cost, for memory the
    system takes back anyway. What a normal exit does that is seen outside is done first:
    the atexit functions (logging's flush, multiprocessing's clean-up, temporary
    directories), closing the database engines (SQLite folds its write-ahead log into the
    file), flushing standard output and error. A thread still running, or an output that
    cannot be flushed (a closed pipe), takes the normal exit, which deals with them as
    before."""
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.main_thread()):  # fmt: skip
        sys.exit(code)
    atexit._run_exitfuncs()
    session = sys.modules.get("db.session")
    if session is not None:
        session.close_engines()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(code)


def _invoked(args: list[str]) -> Any:
    """The registered command the arguments run, None when it is not one plain command."""
    position = 0
    while position < len(args):
        arg = args[position]
        if arg in _VALUED:
            position += 2
        elif arg == "--help" or (arg.startswith("-") and not arg.startswith("--") and "h" in arg):
            return None
        elif arg.startswith("-"):
            position += 1
        else:
            return next((info for info in cli.registered_commands if _name(info) == arg), None)
    return None


def _name(info: Any) -> str:
    """A registered command's name, as Typer gives it."""
    return str(info.name or get_command_name(getattr(info.callback, "__name__", "")))
