"""The read path of the read commands (``tracker list``, ``history``, ``show``, ``changes``):
their queries, written once as SQL text, and a small ``Reader`` that runs them on either of
two drivers.

- stdlib ``sqlite3`` for a SQLite file at the current schema (``sqlite_reader``): no
  SQLAlchemy import, which alone takes longer than the 0.25 s a read command may take
  (issue 15, item 3). The connection never writes (``PRAGMA query_only``), waits for a
  writer's lock as ``db.sqlite`` does, and reads in one transaction (one WAL snapshot).
- a SQLAlchemy ``Connection`` (``Reader.over``, ``text()``) for PostgreSQL and for every
  SQLite database the fast path declines (missing, not at the newest revision, a URL it does
  not parse): the caller opens it through ``db.session``, which migrates or says why not.

The SQL uses named ``:params``, which both drivers accept; a list or tuple parameter is
expanded here into ``(:name_0, :name_1, …)`` for ``IN``. Each driver's values are made the
same in one place (``Reader._conversion``): times are aware UTC datetimes (SQLite stores naive UTC
text, as ``db.models.UTCDateTime`` writes it, or for ``fetched_at`` and ``started_at`` integer
microseconds, ``db.models.CompactUTCDateTime``; a time parameter is bound as the latter, the
only kind these queries compare), JSON is decoded, booleans are ``bool``, blobs are
``bytes``, a content hash is its hex digits (``db.compact``). Rows are ``Row`` dicts whose
keys are also attributes.

``VERSION_COLUMNS`` (and ``LIST_ARTICLES``' title) read the version metadata, the join with
``version_meta`` (``VERSIONS``); nothing else here does. Imports nothing of tracker, and
SQLAlchemy only in ``over``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from db import compact, edits, epoch, refs
from db.diffdata import summary_counts, unpack

if TYPE_CHECKING:
    from sqlalchemy import Connection

# The newest migration (re-exported by db.session, which checks it with Alembic at hand).
HEAD_REVISION = "0014_pgbytes"
# As db.sqlite waits for a writer (tracker run may be storing a check meanwhile).
BUSY_TIMEOUT_S = 30
_CHUNK = 500  # ids per IN list

# --- the queries ----------------------------------------------------------------------------

ARTICLE_COLUMNS = (
    "a.id, a.url, a.state, a.selector, a.base_interval, a.interval, a.next_check_at, "
    "a.last_checked_at, a.failure_count, a.last_error, a.version_count, a.tags, a.developing"
)
# The version metadata columns (title … lead_caption, extractor) are read here only: they are
# the version's version_meta row (m), stored once per distinct value; ``updated`` stays on v.
VERSION_COLUMNS = (
    "v.id, v.article_id, v.number, v.fetched_at, v.content_hash, m.title, m.byline, "
    "m.published, v.updated, m.language, m.canonical_url, m.lead_image, m.lead_caption, "
    "m.extractor, v.rebaseline, v.paragraph_count, v.paragraph_refs"
)
VERSIONS = "versions v JOIN version_meta m ON m.id = v.meta_id"
REVISION = "SELECT version_num FROM alembic_version"
# In the order they were added (the primary key's index: no sort), each with the headline of
# its latest version (None before the first). The page is cut first and only its rows are
# joined: joined before the OFFSET, every skipped article's version was read too (--offset
# 99,950 of 100,000 on PostgreSQL: 170 ms against 64).
LIST_ARTICLES = (
    f"SELECT {ARTICLE_COLUMNS}, m.title FROM "
    "(SELECT * FROM articles ORDER BY id LIMIT :limit OFFSET :offset) a "
    "LEFT JOIN versions v ON v.article_id = a.id AND v.number = a.version_count "
    "LEFT JOIN version_meta m ON m.id = v.meta_id "
    "ORDER BY a.id"
)
ARTICLE_BY_URL = f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.url = :url"
ARTICLE_BY_ALIAS = (
    f"SELECT {ARTICLE_COLUMNS} FROM article_aliases s JOIN articles a ON a.id = s.article_id "
    "WHERE s.url = :url"
)
VERSIONS_OF = f"SELECT {VERSION_COLUMNS} FROM {VERSIONS} WHERE v.article_id = :article_id"
VERSIONS_IN_ORDER = f"{VERSIONS_OF} ORDER BY v.number"
VERSION_BY_NUMBER = f"{VERSIONS_OF} AND v.number = :number"
LATEST_VERSION = f"{VERSIONS_OF} ORDER BY v.number DESC LIMIT 1"
# The versions fetched since a time (of every article, or of one: ``{v_article}`` and
# ``{r_article}``, see ``changes_since``) and the version before each of them, in one query:
# ``recent`` tells them apart (a version that is both comes twice, once as each). By article
# and number.
CHANGES_SINCE = (
    f"SELECT {VERSION_COLUMNS}, a.url, 1 AS recent FROM {VERSIONS} "
    "JOIN articles a ON a.id = v.article_id WHERE v.fetched_at >= :since{v_article} "
    f"UNION ALL SELECT {VERSION_COLUMNS}, a.url, 0 AS recent FROM versions r "
    "JOIN versions v ON v.article_id = r.article_id AND v.number = r.number - 1 "
    "JOIN version_meta m ON m.id = v.meta_id JOIN articles a ON a.id = v.article_id "
    "WHERE r.fetched_at >= :since{r_article} ORDER BY article_id, number, recent"
)
# Deltas' chains back to their key frames (at most refs.KEYFRAME_EVERY rows each): one
# ``(article, numbers)`` range per article (``REFS_RANGE``), ``OR``ed.
REFS_CHAINS = "SELECT article_id, number, paragraph_refs FROM versions WHERE {ranges}"
REFS_RANGE = "(article_id = :article_{k} AND number > :floor_{k} AND number <= :number_{k})"
_RANGES = 100  # ranges per REFS_CHAINS query
# A paragraph stored as an edit (text NULL) is given its text by ``db.edits.resolve``.
PARAGRAPHS = "SELECT id, kind, text, base_id, delta FROM paragraphs WHERE id IN :ids"
MINOR_IDS = "SELECT version_id FROM version_diffs WHERE version_id IN :ids AND minor"
STORED_DIFF = "SELECT data, minor FROM version_diffs WHERE version_id = :version_id"
STORED_DIFFS = "SELECT version_id, data, minor FROM version_diffs WHERE version_id IN :ids"
STORED_SUMMARIES = (
    "SELECT v.number, d.summary FROM versions v JOIN version_diffs d ON d.version_id = v.id "
    "WHERE v.article_id = :article_id"
)
CHECKS_OF = (
    "SELECT started_at, outcome, status_code, duration_ms, error FROM checks "
    "WHERE article_id = :article_id ORDER BY started_at DESC, id DESC LIMIT :limit"
)

# The type of each column these queries read whose value differs between the drivers (a name
# means the same type in every query above).
_TIMES = frozenset({"fetched_at", "next_check_at", "last_checked_at", "started_at"})
_JSON = frozenset({"tags", "summary"})
_BOOLEANS = frozenset({"developing", "rebaseline", "minor", "recent"})
_BLOBS = frozenset({"paragraph_refs", "data", "delta"})
_NO_LIMIT = 2**62  # LIMIT takes no NULL on SQLite


class Row(dict[str, Any]):
    """A result row: a dict whose keys are also attributes (``row.url``)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class _Driver(Protocol):
    def execute(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[Any]]: ...


