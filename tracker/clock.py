"""The one clock every use case reads: timezone-aware UTC."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(value: dt.datetime | None) -> str | None:
    """UTC time as ISO 8601 with a ``Z``, the form every JSON output and payload uses."""
    return value.isoformat().replace("+00:00", "Z") if value else None
