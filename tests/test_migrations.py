"""Migrations and models cannot drift apart, and the schema can go down and up again."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from db.models import Base
from db.session import HEAD_REVISION, alembic_config, current_revision, make_engine, upgrade


def test_head_revision_constant_is_alembics_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_current_head() == HEAD_REVISION


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_partial_indexes_are_partial_in_models_and_migrations(database_url: str) -> None:
    """Alembic's comparison above ignores an index's condition. The models' partial indexes
    (on PostgreSQL with the conditions ``db.models.for_postgresql`` gives them when a
    PostgreSQL engine is made) are the migrated database's."""
    engine = make_engine(database_url)
    dialect = engine.dialect.name
    try:
        inspector = inspect(engine)
        migrated = {index["name"] for table in Base.metadata.tables
                    for index in inspector.get_indexes(table)
                    if index.get("dialect_options", {}).get(f"{dialect}_where") is not None}
    finally:
        engine.dispose()
    modelled = {index.name for table in Base.metadata.tables.values() for index in table.indexes
                if index.dialect_options[dialect]["where"] is not None}
    assert "ix_articles_due" in modelled
    assert modelled == migrated


def test_downgrade_to_nothing_and_upgrade_again(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        config = alembic_config(database_url)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == HEAD_REVISION
    finally:
        engine.dispose()
