"""The one clock every use case reads (timezone-aware UTC), and times as people read them.

Stored and JSON times are UTC (``iso``: ISO 8601 with a ``Z``). Times shown to people, on a
terminal or a web page, are in the zone ``TZ`` names (``display_zone``), else the machine's,
to the second and with the zone's name: ``2024-06-19 16:10:03 CEST`` (``local_time``).
"""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(value: dt.datetime | None) -> str | None:
    """UTC time as ISO 8601 with a ``Z``, the form every JSON output and payload uses."""
    return value.isoformat().replace("+00:00", "Z") if value else None


def display_zone() -> dt.tzinfo:
    """The zone times are shown in: ``TZ`` when it names one, else the machine's."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    return dt.datetime.now().astimezone().tzinfo or dt.UTC


def local_time(value: dt.datetime | str | None, zone: dt.tzinfo | None = None) -> str:
    """``value`` (aware, or an ``iso`` string) in ``zone`` (default ``display_zone()``) as
    "2024-06-19 16:10:03 CEST": no fraction of a second, the zone's name (or its offset when
    it has none); "—" for no time."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:  # stored naive by an older SQLite row: UTC
        value = value.replace(tzinfo=dt.UTC)
    local = value.astimezone(zone or display_zone())
    return local.strftime("%Y-%m-%d %H:%M:%S ") + (local.tzname() or local.strftime("%z"))
