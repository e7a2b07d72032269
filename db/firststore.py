"""The store of an article's first version on SQLite, on the stdlib ``sqlite3`` driver.

A first-sight pass of ``tracker check --all`` stores every version in one process, the fork
pool's parent (``tracker.check.KeptStores``), and that process's CPU is on the pass's critical
path. Through SQLAlchemy a first version's store cost ~0.6 ms, of which the SQL was 0.11 ms
(``benchmarks/store_floor.py``): the rest was per-statement execution and event dispatch. So
this store runs its statements, and its transaction, on the driver connection of one of the
engine's pooled connections (``db.sqlite.immediate``): the transaction a SQLAlchemy write
begins (the write gate, then ``BEGIN IMMEDIATE``), without a SQLAlchemy connection around it
(its events and bookkeeping were a third of what was left).

- The SQL is written once, here; the rows are those the SQLAlchemy path writes (the same
  columns, the same stored forms), which ``tests/test_passes.py`` compares table by table.
- The values are converted in one place (``_Types``), by the bind and result processors of the
  columns' own SQLAlchemy types on the engine's dialect: what SQLAlchemy would store is stored
  (times as text or as integer microseconds, ``db.models.EventUid``, JSON in
  ``db.jsontext``'s form, booleans as 0/1), however ``db.models`` changes. A value whose
  column type has no processor goes to the driver as it is.
- A driver error (of a statement, or of the transaction's begin or commit) becomes SQLAlchemy's
  exception of the same kind (``DBAPIError.instance``), so a conflict is an
  ``IntegrityError`` and anything else a ``SQLAlchemyError``, as callers of the SQLAlchemy
  path expect; the transaction is rolled back.

Only a first version: no predecessor to read, no diff to store. Later versions, PostgreSQL,
and every case this store does not cover take the SQLAlchemy path (``tracker.check._record``).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

from sqlalchemy import Dialect, Engine
from sqlalchemy.exc import DBAPIError

from db.edits import COLUMNS
from db.models import META_COLUMNS, Base
from db.sqlite import immediate

# What a check decides on and writes (``tracker.check._apply``), with the outcome of the
# article's latest check (as ``db.queries.lock_article_checked`` reads it).
_ARTICLE = ("id", "url", "state", "interval", "base_interval", "next_check_at",
            "last_checked_at", "last_changed_at", "etag", "last_modified", "body_digest",
            "failure_count", "last_error", "version_count", "event_seq", "created_at",
            "developing", "lease_token", "lease_until", "due_at")
_LOCK = (
    f"SELECT {', '.join(_ARTICLE)}, (SELECT outcome FROM checks "  # noqa: S608 - constants
    "WHERE checks.article_id = articles.id ORDER BY started_at DESC, id DESC LIMIT 1) "
    "FROM articles WHERE id = ?"
)
# Every column a check may write, written back whole: what it did not change is what it read.
_WRITTEN = tuple(c for c in _ARTICLE if c not in {"id", "url", "base_interval", "created_at"})
_UPDATE = (f"UPDATE articles SET {', '.join(f'{c} = ?' for c in _WRITTEN)} "  # noqa: S608
           "WHERE id = ?")
_META = (f"INSERT INTO version_meta (id, {', '.join(META_COLUMNS)}) "  # noqa: S608
         f"VALUES ({', '.join('?' * (len(META_COLUMNS) + 1))}) ON CONFLICT (id) DO NOTHING")
_VERSION = ("article_id", "number", "fetched_at", "content_hash", "meta_id", "updated",
            "rebaseline", "paragraph_count", "paragraph_refs", "extraction_path")
_BODY = ("version_id", "content_type", "encoding", "size", "data", "url", "status", "headers")
_EVENT = ("uid", "article_id", "seq", "type", "version_id", "created_at", "data")
_CHECK = ("article_id", "started_at", "duration_ms", "lag_ms", "outcome", "status_code",
          "error", "version_id")


def _insert(table: str, columns: Sequence[str]) -> str:
    return (f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - constants
            f"VALUES ({', '.join('?' * len(columns))})")


_INSERTS = {table: (_insert(table, columns), columns) for table, columns in (
    ("versions", _VERSION), ("bodies", _BODY), ("events", _EVENT), ("checks", _CHECK))}
# Paragraphs per statement: 5 parameters each, far below SQLite's limit of 32,766.
PARAGRAPH_ROWS = 300


def paragraphs_insert(count: int) -> str:
    """One INSERT of ``count`` paragraph rows (``db.edits.COLUMNS``), skipping those stored:
    a paragraph's id is its content, so an existing row is the same paragraph."""
    values = ", ".join([f"({', '.join('?' * len(COLUMNS))})"] * count)
    return (f"INSERT INTO paragraphs ({', '.join(COLUMNS)}) "  # noqa: S608 - constants
            f"VALUES {values} ON CONFLICT (id) DO NOTHING")


def paragraph_values(rows: Iterable[Mapping[str, Any]]) -> tuple[Any, ...]:
    """The parameters of ``paragraphs_insert`` for ``rows`` (``db.storing.NewVersion``'s: a
    whole text, or an edit or deflated text with no text; no value needs a conversion)."""
    return tuple(row.get(column) for row in rows for column in COLUMNS)


