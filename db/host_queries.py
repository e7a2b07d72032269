"""Queries over per-host rules (the ``hosts`` table), as functions over a Session.

The check reads a host's rules together with its articles (``db.queries.check_targets`` joins
them in); these serve ``tracker host set`` and ``tracker hosts``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Article, Host, HostTemplate


def host_by_name(session: Session, host: str) -> Host | None:
    return session.get(Host, host)


def save_host(session: Session, host: str, values: dict[str, Any], now: dt.datetime) -> Host:
    """Create or update a host's rules with ``values`` (column name → value)."""
    row = session.get(Host, host)
    if row is None:
        row = Host(host=host, ignore_patterns=[], ignore_selectors=[], updated_at=now)
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = now
    session.flush()
    return row


def delete_host(session: Session, host: str) -> bool:
    row = session.get(Host, host)
    if row is None:
        return False
    session.delete(row)
    return True


def list_hosts(session: Session) -> list[Host]:
    return list(session.scalars(select(Host).order_by(Host.host)))


def article_counts(session: Session) -> dict[str, int]:
    """Tracked articles per host."""
    statement = select(Article.host, func.count()).group_by(Article.host)
    return {host: int(count) for host, count in session.execute(statement)}


def versioned_article_ids(session: Session, host: str) -> list[int]:
    """The articles on ``host`` that have a stored version (those a rule change affects)."""
    statement = select(Article.id).where(Article.host == host, Article.version_count > 0)
    return list(session.scalars(statement.order_by(Article.id)))


def host_template(session: Session, host: str) -> HostTemplate | None:
    return session.get(HostTemplate, host)


def host_templates(session: Session) -> dict[str, HostTemplate]:
    return {row.host: row for row in session.scalars(select(HostTemplate))}


def save_template(
    session: Session, host: str, values: dict[str, Any], counts: dict[str, int],
    now: dt.datetime,
) -> None:
    """Set a host's template record to ``values`` and add ``counts`` (pages, verified,
    failed) to its counters, creating it if need be."""
    row = session.get(HostTemplate, host, with_for_update=True)
    if row is None:
        row = HostTemplate(host=host, trusted=False, pages=0, verified=0, failed=0)
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    for name, count in counts.items():
        setattr(row, name, (getattr(row, name) or 0) + count)
    row.updated_at = now
    session.flush()
