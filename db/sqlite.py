"""Everything particular to SQLite, the embedded database: its engine, pragmas, transactions,
files, and the write gate. Performance machinery, fenced here so the rest of ``db`` reads the
same for SQLite and PostgreSQL (docs/architecture.md, "Performance machinery").

- Pragmas: WAL (readers never wait for the writer), ``synchronous=NORMAL`` (durable at each
  checkpoint, safe with WAL), foreign keys on, a 30 s busy timeout.
- Real transactions: pysqlite's legacy mode would skip ``BEGIN`` before DDL and reads, so
  ``BEGIN`` is emitted here; a unit of work that will write after reading asks for
  ``for_writing`` (``BEGIN IMMEDIATE``), so two writers queue instead of failing on a lock
  upgrade.
- The write gate (``WriteGate``): one writer at a time across the threads and processes of a
  pass, handed over the moment the previous one commits, instead of SQLite's sleep-and-retry.
- Files: a database file is created only when asked, owner-only (it holds webhook secrets).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, create_engine, event, make_url

from db import jsontext
from db.errors import DatabaseProblem

# The execution option that makes a transaction begin with BEGIN IMMEDIATE behind the gate.
IMMEDIATE = "sqlite_immediate"


def for_writing(engine: Engine) -> Engine:
    """The engine for read-then-write units of work: on SQLite their transactions begin with
    ``BEGIN IMMEDIATE`` behind the write gate; other databases ignore the option."""
    return engine.execution_options(**{IMMEDIATE: True})


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


def sqlite_engine(url: str, *, create: bool) -> Engine:
    """An engine on a SQLite file (``create``: make it when missing), with the pragmas, the
    transactions and the write gate described above."""
    database = make_url(url).database
    gate = None
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database).expanduser()
        sqlite_file(path, create=create)
        gate = WriteGate(str(path))
    engine = create_engine(url, json_serializer=jsontext.dumps, connect_args={
        "timeout": 30, "check_same_thread": False, "factory": _GatedConnection,
    })
    _gates[engine] = gate

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
        immediate = connection.get_execution_options().get(IMMEDIATE, False)
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


# The write gate of each engine made by ``sqlite_engine`` (None: an in-memory database).
_gates: weakref.WeakKeyDictionary[Engine, WriteGate | None] = weakref.WeakKeyDictionary()


@contextmanager
def immediate(engine: Engine) -> Iterator[sqlite3.Connection]:
    """The driver connection of one of ``engine``'s pooled connections in a write transaction
    begun as ``for_writing`` begins one (the write gate, then ``BEGIN IMMEDIATE``), committed
    on success and rolled back on any error, the gate let go either way: for a hot path that
    runs its statements on the driver itself (``db.firststore``), without a SQLAlchemy
    connection's events and bookkeeping. Driver errors are the driver's (``sqlite3.Error``)."""
    gate = _gates.get(engine)
    pooled = engine.raw_connection()
    try:
        driver = cast(_GatedConnection, pooled.driver_connection)
        if gate is not None:
            gate.acquire()
            driver.gate = gate
        try:
            driver.execute("BEGIN IMMEDIATE")
        except BaseException:
            driver._let_go()
            raise
        try:
            yield driver
        except BaseException:
            driver.rollback()
            raise
        driver.commit()
    finally:
        pooled.close()  # back to the pool


def sqlite_file(path: Path, *, create: bool) -> None:
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
