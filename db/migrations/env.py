"""Alembic environment: runs on a connection handed in by db.session.upgrade, or on its own
from ``alembic -c db/alembic.ini …`` with ``TRACKER_DATABASE_URL``."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, text

from db.models import Base
from db.session import make_engine

config = context.config
target_metadata = Base.metadata
# Two processes starting on an empty PostgreSQL database must not both create the tables.
_PG_LOCK = 7_202_611


def run(connection: Connection) -> None:
    is_pg = connection.dialect.name == "postgresql"
    if is_pg:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    url = os.environ.get("TRACKER_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set TRACKER_DATABASE_URL to the database to migrate")
    engine = make_engine(url, create=True)  # migrating is asking for the database
    with engine.begin() as connection:
        run(connection)


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
main()
