"""Running the real ``tracker`` command in a subprocess, as a user or a cron job would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

TRACKER = [sys.executable, "-m", "tracker.cli"]
ROOT = Path(__file__).resolve().parent.parent


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
    result = subprocess.run(
        [*TRACKER, *args], capture_output=True, text=True, input=input, timeout=timeout,
        env=environment(database_url), cwd=ROOT,
    )
    # `tracker diff` exits 1 when the inputs differ, as diff(1): that is no failure.
    succeeded = (0, 1) if args[:1] == ("diff",) else (0,)
    if check and result.returncode not in succeeded:
        raise AssertionError(
            f"tracker {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


def tracker_json(database_url: str, *args: str) -> Any:
    return json.loads(tracker(database_url, *args, "--format", "json").stdout)
