"""Settings from the environment and an optional TOML file.

Precedence: command-line options (applied by the CLI) > environment variables > the config file
(``$TRACKER_CONFIG`` or ``$XDG_CONFIG_HOME/tracker/config.toml``) > defaults. Every key of the
file has an environment variable: ``allow_networks`` ↔ ``TRACKER_ALLOW_NETWORKS``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from tracker import __version__


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "tracker"


def config_path() -> Path:
    explicit = os.environ.get("TRACKER_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "tracker" / "config.toml"


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    allow_private_addresses: bool = False  # deprecated: allow_networks says which
    # The address guard (tracker.netguard): comma-separated CIDRs and host names that may be
    # reached besides public addresses, and the ports that may be used ("*": any).
    allow_networks: str = ""
    allow_hosts: str = ""
    allowed_ports: str = "80,443,8080,8443"
    user_agent: str = (
        f"tracker/{__version__} (news update tracker; +https://example.invalid/tracker)"
    )
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    max_body_bytes: int = 10 * 1024 * 1024
    fast_extraction: bool = True  # skip trafilatura's fallback extractors (see extract.py)
    # Learn each site's article template and read its later pages with it (tracker.templates)
    template_learning: bool = True
    fetch_deadline: float = 60.0  # seconds for a whole fetch, however slowly bytes trickle
    max_redirects: int = 5
    per_host_concurrency: int = 2
    concurrency: int = 8
    processes: int = 2  # for large one-off passes (tracker check); capped at the core count
    default_interval: int = 600  # seconds
    min_interval: int = 10
    max_interval: int = 86_400
    keep_bodies_days: int = 90  # raw responses older than this are dropped (0 = keep none)
    keep_checks_days: int = 90  # checks older than this that stored no version are dropped
    # Ask a web archive (the Internet Archive's Save Page Now) to capture each new version
    archive_versions: bool = False
    archive_endpoint: str = "https://web.archive.org"  # GET {endpoint}/save/{url}
    # Scheduling (embedded service and Celery beat alike)
    # A claim (check, poll, delivery batch) not renewed for this long is claimed again; the
    # holder's heartbeat renews it every third of it while the work waits and runs.
    lease_seconds: int = 30
    claim_batch: int = 500  # articles claimed per tick at most
    tick_seconds: float = 0.5  # how often the Celery beat tick claims due work
    # The background service
    broker_url: str = "redis://localhost:6379/0"
    visibility_timeout: int = 3600  # Redis redelivers unacknowledged tasks after this
    max_queue_length: int = 2000  # the tick claims nothing more while this many checks wait
    # Webhooks
    secret_key: str = ""  # Fernet key(s), comma-separated: signing secrets encrypted at rest
    secret_key_file: str = ""  # without secret_key: the key file ("": data home's secret.key)
    webhook_timeout: float = 10.0
    webhook_concurrency: int = 8  # attempts in flight at a time in one process
    # After each failed attempt: seconds at first, so a receiver back from a short outage has
    # its notifications within a minute; a day in all, as Standard Webhooks suggests.
    webhook_retry_schedule: str = "5s,30s,2m,5m,30m,2h,5h,10h,10h"
    webhook_disable_after_days: float = 5.0  # an endpoint failing everything this long is off
    webhook_max_bytes: int = 256_000  # larger payloads are cut, with a marker
    # Sources (feeds and sitemaps)
    source_interval: int = 300  # seconds between polls of a feed or sitemap
    max_source_entries: int = 5000  # entries read from one feed or sitemap (index) at most
    # Following stories
    settle_after: int = 7 * 86_400  # seconds without a change before an article is "settled"
    developing_interval: int = 0  # while a page says "developing story": at most this (0: base)
    notify_threshold: int = 0  # changes of fewer words than this are stored but not notified
    failing_after: int = 5  # consecutive failed checks that make article.failing (0: never)
    # Politeness
    per_host_rate: float = 60.0  # requests per minute and host, across all workers
    rate_limit_url: str = ""  # Redis URL sharing rates between processes ("": in-process)
    robots_txt: bool = False  # obey robots.txt (cached per host)
    # The web view (tracker serve): show lead images of tracked sites without a click
    web_load_images: bool = False
    # Where people reach the web view (https://tracker.example.org): messages link the diff
    public_url: str = ""

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{data_home() / 'tracker.db'}"


_DAY = 86_400
_YEAR = 365 * _DAY
# The range of every number setting: a value outside it is refused when settings are loaded,
# with one clear line, instead of crashing a check later (an OverflowError, a rate of nan
# that switches rate limiting off). A number setting not listed must still be finite and >= 0.
BOUNDS: dict[str, tuple[float, float]] = {
    "connect_timeout": (0.01, 600), "read_timeout": (0.01, 600), "fetch_deadline": (0.01, 3600),
    "max_body_bytes": (1, 1 << 30), "max_redirects": (0, 50),
    "per_host_concurrency": (1, 256), "concurrency": (1, 256), "processes": (1, 256),
    "default_interval": (1, _YEAR), "min_interval": (1, _YEAR), "max_interval": (1, _YEAR),
    "keep_bodies_days": (0, 100 * 365), "keep_checks_days": (1, 100 * 365),
    "lease_seconds": (3, 7 * _DAY),
    "claim_batch": (1, 100_000), "tick_seconds": (0.01, 3600),
    "visibility_timeout": (1, 30 * _DAY), "max_queue_length": (1, 10_000_000),
    "webhook_timeout": (0.01, 600), "webhook_concurrency": (1, 256),
    "webhook_disable_after_days": (0, 3650), "webhook_max_bytes": (1, 64 << 20),
    "source_interval": (1, _YEAR), "max_source_entries": (1, 1_000_000),
    "settle_after": (0, 100 * _YEAR), "developing_interval": (0, _YEAR),
    "notify_threshold": (0, 1_000_000), "per_host_rate": (0, 60_000),
    "failing_after": (0, 10_000),
}
# Requests per minute to one host (setting per_host_rate, tracker host set --rate): 0 means
# unlimited for the setting; anything else lies in this range (one request every 100 min at
# the least, a thousand a second at the most).
RATE_RANGE = (0.01, 60_000.0)


def load_settings(**overrides: Any) -> Settings:
    """Settings from defaults, the config file, the environment, then ``overrides``.

    Raises ValueError with one clear line for an unknown key, a value of the wrong kind or a
    number out of its range (``BOUNDS``)."""
    values: dict[str, Any] = {}
    path = config_path()
    if path.is_file():
        import tomllib  # only with a config file: most commands run on defaults and env

        with path.open("rb") as handle:
            values.update(tomllib.load(handle))
    for field in fields(Settings):
        env = os.environ.get(f"TRACKER_{field.name.upper()}")
        if env is not None and env != "":
            values[field.name] = env
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(values) - {f.name for f in fields(Settings)}
    if unknown:
        raise ValueError(f"unknown setting(s) in {path}: {', '.join(sorted(unknown))}")
    coerced = {k: _coerce(k, v) for k, v in values.items()}
    for name, value in coerced.items():
        _check_bounds(name, value)
    return replace(Settings(), **coerced)


def _check_bounds(name: str, value: Any) -> None:
    if name == "webhook_retry_schedule":
        _check_schedule(str(value))
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    low, high = BOUNDS.get(name, (0, math.inf))
    if name == "per_host_rate" and value != 0:
        low = RATE_RANGE[0]
    if not (math.isfinite(value) and low <= value <= high):
        where = f"{name} (TRACKER_{name.upper()})"
        raise ValueError(f"{where}: {value!r} is out of range; use {number(low)} to "
                         f"{number(high)}")


def number(value: float) -> str:
    """A bound as people read it: 31536000, not 3.1536e+07."""
    if math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return f"{value:g}"


def _check_schedule(text: str) -> None:
    """Delays of webhook retries: durations of at most 30 days each, at most 50 of them."""
    from tracker.intervals import parse_duration

    parts = [part for part in text.split(",") if part.strip()]
    if len(parts) > 50:
        raise ValueError("webhook_retry_schedule: at most 50 retries")
    for part in parts:
        try:
            parse_duration(part, maximum=30 * _DAY)
        except ValueError as exc:
            raise ValueError(f"webhook_retry_schedule: {exc}") from None


def _coerce(name: str, value: Any) -> Any:
    default = getattr(Settings(), name)
    if isinstance(default, bool):
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError(f"{name}: expected a yes/no value, got {value!r}")
            return lowered in {"1", "true", "yes", "on"}
        return bool(value)
    if isinstance(default, int | float):
        try:
            return type(default)(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected a number, got {value!r}") from None
    return str(value)
