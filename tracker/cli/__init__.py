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

import sys
from typing import Any

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


def main() -> None:
    """Run the command line. Typer builds a Click command from the signature of every command
    at each start (about a third of a read command's start-up); a process runs one command,
    so only that one is built when the arguments name it. Help on the whole command line,
    a group and an unknown name get everything, as before."""
    command = _invoked(sys.argv[1:])
    if command is None:
        cli()
        return
    commands, groups = cli.registered_commands, cli.registered_groups
    cli.registered_commands, cli.registered_groups = [command], []
    try:
        cli()
    finally:
        cli.registered_commands, cli.registered_groups = commands, groups


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
