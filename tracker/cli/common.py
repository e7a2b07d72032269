"""What every command shares: the ``cli`` Typer object and its global options, the formats,
the exit statuses, the App for a command, errors turned into one line, and output.

Heavy modules are imported inside the functions that use them (see ``tracker.cli``).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer

if TYPE_CHECKING:
    from tracker.app import App

P = ParamSpec("P")
R = TypeVar("R")

cli = typer.Typer(
    name="tracker",
    help="Watch developing news stories and report exactly what changed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Click's plain help and usage errors: typer's rich panels import Markdown and syntax
    # highlighting, about half of `tracker --help`'s time (docs/benchmarks.md, start-up).
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Format(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


class ListFormat(StrEnum):
    text = "text"
    json = "json"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


MetricsOption = Annotated[
    str | None,
    typer.Option("--metrics-port", metavar="[HOST:]PORT", help="Serve Prometheus metrics on "
                 "http://HOST:PORT/metrics (host default 127.0.0.1; docs/operations.md).",
                 show_default=False),
]


state: dict[str, Any] = {}
# Exit statuses (docs/usage.md): 0 success; 1 an error said in one line (bad input, database);
# 2 a command-line usage error (Click's own); 3 tracker check: some checks or polls failed.
EXIT_ERROR = 1
EXIT_CHECKS_FAILED = 3
# tracker diff only, as diff(1): 1 the inputs differ, 2 trouble (also for bad input).
EXIT_DIFFERENT = 1
EXIT_DIFF_TROUBLE = 2

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL: sqlite:///PATH or postgresql://USER@HOST/NAME "
                 "(default: $TRACKER_DATABASE_URL, then a SQLite file in "
                 "~/.local/share/tracker/). A new SQLite file is made only by "
                 "'tracker migrate'.", show_default=False),
]


@cli.callback()
def _main(
    db: DbOption = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True,
                                         help="More log output (-vv for debug).")] = 0,
    log_format: Annotated[LogFormat | None, typer.Option(
        "--log-format", help="Log lines as text, or as JSON objects for log shippers "
        "(default: $TRACKER_LOG_FORMAT, else text).", show_default=False)] = None,
) -> None:
    from tracker import logs

    state["db"], state["verbose"] = db, verbose
    if log_format is not None:  # also for the Celery processes a command hands over to
        os.environ["TRACKER_LOG_FORMAT"] = log_format.value
    try:
        logs.configure(max(logging.WARNING - 10 * verbose, logging.DEBUG))
    except ValueError as exc:  # a TRACKER_LOG_FORMAT that is neither
        fail(str(exc))


def open_app(*, create: bool = False) -> App:
    from tracker.app import App
    from tracker.config import load_settings

    try:
        settings = load_settings(database_url=state.get("db"))
    except ValueError as exc:
        fail(str(exc))
    # Only the default database is made on first use; another one is made by `tracker migrate`
    # or by a command whose point is to fill a new database (`create`: `tracker import`).
    return App(settings, create_database=create or not settings.database_url)


def fail(message: str) -> NoReturn:
    from tracker.terminal import printable

    typer.echo(f"tracker: error: {printable(message)}", err=True)
    raise typer.Exit(EXIT_ERROR)


def call(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Call a use case, turning the errors meant for users, and database errors, into one
    clear line (exit status 1)."""
    from tracker.errors import TrackerError

    try:
        return function(*args, **kwargs)
    except (TrackerError, ValueError) as exc:
        fail(str(exc))
    except Exception as exc:
        problem = _database_problem(exc)
        if problem is None:
            raise
        logging.getLogger("tracker").debug("database error", exc_info=True)
        fail(problem)


def _database_problem(exc: Exception) -> str | None:
    """One line for a database error, None for anything else. Looked up in sys.modules: a
    command that never touched the database has not imported SQLAlchemy, and need not."""
    driver = sys.modules.get("sqlite3")  # the read path's (db.reads), without SQLAlchemy
    if driver is not None and isinstance(exc, driver.Error):
        return _sqlite_problem(exc)
    session = sys.modules.get("db.session")
    errors = sys.modules.get("sqlalchemy.exc")
    if session is None or not (isinstance(exc, session.DatabaseProblem) or (
            errors is not None and isinstance(exc, errors.SQLAlchemyError))):
        return None
    return str(session.explain(exc))


def _sqlite_problem(exc: Exception) -> str:
    """``db.session.explain``'s line for an error of stdlib ``sqlite3`` (``db.reads``)."""
    from db.errors import explain_driver_error

    return explain_driver_error(exc)


def print_json(data: Any) -> None:
    from tracker.terminal import json_text

    typer.echo(json_text(data))


def echo(text: str) -> None:
    """One line that may hold text from the web or a user: printed with controls escaped."""
    from tracker.terminal import printable

    typer.echo(printable(text))


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, emoji=False)


def emit(data: Any, format: StrEnum, text: Callable[[Any], object]) -> None:
    """A command's result on standard output: with ``--format json`` the data as JSON (the
    documented shape, docs/json.md), otherwise ``text(console)`` prints it for people (with
    the renderers of ``tracker.cli.output``, which import rich only then)."""
    if format == "json":
        print_json(data)
        return
    text(console())


def color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def metrics_address(text: str) -> Any:
    from tracker.service import metrics_address as parse

    return call(parse, text)
