"""What the service commands (``tracker worker``, ``beat``, ``run``) prepare before they
start: the CPUs a container really has, and the metrics server's address and directory."""

from __future__ import annotations

import glob
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client reads it (tracker.metrics)

# Read by the Celery processes (workers/observe.py): where to serve metrics, how to log.
METRICS_ENV = "TRACKER_METRICS_ADDRESS"
LOG_FORMAT_ENV = "TRACKER_LOG_FORMAT"


def available_cpus(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """CPUs this process may use: the CPU affinity, capped by a cgroup v2 quota (``cpu.max``,
    what ``docker run --cpus`` and Compose's ``cpus`` set), at least 1. ``os.cpu_count()``
    counts the host's CPUs, which a container's quota may be far below."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        if quota != "max" and int(period) > 0:
            cpus = min(cpus, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def multiprocess_directory() -> str:
    """A directory for prometheus-client's per-process files, emptied: ``$PROMETHEUS_MULTIPROC_DIR``
    if set, else a new temporary one. Set in the environment before Celery starts, so every
    pool process inherits it (the library reads it when it is imported)."""
    chosen = os.environ.get(MULTIPROC_ENV)
    if chosen:
        Path(chosen).mkdir(parents=True, exist_ok=True)
        for stale in glob.glob(os.path.join(chosen, "*.db")):  # a previous run's values
            os.remove(stale)
    else:
        chosen = tempfile.mkdtemp(prefix="tracker-metrics-")
    return chosen


def remove_directory(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class MetricsAddress:
    host: str
    port: int


def metrics_address(text: str) -> MetricsAddress:
    """``9100``, ``0.0.0.0:9100`` or ``[::1]:9100``; the host defaults to 127.0.0.1."""
    from tracker.errors import TrackerError

    host, _, port = text.strip().rpartition(":")
    if not port.isdigit() or not 0 < int(port) <= 65_535:
        raise TrackerError(f"--metrics-port {text!r}: write it as PORT or HOST:PORT, "
                           "e.g. 0.0.0.0:9100")
    return MetricsAddress(host.strip("[]") or "127.0.0.1", int(port))
