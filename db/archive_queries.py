"""Queries of web-archive captures (``archive_captures``): which new versions to capture,
claiming due captures, recording what the archive answered."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, insert, select, update
from sqlalchemy.orm import Session

from db.models import ArchiveCapture, Article, Version


def enqueue_new(session: Session, since: dt.datetime, now: dt.datetime) -> int:
    """A pending capture for each version fetched since ``since`` that has none yet."""
    statement = (
        select(Version.id, Article.url)
        .join(Article, Article.id == Version.article_id)
        .where(Version.fetched_at >= since)
        .where(~exists().where(ArchiveCapture.version_id == Version.id))
    )
    rows = [{"version_id": version_id, "url": url, "state": "pending", "attempts": 0,
             "next_attempt_at": now, "requested_at": now}
            for version_id, url in session.execute(statement)]
    if rows:
        session.execute(insert(ArchiveCapture), rows)
    return len(rows)


def claim_due(
    session: Session, now: dt.datetime, lease_until: dt.datetime, limit: int
) -> list[tuple[int, str, int]]:
    """(version id, url, attempts so far) of up to ``limit`` due captures, each moved to
    ``lease_until`` so no other process takes it meanwhile (``SKIP LOCKED`` on PostgreSQL)."""
    statement = (
        select(ArchiveCapture.version_id, ArchiveCapture.url, ArchiveCapture.attempts)
        .where(ArchiveCapture.state == "pending", ArchiveCapture.next_attempt_at <= now)
        .order_by(ArchiveCapture.next_attempt_at, ArchiveCapture.version_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claims = [(row.version_id, row.url, row.attempts) for row in session.execute(statement)]
    if claims:
        session.execute(
            update(ArchiveCapture)
            .where(ArchiveCapture.version_id.in_([c[0] for c in claims]))
            .values(next_attempt_at=lease_until)
        )
    return claims


def record(session: Session, version_id: int, **values: Any) -> None:
    session.execute(
        update(ArchiveCapture).where(ArchiveCapture.version_id == version_id).values(**values)
    )


def capture_urls(session: Session, version_ids: Sequence[int]) -> dict[int, str]:
    """Where the archive keeps each of these versions, for those it has captured."""
    statement = select(ArchiveCapture.version_id, ArchiveCapture.capture_url).where(
        ArchiveCapture.version_id.in_(list(version_ids)), ArchiveCapture.state == "captured"
    )
    return {v: url for v, url in session.execute(statement) if url}
