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

# isort: off
# Each module registers its commands when imported: this order is the order of `tracker --help`.
from tracker.cli import articles, changes, extract, hosts, sources  # noqa: F401
from tracker.cli import embedded, notify, service, data  # noqa: F401

# isort: on
from tracker.cli.common import cli

__all__ = ["cli", "main"]


def main() -> None:
    cli()
