"""Logging for people and for log shippers, the same in every process (the CLI, ``tracker
run``, Celery workers and beat).

- ``configure``: one handler on standard error, text (escaped for terminals) or JSON lines
  (``--log-format json``: one object per line, ``time``, ``level``, ``logger``, ``message``,
  ``process``, and ``summary`` on summary lines). Celery's per-task lines ("Task … received",
  "… succeeded in 0.1 s") are DEBUG-only: at a check a second they were most of the volume.
- ``count``: what the per-minute summary adds up; one INFO line per minute per process that
  did something, counts by kind and outcome (``TRACKER_LOG_SUMMARY_SECONDS``, default 60).
- WARNING is for what needs a person: an endpoint failing and back, a host paused, a lease
  taken over, the rate-limiting Redis gone and back, the database gone and back.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import threading
from collections import Counter
from typing import IO, Any

log = logging.getLogger("tracker.summary")
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Log times as the rest of the output: to the second, in the zone of TZ, with its name.
TEXT_DATES = "%Y-%m-%d %H:%M:%S %Z"
# Loggers that write a line per task: shown only at DEBUG.
PER_TASK_LOGGERS = ("celery.app.trace", "celery.worker.strategy", "celery.worker.request")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, ASCII only (so no byte from the web can break the line or
    act on a terminal)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname, "logger": record.name,
            "message": record.getMessage(), "process": record.process,
        }
        summary = getattr(record, "summary", None)
        if summary is not None:
            data["summary"] = summary
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=True, default=str)


def level_of(value: int | str | None, default: int = logging.INFO) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip():
        found = logging.getLevelName(value.strip().upper())
        if isinstance(found, int):
            return found
    return default


def configure(level: int | str | None, fmt: str | None = None, *,
              stream: IO[str] | None = None) -> None:
    """Send every log line to standard error (or ``stream``) at ``level``, as ``fmt`` says
    (default: ``$TRACKER_LOG_FORMAT``, else text)."""
    from tracker.terminal import TerminalFormatter

    fmt = (fmt or os.environ.get("TRACKER_LOG_FORMAT") or "text").lower()
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: choose text or json")
    handler = logging.StreamHandler(stream or sys.stderr)
    text = TerminalFormatter(TEXT_FORMAT, TEXT_DATES)
    handler.setFormatter(JsonFormatter() if fmt == "json" else text)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    numeric = level_of(level)
    root.setLevel(numeric)
    quiet = numeric if numeric <= logging.DEBUG else logging.WARNING
    for name in (*PER_TASK_LOGGERS, "httpx", "httpcore"):
        logging.getLogger(name).setLevel(quiet)


# --- the per-minute summary ------------------------------------------------------------------


class Summary:
    """Counts by (kind, outcome) since the last summary line of this process."""

    def __init__(self, every: float) -> None:
        self.every = every
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._pid = 0
        self._stop = threading.Event()

    def count(self, kind: str, outcome: str) -> None:
        with self._lock:
            self._counts[(kind, outcome)] += 1
            if self._pid != os.getpid():  # first count in this process (or after a fork)
                self._pid = os.getpid()
                self._stop = threading.Event()
                threading.Thread(target=self._run, args=(self._stop,), name="log-summary",
                                 daemon=True).start()

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.every):
            self.flush()

    def flush(self) -> None:
        """Log the counts so far as one INFO line (nothing when nothing happened)."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
        if not counts:
            return
        summary: dict[str, dict[str, int]] = {}
        for (kind, outcome), n in sorted(counts.items()):
            summary.setdefault(kind, {})[outcome] = n
        log.info("last %.0f s: %s", self.every, summary_text(summary),
                 extra={"summary": summary})

    def stop(self) -> None:
        self._stop.set()


def summary_text(summary: dict[str, dict[str, int]]) -> str:
    """``checks 120 (100 not_modified, 20 unchanged); deliveries 3 (3 delivered)``."""
    parts = []
    for kind, outcomes in summary.items():
        detail = ", ".join(f"{n} {outcome}" for outcome, n in outcomes.items())
        parts.append(f"{kind} {sum(outcomes.values())} ({detail})")
    return "; ".join(parts)


def _every() -> float:
    try:
        return max(0.1, float(os.environ.get("TRACKER_LOG_SUMMARY_SECONDS") or 60))
    except ValueError:
        return 60.0


SUMMARY = Summary(_every())


def count(kind: str, outcome: str) -> None:
    """One piece of work of ``kind`` (checks, deliveries) ended in ``outcome``."""
    SUMMARY.count(kind, outcome)
