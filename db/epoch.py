"""Times as SQLite stores the frequent ones (``db.models.CompactUTCDateTime``): integer
microseconds since 1970, UTC. No SQLAlchemy here: ``db.reads`` binds and reads them on the
stdlib driver too."""

from __future__ import annotations

import datetime as dt

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def micros(value: dt.datetime) -> int:
    """An aware datetime as microseconds since 1970 (exact: no float on the way)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return (value - EPOCH) // _MICROSECOND


def from_micros(value: int) -> dt.datetime:
    return EPOCH + value * _MICROSECOND
