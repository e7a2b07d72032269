"""Running the ``tracker`` command as a user or a cron job would.

``tracker()`` runs a command to its end and returns what a subprocess would: its exit status,
standard output and standard error. By default it runs the command in this process through
Click's test runner (a new process costs about half a second: Python, SQLAlchemy, Typer),
under the same environment, working directory and a fresh database engine, with the logging,
signal and environment state of the test process put back afterwards; an exception that
escapes the command becomes a traceback on standard error and exit status 1, as in a process.
``TRACKER_TEST_CLI=subprocess`` runs every such command in a real process instead (a thorough
run, docs/testing.md). Long-running commands (run, serve, worker, beat) always get a process;
tests about the process itself (the entry point, signals, start-up) use ``TRACKER`` directly.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

TRACKER = [sys.executable, "-m", "tracker.cli"]
ROOT = Path(__file__).resolve().parent.parent
IN_PROCESS = os.environ.get("TRACKER_TEST_CLI", "inprocess") != "subprocess"
LONG_RUNNING = frozenset({"run", "serve", "worker", "beat"})


def environment(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    # TRACKER_PER_HOST_RATE=0: the test site is one host, unlimited unless a test says so.
    env.update(TRACKER_DATABASE_URL=database_url, TRACKER_ALLOW_NETWORKS="127.0.0.0/8",
               TRACKER_ALLOWED_PORTS="*",
               NO_COLOR="1", TRACKER_PER_HOST_RATE="0", **extra)
    return env


def tracker(
    database_url: str, *args: str, input: str | None = None, check: bool = True,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    result = run_tracker(list(args), environment(database_url), input=input, timeout=timeout)
    # `tracker diff` exits 1 when the inputs differ, as diff(1): that is no failure.
    succeeded = (0, 1) if args[:1] == ("diff",) else (0,)
    if check and result.returncode not in succeeded:
        raise AssertionError(
            f"tracker {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


def tracker_json(database_url: str, *args: str) -> Any:
    return json.loads(tracker(database_url, *args, "--format", "json").stdout)


def run_tracker(
    args: list[str], env: dict[str, str], *, input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``tracker ARGS`` under ``env`` to its end: in this process unless TRACKER_TEST_CLI says
    otherwise or the command runs until stopped."""
    # In-process runs swap the process's streams, environment and working directory: only the
    # main thread may do that, so a test running commands side by side in threads gets
    # processes, as a race between two commands needs anyway.
    if IN_PROCESS and not LONG_RUNNING & set(args) and _main_thread():
        return in_process(args, env, input)
    return subprocess.run([*TRACKER, *args], capture_output=True, text=True, input=input,
                          timeout=timeout, env=env, cwd=ROOT)


def in_process(
    args: list[str], env: dict[str, str], input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``tracker ARGS`` in this process with exactly ``env`` as its environment, as
    ``subprocess.run`` would report it."""
    from typer.testing import CliRunner

    from db import session
    from tracker.cli import cli

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_logging = _logging_state()
    saved_signals = {number: signal.getsignal(number) for number in _SIGNALS}
    saved_engines = dict(session._engines)
    session._engines.clear()  # a process of its own would open the database afresh
    os.environ.clear()
    os.environ.update(env)
    time.tzset()  # TZ as the process would have read it at start
    os.chdir(ROOT)
    try:
        result = CliRunner().invoke(cli, args, input=input, prog_name="tracker")
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        time.tzset()
        for number, handler in saved_signals.items():
            signal.signal(number, handler)
        _restore_logging(saved_logging)
        for engine in session._engines.values():
            engine.dispose()
        session._engines.clear()
        session._engines.update(saved_engines)
    stderr, status = result.stderr, result.exit_code
    if result.exc_info is not None and not isinstance(result.exc_info[1], SystemExit):
        stderr += "".join(traceback.format_exception(*result.exc_info))  # as Python prints it
        status = 1
    return subprocess.CompletedProcess([*TRACKER, *args], status, result.stdout, stderr)


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _logging_state() -> dict[logging.Logger, tuple[int, list[logging.Handler], bool, bool]]:
    loggers = [logging.getLogger()] + [
        logger for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    return {
        logger: (logger.level, list(logger.handlers), logger.propagate, logger.disabled)
        for logger in loggers
    }


def _restore_logging(
    state: dict[logging.Logger, tuple[int, list[logging.Handler], bool, bool]],
) -> None:
    """Put levels and handlers back: a command's handlers write to its captured streams."""
    for logger in [logging.getLogger(), *logging.root.manager.loggerDict.values()]:
        if not isinstance(logger, logging.Logger):
            continue
        level, handlers, propagate, disabled = state.get(logger, (logging.NOTSET, [], True,
                                                                  False))
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate, logger.disabled = propagate, disabled
