"""The background service: ``tracker worker`` and ``tracker beat`` hand over to Celery, and
``tracker status`` says whether tracker keeps up."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from tracker.cli.common import (
    ListFormat,
    MetricsOption,
    call,
    cli,
    emit,
    fail,
    metrics_address,
    open_app,
    state,
)

if TYPE_CHECKING:
    pass


@cli.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(min=1, max=256, help="Worker processes "
                                                    "(default: the CPUs this container or "
                                                    "machine may use).")] = None,
    queues: Annotated[str, typer.Option(help="Comma-separated queues to consume.")] =
        "fetch,deliver,housekeeping",
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    name: Annotated[str | None, typer.Option("--name", "-n", help="Node name, unique per "
                                             "worker (default celery@HOSTNAME; %h is the host "
                                             "name), e.g. fetch1@%h.")] = None,
    metrics_port: MetricsOption = None,
) -> None:
    """Start a Celery worker of the background service (needs the 'worker' extra).

    The same as: celery -A workers worker -Q fetch,deliver,housekeeping"""
    from tracker.service import available_cpus

    args = ["worker", "-Q", queues, "-l", loglevel, "--without-gossip", "--without-mingle",
            "--concurrency", str(concurrency or available_cpus())]
    if name:
        args += ["--hostname", name]
    _metrics_environment(metrics_port, multiprocess=True)
    _exec_celery(args)


@cli.command()
def beat(
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    check: Annotated[bool, typer.Option("--check", help="Do not start: exit 0 while this "
                                        "host's beat ticks (its last tick younger than 3 "
                                        "ticks), 1 otherwise (a health check).")] = False,
    metrics_port: MetricsOption = None,
) -> None:
    """Start the Celery beat scheduler, which runs the tick that claims due articles.

    The same as: celery -A workers beat. Running two is safe (claims never overlap)."""
    from tracker.config import data_home

    if check:
        from tracker.health import beat_health

        healthy, why = beat_health(open_app().settings)
        typer.echo(why)
        raise typer.Exit(0 if healthy else 1)

    data_home().mkdir(parents=True, exist_ok=True)
    schedule = os.environ.get("TRACKER_BEAT_SCHEDULE") or str(data_home() / "celerybeat-schedule")
    _metrics_environment(metrics_port, multiprocess=False)
    _exec_celery(["beat", "-l", loglevel, "--schedule", schedule])


def _metrics_environment(metrics_port: str | None, *, multiprocess: bool) -> None:
    """Tell the Celery process this one becomes where to serve metrics (workers/observe.py);
    a worker's pool processes share a fresh prometheus-client directory."""
    from tracker.service import METRICS_ENV, MULTIPROC_ENV, multiprocess_directory

    if not metrics_port:
        os.environ.pop(METRICS_ENV, None)
        return
    address = metrics_address(metrics_port)
    os.environ[METRICS_ENV] = f"[{address.host}]:{address.port}"
    if multiprocess:
        os.environ[MULTIPROC_ENV] = multiprocess_directory()


# Started by _exec_celery. The project's packages are imported first, while the current
# directory is not on sys.path (python -P): Celery puts it there to find the app, and a folder
# holding a `tracker/`, `workers/` or `db/` directory must not stand in for the installed ones.
_CELERY_BOOTSTRAP = "import db, tracker, workers\nfrom celery.__main__ import main\nmain()"


def _exec_celery(args: list[str]) -> None:
    """Hand the process over to Celery with the project's app (tracker never imports it)."""
    import importlib.util

    if importlib.util.find_spec("celery") is None:
        fail("Celery is not installed: pip install 'tracker[worker]'")
    if state.get("db"):
        os.environ["TRACKER_DATABASE_URL"] = state["db"]
    sys.stdout.flush()
    command = [sys.executable, "-P", "-c", _CELERY_BOOTSTRAP, "-A", "workers", *args]
    os.execv(sys.executable, command)  # noqa: S606 - a fixed argument list


@cli.command()
def status(
    format: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.text,
) -> None:
    """Is tracker keeping up? Articles due, overdue, in progress, stranded; checks per second
    and lag; deliveries waiting per endpoint; Redis, PostgreSQL, the beat's tick.

    Exit status: 0 healthy, 1 degraded, 2 down (docs/operations.md)."""
    from tracker.status import Health
    from tracker.status import status as read_status

    data = call(read_status, open_app())
    from tracker.cli.output import print_status

    emit(data, format, lambda console: print_status(console, data))
    raise typer.Exit(Health[data["health"]].value)