@dataclass(slots=True)
class LockedArticle:
    """The article row a check holds (the write transaction holds SQLite's write lock), with
    the attributes of ``db.models.Article`` that a check reads and sets: ``db.lease.take`` and
    the check's decision set them as on the mapped row, ``FirstStore.write_article`` writes
    them back."""

    due_column: ClassVar[str] = "next_check_at"

    id: int
    url: str
    state: str
    interval: int
    base_interval: int
    next_check_at: dt.datetime
    last_checked_at: dt.datetime | None
    last_changed_at: dt.datetime | None
    etag: str | None
    last_modified: str | None
    body_digest: str | None
    failure_count: int
    last_error: str | None
    version_count: int
    event_seq: int
    created_at: dt.datetime
    developing: bool
    lease_token: str | None
    lease_until: dt.datetime | None
    due_at: dt.datetime | None


class FirstStore:
    """Statements of a first version's store, on a driver connection in a write transaction
    (``begun``)."""

    def __init__(self, driver: sqlite3.Connection, dialect: Dialect) -> None:
        self._driver = driver
        self._types = _types(dialect)

    @staticmethod
    def serves(engine: Engine) -> bool:
        """Whether this store can write ``engine``'s database (SQLite on stdlib sqlite3)."""
        return engine.dialect.name == "sqlite" and engine.dialect.driver == "pysqlite"

    @classmethod
    @contextmanager
    def begun(cls, engine: Engine) -> Iterator[FirstStore]:
        """A store in a write transaction of its own on ``engine``, committed on success."""
        try:
            with immediate(engine) as driver:
                yield cls(driver, engine.dialect)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(None, None, exc, sqlite3.Error) from exc

    # Savepoints, for several first versions stored in one transaction, each on its own
    # (``tracker.check.store_kept_all``): one begun before each, then let go (its writes kept)
    # or undone (its writes gone, the transaction going on).
    def savepoint(self) -> None:
        self._execute("SAVEPOINT first_version", ())

    def let_go(self) -> None:
        self._execute("RELEASE first_version", ())

    def undo(self) -> None:
        self._execute("ROLLBACK TO first_version", ())
        self._execute("RELEASE first_version", ())

    def lock_article(self, article_id: int) -> tuple[LockedArticle, str | None] | None:
        """The article and the outcome of its latest check (None: no such article)."""
        found = self._execute(_LOCK, (article_id,)).fetchone()
        if found is None:
            return None
        values = self._types.read("articles", _ARTICLE, found)
        return LockedArticle(**values), found[-1]

    def insert_version(
        self, version: Mapping[str, Any], meta_row: Mapping[str, Any],
        paragraphs: Sequence[Mapping[str, Any]],
    ) -> int:
        """Insert the paragraph rows not stored yet, the metadata row unless stored, and the
        versions row (every column but ``id``, as ``db.storing.NewVersion`` holds them); the
        version's id. ``UNIQUE(article_id, number)`` refuses a concurrent duplicate."""
        for start in range(0, len(paragraphs), PARAGRAPH_ROWS):
            rows = paragraphs[start : start + PARAGRAPH_ROWS]
            self._execute(paragraphs_insert(len(rows)), paragraph_values(rows))
        self._execute(_META, self._types.bound("version_meta", ("id", *META_COLUMNS), meta_row))
        cursor = self._row("versions", version)
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def insert_body(self, version_id: int, body: Mapping[str, Any]) -> None:
        """A ``db.queries.body_row`` of the version ``version_id``."""
        self._row("bodies", {**body, "version_id": version_id})

    def insert_event(self, values: Mapping[str, Any]) -> None:
        self._row("events", values)

    def insert_check(self, values: Mapping[str, Any]) -> None:
        self._row("checks", values)

    def write_article(self, article: LockedArticle) -> None:
        values = self._types.bound("articles", _WRITTEN,
                                   {c: getattr(article, c) for c in _WRITTEN})
        self._execute(_UPDATE, (*values, article.id))

    def _row(self, table: str, values: Mapping[str, Any]) -> sqlite3.Cursor:
        sql, columns = _INSERTS[table]
        return self._execute(sql, self._types.bound(table, columns, values))

    def _execute(self, sql: str, parameters: tuple[Any, ...]) -> sqlite3.Cursor:
        try:
            return self._driver.execute(sql, parameters)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, parameters, exc, sqlite3.Error) from exc


_Processor = Callable[[Any], Any] | None


class _Types:
    """The bind and result processors of the columns this store writes and reads, taken from
    their types in ``db.models`` on one dialect: the one place values are converted."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._binds: dict[tuple[str, tuple[str, ...]], tuple[_Processor, ...]] = {}
        self._results: dict[tuple[str, tuple[str, ...]], tuple[_Processor, ...]] = {}

    def bound(self, table: str, columns: tuple[str, ...],
              row: Mapping[str, Any]) -> tuple[Any, ...]:
        """The values of ``row``'s ``columns`` as SQLAlchemy binds them."""
        processors = self._binds.get((table, columns))
        if processors is None:
            processors = self._binds[table, columns] = tuple(
                self._column(table, c).bind_processor(self._dialect) for c in columns)
        return tuple(value if process is None else process(value)
                     for value, process in zip(map(row.get, columns), processors, strict=True))

    def read(self, table: str, columns: tuple[str, ...],
             values: Sequence[Any]) -> dict[str, Any]:
        """``values`` (the first ``len(columns)`` of a row) as SQLAlchemy reads them."""
        processors = self._results.get((table, columns))
        if processors is None:
            processors = self._results[table, columns] = tuple(
                self._column(table, c).result_processor(self._dialect, None) for c in columns)
        return {column: value if process is None else process(value)
                for column, value, process in zip(columns, values, processors, strict=False)}

    def _column(self, table: str, column: str) -> Any:
        return Base.metadata.tables[table].c[column].type.dialect_impl(self._dialect)


@cache  # one per engine's dialect: the processors are made once
def _types(dialect: Dialect) -> _Types:
    return _Types(dialect)
