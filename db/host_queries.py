"""Queries over per-host rules (the ``hosts`` table), as functions over a Session.

The check reads a host's rules together with its articles (``db.queries.check_targets`` joins
them in); these serve ``tracker host set`` and ``tracker hosts``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Article, Host


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
