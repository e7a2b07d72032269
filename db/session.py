"""Engines, sessions and the schema upgrade that runs on first use.

One engine per process and URL (``get_engine``). SQLite gets WAL, foreign keys, a busy timeout
and real transactions (pysqlite's legacy mode would skip ``BEGIN`` before DDL and reads), with
``BEGIN IMMEDIATE`` for sessions that will write after reading, so two writers queue on the
busy timeout instead of failing on a lock upgrade.

A database URL is checked before anything connects (``DatabaseProblem``: a path given where a
URL belongs, a database tracker does not support), and a SQLite file is created only when the
caller says so (``create=True``): a mistyped path must fail, not start an empty database.
Created files and directories are the owner's only (0600, 0700): they hold webhook secrets.
``explain`` turns any database error into one line for people.
"""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration. Checked against the alembic_version table with one query, so a
# process opening an up-to-date database never imports Alembic (tests/test_migrations.py keeps
# this equal to Alembic's head).
HEAD_REVISION = "0009_template"
_engines: dict[str, Engine] = {}
_lock = threading.Lock()


class DatabaseProblem(Exception):
    """The database cannot be used, for a reason said in one line (no password in it)."""


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
        return _sqlite_engine(url, create=create)
    url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


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


class WriteGate:
    """One writer at a time on a SQLite file, across threads and processes, handed over the
    moment the previous writer commits.

    SQLite itself lets a second writer wait by sleeping and retrying (1, 2, 5 … 100 ms), so
    with a few threads or processes writing short transactions most of the time went to
    sleeping. A writer takes this gate (a lock for the threads of a process, ``flock`` on
    ``<database>-writer.lock`` between processes) before ``BEGIN IMMEDIATE`` and gives it back
    right after its commit or rollback."""

    def __init__(self, database: str) -> None:
        self.path = f"{database}-writer.lock"
        self._threads = threading.Lock()
        self._file: int | None = None
        self._pid = 0

    def acquire(self) -> None:
        self._threads.acquire()
        try:
            fcntl.flock(self._fd(), fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def release(self) -> None:
        try:
            fcntl.flock(self._fd(), fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _fd(self) -> int:
        if self._file is None or self._pid != os.getpid():  # a forked child opens its own
            try:
                self._file = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise DatabaseProblem(f"cannot open {self.path} to write the database: "
                                      f"{exc.strerror} (is its directory read-only?)") from None
            self._pid = os.getpid()
        return self._file


class _GatedConnection(sqlite3.Connection):
    """A sqlite3 connection that lets go of its write gate once its transaction ends."""

    gate: WriteGate | None = None

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._let_go()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._let_go()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._let_go()

    def _let_go(self) -> None:
        gate, self.gate = self.gate, None
        if gate is not None:
            gate.release()


def _sqlite_engine(url: str, *, create: bool) -> Engine:
    database = make_url(url).database
    gate = None
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database).expanduser()
        _sqlite_file(path, create=create)
        gate = WriteGate(str(path))
    engine = create_engine(url, connect_args={
        "timeout": 30, "check_same_thread": False, "factory": _GatedConnection,
    })

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, see below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        if immediate and gate is not None:
            gate.acquire()
            dbapi = connection.connection.dbapi_connection
            dbapi.gate = gate
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                dbapi._let_go()
                raise
            return
        connection.exec_driver_sql("BEGIN")

    return engine


def _sqlite_file(path: Path, *, create: bool) -> None:
    """Make sure the database file exists, creating it (owner-only) only when asked."""
    if path.is_file():
        return
    if path.exists():
        raise DatabaseProblem(f"{path} is not a file")
    if not create:
        where = "" if path.parent.is_dir() else f" (and there is no directory {path.parent})"
        raise DatabaseProblem(f"there is no database at {path}{where}: check the path, or "
                              f"create it with: tracker --db sqlite:///{path} migrate")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise DatabaseProblem(f"cannot create the database {path}: {exc.strerror}") from None


def restrict_sqlite_file(url: str) -> list[str]:
    """Make a SQLite database file (and its -wal and -shm files) readable by its owner only;
    the paths whose permissions changed. Nothing for other databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return []
    changed = []
    base = Path(parsed.database).expanduser()
    for path in (base, Path(f"{base}-wal"), Path(f"{base}-shm")):
        try:
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
                changed.append(str(path))
        except FileNotFoundError:
            continue
    return changed


def explain(exc: BaseException) -> str:
    """A database error in one line for people: the driver's own first line, with a hint where
    the cause is a common one (any other exception: its type and first line)."""
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, DatabaseProblem):
        return str(exc)
    if not isinstance(exc, SQLAlchemyError):
        first = (str(exc).strip().splitlines() or [""])[0]
        return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines() or [type(original).__name__]
    message = " ".join(line.strip() for line in lines[:2] if line.strip())
    lowered = message.lower()
    if "readonly database" in lowered or "read-only" in lowered:
        message += " (is the file, or its directory, read-only?)"
    elif "not a database" in lowered or "malformed" in lowered:
        message += " (the file is damaged or is no SQLite database)"
    return f"database error: {message}"


def sessions(engine: Engine, *, write: bool = False) -> sessionmaker[Session]:
    """A session factory; ``write=True`` for read-then-write units of work."""
    bind = engine.execution_options(sqlite_immediate=True) if write else engine
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
