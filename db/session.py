"""Engines, sessions and the schema upgrade that runs on first use.

One engine per process and URL (``get_engine``). What is particular to SQLite (its pragmas, real
transactions, ``BEGIN IMMEDIATE`` for sessions that will write after reading, and the write
gate that hands the file from writer to writer) is fenced in ``db.sqlite``.

A database URL is checked before anything connects (``DatabaseProblem``: a path given where a
URL belongs, a database tracker does not support), and a SQLite file is created only when the
caller says so (``create=True``): a mistyped path must fail, not start an empty database.
Created files and directories are the owner's only (0600, 0700): they hold webhook secrets.
``explain`` turns any database error into one line for people.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, inspect, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from db import jsontext, sqlite
from db.errors import DatabaseProblem as DatabaseProblem
from db.errors import explain_driver_error
from db.reads import HEAD_REVISION as HEAD_REVISION

# HEAD_REVISION, the newest migration, is defined in db.reads (whose stdlib read path checks
# it too). Checked against the alembic_version table with one query, so a process opening an
# up-to-date database never imports Alembic (tests/test_migrations.py keeps it equal to
# Alembic's head).
MIGRATIONS = Path(__file__).parent / "migrations"
_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def get_engine(url: str, *, create: bool = False) -> Engine:
    """The process-wide engine for ``url``, created and upgraded to the newest schema once;
    ``create``: a SQLite file that does not exist yet is made (else DatabaseProblem)."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = make_engine(url, create=create)
            try:
                upgrade(engine)
            except BaseException:
                engine.dispose()  # not kept: the next use tries again, and may say why again
                raise
            _engines[url] = engine
        return engine


def close_engines() -> None:
    """Close every engine's connections (a process about to end without its teardown: the
    last connection to a SQLite file folds the write-ahead log into it)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def forget_engines() -> None:
    """In a forked process: drop the parent's engines without closing their connections,
    which still belong to the parent (SQLAlchemy's recipe for multiprocessing)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose(close=False)
        _engines.clear()


_DRIVERS = {"sqlite": "sqlite", "sqlite+pysqlite": "sqlite", "postgresql": "postgresql",
            "postgres": "postgresql", "postgresql+psycopg": "postgresql"}


def make_engine(url: str, *, create: bool = False) -> Engine:
    """An engine for ``url`` (SQLite or PostgreSQL). ``create``: make the SQLite file and its
    directory when missing; without it a missing file is a DatabaseProblem."""
    parsed = check_url(url)
    if parsed.get_backend_name() == "sqlite":
        return sqlite.sqlite_engine(url, create=create)
    from db.models import for_postgresql

    for_postgresql()
    url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20,
                         json_serializer=jsontext.dumps)


def check_url(url: str) -> Any:
    """The parsed URL, or a DatabaseProblem saying what is wrong with it."""
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        if url.startswith(("/", "~", ".")) or url.endswith((".db", ".sqlite", ".sqlite3")):
            path = Path(url).expanduser().absolute()
            raise DatabaseProblem(f"{url!r} is a path, not a database URL: for a SQLite file "
                                  f"write sqlite:///{path}") from None
        shown = re.sub(r"(//[^/:@]*:)[^@/]*@", r"\1***@", url)  # no password in messages
        raise DatabaseProblem(f"{shown!r} is not a database URL (write sqlite:///PATH or "
                              "postgresql://USER@HOST/DATABASE)") from None
    kind = _DRIVERS.get(parsed.drivername)
    if kind is None:
        raise DatabaseProblem(f"{parsed.drivername}:// databases are not supported: tracker "
                              "works with SQLite (sqlite:///PATH) and PostgreSQL "
                              "(postgresql://USER@HOST/DATABASE)")
    if kind == "sqlite" and not parsed.database:
        raise DatabaseProblem(f"{url!r} names no file: write sqlite:///PATH")
    return parsed.set(drivername=kind)


def explain(exc: BaseException) -> str:
    """A database error in one line for people: the driver's own first line, with a hint where
    the cause is a common one (any other exception: its type and first line)."""
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, DatabaseProblem):
        return str(exc)
    if not isinstance(exc, SQLAlchemyError):
        first = (str(exc).strip().splitlines() or [""])[0]
        return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return explain_driver_error(getattr(exc, "orig", None) or exc)


def sessions(engine: Engine, *, write: bool = False) -> sessionmaker[Session]:
    """A session factory; ``write=True`` for read-then-write units of work."""
    bind = sqlite.for_writing(engine) if write else engine
    # No autoflush: units of work here flush where they need ids, and an automatic flush
    # before every query cost a third of a check's database time.
    return sessionmaker(bind=bind, expire_on_commit=False, autoflush=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Commit on success, roll back on any error, always close."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def current_revision(engine: Engine) -> str | None:
    """The schema revision, None for a database without one. One query when the table is
    there (every start of a command); the inspector only after that query failed."""
    from sqlalchemy.exc import DBAPIError

    with engine.connect() as connection:
        try:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except DBAPIError:
            connection.rollback()
            if inspect(connection).has_table("alembic_version"):
                raise  # the table is there: the failure is something else (a lock, a fault)
            return None


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration; a no-op when it is there already. A database
    at a revision this code does not know (made by a newer tracker) is a DatabaseProblem."""
    current = current_revision(engine)
    if current == HEAD_REVISION:
        return
    from alembic import command
    from alembic.script import ScriptDirectory

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    if current is not None and current not in known:
        raise DatabaseProblem(
            f"the database is at schema revision {current!r}, which this tracker does not know "
            f"(its newest is {HEAD_REVISION!r}): it was written by a newer tracker; upgrade "
            "tracker, or use another database"
        )
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