class _Sqlite3:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def execute(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[Any]]:
        cursor = self.connection.execute(sql, params)
        rows = cursor.fetchall()
        return [column[0] for column in cursor.description or ()], rows


class _Alchemy:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def execute(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[Any]]:
        from sqlalchemy import text

        result = self.connection.execute(text(sql), params)
        return list(result.keys()), [tuple(row) for row in result]


class Reader:
    """Runs this module's queries on one connection, its values made alike (see above)."""

    def __init__(self, driver: _Driver, *, sqlite: bool) -> None:
        self._driver = driver
        self._sqlite = sqlite  # naive-text times and JSON as text

    @classmethod
    def over(cls, connection: Connection) -> Reader:
        """A reader on a SQLAlchemy connection (any database tracker supports)."""
        return cls(_Alchemy(connection), sqlite=connection.dialect.name == "sqlite")

    def all(self, sql: str, **params: Any) -> list[Row]:
        names, rows = self._run(sql, params)
        convert = [(name, made) for name in names if (made := self._conversion(name))]
        found = []
        for values in rows:
            row = Row(zip(names, values, strict=True))
            for name, made in convert:
                if row[name] is not None:
                    row[name] = made(row[name])
            found.append(row)
        return found

    def tuples(self, sql: str, **params: Any) -> list[Any]:
        """The rows as the driver gives them, in the query's column order, with no conversion:
        for the many rows of ``PARAGRAPHS``, whose values are alike on both drivers (text,
        integers, and bytes that ``db.edits`` takes as they come)."""
        return self._run(sql, params)[1]

    def _run(self, sql: str, params: dict[str, Any]) -> tuple[list[str], list[Any]]:
        """Every query of the reader goes through here: its column names and rows."""
        return self._driver.execute(*self._bind(sql, params))

    def first(self, sql: str, **params: Any) -> Row | None:
        rows = self.all(sql, **params)
        return rows[0] if rows else None

    def _bind(self, sql: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        bound: dict[str, Any] = {}
        for name, value in params.items():
            if isinstance(value, list | tuple):
                names = [f"{name}_{k}" for k in range(len(value))]
                listed = ", ".join(f":{n}" for n in names) or "NULL"
                sql = re.sub(rf":{name}\b", f"({listed})", sql)
                bound.update(zip(names, value, strict=True))
            elif isinstance(value, dt.datetime):
                bound[name] = self._time(value)
            else:
                bound[name] = value
        return sql, bound

    def _time(self, value: dt.datetime) -> Any:
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        # as SQLite stores the times these queries compare (versions.fetched_at, a
        # db.models.CompactUTCDateTime: integer microseconds), so that they compare as time
        return epoch.micros(value) if self._sqlite else value

    def _conversion(self, name: str) -> Callable[[Any], Any] | None:
        """How a column's non-null values are made alike (None: as the driver gives them)."""
        if name in _TIMES:
            return _utc
        if name in _JSON:
            return json.loads if self._sqlite else None
        if name in _BOOLEANS:
            return bool
        if name in _BLOBS:
            return bytes
        if name == "content_hash":
            return _content_hash
        return None


def _content_hash(value: bytes | str) -> str:
    """As ``db.models.ContentHash`` reads it: 16 bytes are 32 hex digits."""
    return value if isinstance(value, str) else compact.hash_text(bytes(value))


def _utc(value: dt.datetime | str | int) -> dt.datetime:
    if isinstance(value, int):  # SQLite's CompactUTCDateTime
        return epoch.from_micros(value)
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


# --- the stdlib driver on a SQLite file ---------------------------------------------------------

_SQLITE_URL = re.compile(r"sqlite(?:\+pysqlite)?:///(?P<path>[^?#%~]+)")


@contextmanager
def sqlite_reader(url: str) -> Iterator[Reader | None]:
    """A reader on the SQLite file of ``url`` through stdlib ``sqlite3``; None (nothing
    opened) for another database, a URL beyond ``sqlite:///PATH``, a missing file or one not
    at ``HEAD_REVISION``: the caller then takes the SQLAlchemy path, which migrates the
    database or says what is wrong with it."""
    match = _SQLITE_URL.fullmatch(url)
    path = Path(match["path"]) if match else None
    if path is None or path.name == ":memory:" or not path.is_file():
        yield None
        return
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        connection.execute("PRAGMA query_only=ON")
        connection.execute("BEGIN")  # one snapshot for every query of the command
        if _revision(connection) != HEAD_REVISION:
            connection.rollback()
            yield None
            return
        yield Reader(_Sqlite3(connection), sqlite=True)
        connection.rollback()  # nothing to commit: the read transaction ends
    finally:
        connection.close()


def _revision(connection: sqlite3.Connection) -> str | None:
    try:
        found = connection.execute(REVISION).fetchone()
    except sqlite3.OperationalError:  # no such table: not a tracker database (yet)
        return None
    return str(found[0]) if found else None


# --- reads -------------------------------------------------------------------------------------


def list_articles(reader: Reader, *, limit: int | None, offset: int) -> list[Row]:
    """Articles in the order they were added, with ``title`` (their latest headline)."""
    return reader.all(LIST_ARTICLES, limit=_NO_LIMIT if limit is None else limit,
                      offset=offset)  # fmt: skip


def resolve_url(reader: Reader, url: str) -> Row | None:
    """The article tracked under ``url``: its own URL, else an alias; an article merged into
    another answers with the one it was merged into (as ``db.queries.resolve_url``)."""
    article = reader.first(ARTICLE_BY_URL, url=url)
    if article is not None and article.state != "merged":
        return article
    aliased = reader.first(ARTICLE_BY_ALIAS, url=url)
    return aliased if aliased is not None else article


def versions_of(reader: Reader, article_id: int) -> list[Row]:
    return reader.all(VERSIONS_IN_ORDER, article_id=article_id)


def version(reader: Reader, article_id: int, number: int | None) -> Row | None:
    """Version ``number`` of an article, its latest when ``number`` is None."""
    if number is None:
        return reader.first(LATEST_VERSION, article_id=article_id)
    return reader.first(VERSION_BY_NUMBER, article_id=article_id, number=number)


def paragraphs_of(reader: Reader, *versions: Row) -> list[list[tuple[str, str]]]:
    """(kind, text) of each paragraph of each version, in order (delta chains resolved): in a
    fixed number of queries however many versions (the chains in one, the paragraphs in
    one and the bases of those stored as edits in one more, each per chunk); the paragraphs
    the versions share are read once."""
    ids = paragraph_ids_of(reader, versions)
    found = edits.resolve((i for each in ids for i in each), lambda wanted: [
        row for chunk in _chunks(list(wanted)) for row in reader.tuples(PARAGRAPHS, ids=chunk)
    ]).texts
    return [edits.in_order(found, each) for each in ids]


def paragraph_ids_of(reader: Reader, versions: Iterable[Row]) -> list[list[int]]:
    """The paragraph ids of each version: a key frame's from its own row, a delta's from its
    chain back to its key frame, the chains of all of them read together."""
    versions = list(versions)
    deltas = [v for v in versions if not refs.is_keyframe(v.paragraph_refs)]
    chains = _refs_chains(reader, deltas)
    found = []
    for version in versions:
        if refs.is_keyframe(version.paragraph_refs):
            found.append(refs.decode([version.paragraph_refs]))
            continue
        rows = chains[version.article_id]
        chain = rows[bisect_right(rows, version.number - refs.KEYFRAME_EVERY - 1, key=_number)
                     : bisect_right(rows, version.number, key=_number)]  # fmt: skip
        start = max(i for i, (_, data) in enumerate(chain) if refs.is_keyframe(data))
        found.append(refs.decode(data for _, data in chain[start:]))
    return found


_number = itemgetter(0)


def _refs_chains(reader: Reader, deltas: list[Row]) -> dict[int, list[tuple[int, bytes]]]:
    """Article id → (number, paragraph_refs) of its versions each delta's chain may reach
    (the ``KEYFRAME_EVERY`` versions up to it), in order: one range per article."""
    spans: dict[int, tuple[int, int]] = {}
    for version in deltas:
        floor, number = version.number - refs.KEYFRAME_EVERY - 1, version.number
        low, high = spans.get(version.article_id, (floor, number))
        spans[version.article_id] = (min(low, floor), max(high, number))
    chains: dict[int, list[tuple[int, bytes]]] = {}
    listed = sorted(spans.items())
    for start in range(0, len(listed), _RANGES):
        params: dict[str, int] = {}
        ranges = []
        for k, (article_id, (floor, number)) in enumerate(listed[start : start + _RANGES]):
            ranges.append(REFS_RANGE.format(k=k))
            params |= {f"article_{k}": article_id, f"floor_{k}": floor, f"number_{k}": number}
        sql = REFS_CHAINS.format(ranges=" OR ".join(ranges))
        for row in reader.all(sql, **params):
            chains.setdefault(row.article_id, []).append((row.number, row.paragraph_refs))
    for chain in chains.values():
        chain.sort()
    return chains


def minor_ids(reader: Reader, version_ids: Iterable[int]) -> set[int]:
    """Those of the given versions stored as minor changes."""
    return {row.version_id for chunk in _chunks(sorted(set(version_ids)))
            for row in reader.all(MINOR_IDS, ids=chunk)}  # fmt: skip


def stored_diff(
    reader: Reader, version_id: int, new_texts: Sequence[str]
) -> dict[str, Any] | None:
    """The stored diff (its JSON form) of a version against its predecessor, if stored, read
    against the version's paragraph texts (``new_texts``)."""
    row = reader.first(STORED_DIFF, version_id=version_id)
    return unpack(row.data, new_texts) if row is not None else None


def stored_diffs(reader: Reader, version_ids: Iterable[int]) -> dict[int, tuple[bytes, bool]]:
    """Version id → its stored diff (packed: ``db.diffdata.unpack`` gives its JSON form, read
    against the version's paragraph texts) and minor flag, for those of the given versions
    stored with one."""
    return {row.version_id: (row.data, row.minor) for chunk in _chunks(sorted(set(version_ids)))
            for row in reader.all(STORED_DIFFS, ids=chunk)}  # fmt: skip


def changes_since(
    reader: Reader, since: dt.datetime, article_id: int | None
) -> tuple[list[Row], dict[tuple[int, int], Row]]:
    """The versions fetched since ``since`` (of one article, or of all), with their ``url``,
    by article and number; and the version before each of them, by (article id, its own
    number)."""
    one = "" if article_id is None else " AND {}.article_id = :article_id"
    sql = CHANGES_SINCE.format(v_article=one.format("v"), r_article=one.format("r"))
    params: dict[str, Any] = {"since": since}
    if article_id is not None:
        params["article_id"] = article_id
    recent: list[Row] = []
    previous: dict[tuple[int, int], Row] = {}
    for row in reader.all(sql, **params):
        if row.pop("recent"):
            recent.append(row)
        else:
            del row["url"]
            previous[row.article_id, row.number] = row
    return recent, previous


def stored_summaries(reader: Reader, article_id: int) -> dict[int, dict[str, int]]:
    """Version number → the summary counts of its stored diff, for one article."""
    return {row.number: summary_counts(row.summary)
            for row in reader.all(STORED_SUMMARIES, article_id=article_id)}  # fmt: skip


def checks_of(reader: Reader, article_id: int, limit: int = 20) -> list[Row]:
    """An article's latest checks, newest first."""
    return reader.all(CHECKS_OF, article_id=article_id, limit=limit)


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]
