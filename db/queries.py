"""Every query tracker runs, as functions over a Session: ``select()`` statements in one place.

Inputs and outputs are models and plain values; nothing here knows about HTTP or diffs.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, aliased

from db import edits, firststore, lease, meta, paragraph_queries, refs
from db.models import (
    Article,
    ArticleAlias,
    Body,
    Check,
    Delivery,
    DeliveryAttempt,
    Event,
    Heartbeat,
    Host,
    Paragraph,
    SourceEntry,
    Version,
    VersionDiff,
    version_meta_table,
    versions_table,
)
from db.states import CHECKED_PREDICATE, CHECKED_STATES, GONE_STATES, ArticleState
from db.webhook_queries import release_digests

# --- articles -------------------------------------------------------------------------------


def article_by_url(session: Session, url: str) -> Article | None:
    return session.scalars(select(Article).where(Article.url == url)).one_or_none()


def resolve_url(session: Session, url: str) -> Article | None:
    """The article tracked under ``url``: its own URL, else an alias (another URL of the same
    story). An article merged into another answers with the one it was merged into."""
    article = article_by_url(session, url)
    if article is not None and article.state != ArticleState.MERGED:
        return article
    alias = session.get(ArticleAlias, url)
    if alias is not None:
        return session.get(Article, alias.article_id)
    return article


def add_alias(session: Session, url: str, article_id: int, reason: str, now: dt.datetime) -> None:
    """Make ``url`` find the article; an alias already pointing elsewhere is moved."""
    alias = session.get(ArticleAlias, url)
    if alias is None:
        session.add(ArticleAlias(url=url, article_id=article_id, reason=reason, created_at=now))
    elif alias.article_id != article_id:
        alias.article_id, alias.reason = article_id, reason


def move_aliases(session: Session, from_id: int, to_id: int) -> None:
    session.execute(
        update(ArticleAlias).where(ArticleAlias.article_id == from_id).values(article_id=to_id)
    )


def aliases_of(session: Session, article_id: int) -> list[str]:
    statement = select(ArticleAlias.url).where(ArticleAlias.article_id == article_id)
    return list(session.scalars(statement.order_by(ArticleAlias.url)))


def article_by_id(session: Session, article_id: int) -> Article | None:
    return session.get(Article, article_id)


def lock_article(session: Session, article_id: int) -> Article | None:
    """The article row, locked until the transaction ends (PostgreSQL ``FOR UPDATE``; SQLite
    sessions opened with ``write=True`` hold the database write lock already)."""
    statement = select(Article).where(Article.id == article_id).with_for_update()
    return session.scalars(statement).one_or_none()


def lock_article_checked(session: Session, article_id: int) -> tuple[Article, str | None] | None:
    """``lock_article`` and the outcome of the article's latest check (``last_outcome``), in
    one query: what a check reads under the lock before it decides."""
    found = session.execute(_LOCK_CHECKED, {"article_key": article_id}).one_or_none()
    return None if found is None else (found[0], found[1])


_LAST_OUTCOME = (
    select(Check.outcome)
    .where(Check.article_id == Article.id)
    .order_by(Check.started_at.desc(), Check.id.desc())
    .limit(1)
    .correlate(Article)
    .scalar_subquery()
)
# Built once: a check takes it under the write lock, where building the statement (and its
# cache key) each time was a third of the query's cost.
_LOCK_CHECKED = (select(Article, _LAST_OUTCOME).where(Article.id == bindparam("article_key"))
                 .with_for_update(of=Article))


def write_article(session: Session, article: Article) -> None:
    """Write the changed columns of a locked article row with one Core UPDATE and take the
    row out of the session, so that the commit runs no unit of work for it (a check's path:
    the row is read and changed by attribute, then written once)."""
    state = inspect(article)
    # The columns set since the row was loaded (a value set again unchanged is written again,
    # harmlessly): checking the history of every column attribute cost more than the UPDATE.
    columns = state.mapper.column_attrs
    values = {key: getattr(article, key) for key in state.committed_state if key in columns}
    if values:
        session.connection().execute(_UPDATE_ARTICLE, {"article_key": article.id, **values})
    session.expunge(article)


_UPDATE_ARTICLE = update(Article).where(Article.id == bindparam("article_key"))


def add_article(
    session: Session, *, url: str, host: str, interval: int | None, now: dt.datetime,
    selector: str | None = None, default_interval: int = 600,
) -> tuple[Article, bool]:
    """(article, created). An existing URL (or another URL of the same story, see
    ``resolve_url``) keeps its history, settings and state; only what is given (an
    ``interval``, a ``selector``, '' removing it) replaces its own."""
    article = resolve_url(session, url)
    if article is not None:
        if interval is not None:
            article.base_interval = article.interval = interval
        if selector is not None:
            article.selector = selector or None
        return article, False
    interval = interval or default_interval
    article = Article(
        url=url, host=host, state=ArticleState.ACTIVE, selector=selector or None,
        base_interval=interval, interval=interval, next_check_at=now, created_at=now,
        failure_count=0, version_count=0, event_seq=0,
    )
    session.add(article)
    session.flush()
    return article, True


def list_articles(
    session: Session, urls: Sequence[str] = (), *, limit: int | None = None, offset: int = 0,
) -> list[Article]:
    """Articles in the order they were added (by id: the primary key's index, so a page deep
    in 100,000 articles costs an index walk, no sort)."""
    statement = select(Article).order_by(Article.id)
    if urls:
        statement = statement.where(Article.url.in_(urls))
    if offset:
        statement = statement.offset(offset)
    if limit is not None:
        statement = statement.limit(limit)
    return list(session.scalars(statement))


def all_article_ids(session: Session) -> list[int]:
    """Every article's id, in the order they were added (``tracker check --all``: no rows)."""
    return list(session.scalars(select(Article.id).order_by(Article.id)))


def latest_titles(session: Session, article_ids: Sequence[int]) -> dict[int, str | None]:
    """The given articles' titles: the headline of each one's latest version (None before the
    first)."""
    latest = and_(Version.article_id == Article.id, Version.number == Article.version_count)
    titles: dict[int, str | None] = {}
    for start in range(0, len(article_ids), 500):
        statement = (select(Article.id, Version.title).join(Version, latest)
                     .where(Article.id.in_(article_ids[start : start + 500])))
        titles.update({row.id: row.title for row in session.execute(statement)})
    return titles


def check_targets(session: Session, article_ids: Sequence[int]) -> list[Any]:
    """Rows with what a check needs to know of each article before fetching it, including the
    content hash and extractor of its latest version and the rules of its host (``host_*``,
    None when the host has none)."""
    rows: list[Any] = []
    # Two outer joins of the tables, not one of the mapped ``versions JOIN version_meta``:
    # SQLite materialises that whole (every version stored) for each statement.
    versions, meta = versions_table, version_meta_table
    latest = and_(versions.c.article_id == Article.id,
                  versions.c.number == Article.version_count)  # fmt: skip
    for start in range(0, len(article_ids), 500):
        statement = (
            select(
                Article.id, Article.url, Article.etag, Article.last_modified, Article.body_digest,
                Article.selector, Article.lease_token, Article.state, Article.interval,
                Article.base_interval, versions.c.content_hash, meta.c.extractor,
                Host.selector.label("host_selector"),
                Host.ignore_patterns.label("host_ignore_patterns"),
                Host.ignore_selectors.label("host_ignore_selectors"),
                Host.notify_threshold.label("host_notify_threshold"),
                Article.developing, Article.last_changed_at, Article.created_at,
                Article.failure_count, Article.version_count,
                # When it was due: while claimed, kept apart from next_check_at (db.lease).
                case((Article.lease_token.is_not(None),
                      func.coalesce(Article.due_at, Article.next_check_at)),
                     else_=Article.next_check_at).label("due_at"),
                versions.c.paragraph_count,
            )
            .select_from(Article)
            .outerjoin(versions, latest)
            .outerjoin(meta, meta.c.id == versions.c.meta_id)
            .outerjoin(Host, Host.host == Article.host)
            .where(Article.id.in_(article_ids[start : start + 500]))
        )
        rows += session.execute(statement).all()
    return rows


_UNCHANGED_VALUES: dict[str, Any] = {
    name: bindparam(name)
    for name in ("interval", "last_checked_at", "next_check_at", "etag", "last_modified",
                 "body_digest", "state", "developing")
}
# Built once: the hot path of every unchanged check runs these with parameters only, so
# SQLAlchemy compiles them once per process instead of once per check.
_RECORD_UNCHANGED = (
    update(Article)
    .where(Article.id == bindparam("article_id"))
    .values(failure_count=0, last_error=None, lease_token=None, lease_until=None,
            **_UNCHANGED_VALUES)
)
_RECORD_UNCHANGED_CLAIMED = _RECORD_UNCHANGED.where(Article.lease_token == bindparam("token"))
_INSERT_CHECK = insert(Check)


def record_unchanged(
    connection: Connection, article_id: int, lease_token: str | None, values: dict[str, Any],
    check: dict[str, Any],
) -> bool:
    """Move an unchanged article's schedule on and log its check, with two plain statements;
    False (and nothing written) when ``lease_token`` is no longer the article's claim."""
    if lease_token is None:
        result = connection.execute(_RECORD_UNCHANGED, {"article_id": article_id, **values})
    else:
        result = connection.execute(
            _RECORD_UNCHANGED_CLAIMED, {"article_id": article_id, "token": lease_token, **values}
        )
    if not result.rowcount:
        return False
    connection.execute(_INSERT_CHECK, {"article_id": article_id, **check})
    return True


# (article id, claim token or None, the article's new values, its check record)
Unchanged = tuple[int, str | None, dict[str, Any], dict[str, Any]]


def record_unchanged_many(connection: Connection, rows: Sequence[Unchanged]) -> set[int]:
    """``record_unchanged`` for several articles in the caller's transaction, with three
    statements in all (the claims read under the rows' locks, then one UPDATE and one INSERT
    for all the rows whose claim holds); the ids written. Every row must have the same keys."""
    if not rows:
        return set()
    holding = dict(connection.execute(
        select(Article.id, Article.lease_token)
        .where(Article.id.in_(sorted({row[0] for row in rows})))
        .order_by(Article.id)
        .with_for_update()
    ).all())
    kept = [row for row in rows if row[0] in holding
            and (row[1] is None or holding[row[0]] == row[1])]
    if kept:
        connection.execute(_RECORD_UNCHANGED,
                           [{"article_id": row[0], **row[2]} for row in kept])
        connection.execute(_INSERT_CHECK, [{"article_id": row[0], **row[3]} for row in kept])
    return {row[0] for row in kept}


_DEFER = (
    update(Article)
    .where(Article.id == bindparam("article_id"))
    .values(next_check_at=bindparam("next_check_at"), lease_token=None, lease_until=None)
)
_DEFER_CLAIMED = _DEFER.where(Article.lease_token == bindparam("token"))


def defer_check(
    connection: Connection, article_id: int, lease_token: str | None,
    next_check_at: dt.datetime,
) -> bool:
    """A check that sent no request (its host must not be asked yet): only the schedule moves
    and the claim is given back; False when ``lease_token`` is no longer the article's claim."""
    values = {"article_id": article_id, "next_check_at": next_check_at}
    if lease_token is None:
        result = connection.execute(_DEFER, values)
    else:
        result = connection.execute(_DEFER_CLAIMED, {**values, "token": lease_token})
    return bool(result.rowcount)


# The checked states as literals, so that the planner matches the partial index ix_articles_due
# (its predicate is db.states.CHECKED_PREDICATE); bound parameters it cannot match.
_CHECKED = text(f"articles.{CHECKED_PREDICATE}")


def _article_due(now: dt.datetime) -> list[Any]:
    return [_CHECKED, Article.next_check_at <= now]


# Articles to check: claimed by the schedulers with ``db.lease``, earliest due first.
ARTICLE_WORK = lease.Work("article", Article, _article_due,
                          lambda: (Article.next_check_at, Article.id))


def next_due_time(session: Session) -> dt.datetime | None:
    statement = select(func.min(Article.next_check_at)).where(_CHECKED)
    return session.scalar(statement)  # min() keeps the column's UTC type


def delete_article(session: Session, article: Article) -> dict[str, int]:
    """Delete the article and everything stored about it: versions and their raw bodies,
    checks, aliases, events with their deliveries and attempts, and the articles merged into
    it (other URLs of the same story). The entries of sources that listed it forget it; the
    paragraphs stay until housekeeping collects those no version uses.

    Explicit statements, children first: the ORM would null the children's keys instead, and
    SQLite enforces ON DELETE only with foreign keys switched on. Returns what went, by kind."""
    ids = [article.id, *_merged_into(session, article.id)]
    counts: dict[str, int] = {"articles": len(ids)}
    events = select(Event.id).where(Event.article_id.in_(ids))
    deliveries = select(Delivery.id).where(Delivery.event_id.in_(events))
    versions = select(Version.id).where(Version.article_id.in_(ids))
    release_digests(session, deliveries)  # other articles' events riding along stay queued
    session.execute(delete(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(deliveries)))
    counts["deliveries"] = _rows(session.execute(
        delete(Delivery).where(Delivery.event_id.in_(events))))
    counts["events"] = _rows(session.execute(delete(Event).where(Event.article_id.in_(ids))))
    counts["checks"] = _rows(session.execute(delete(Check).where(Check.article_id.in_(ids))))
    session.execute(delete(Body).where(Body.version_id.in_(versions)))
    session.execute(delete(VersionDiff).where(VersionDiff.version_id.in_(versions)))
    counts["versions"] = _rows(session.execute(
        delete(versions_table).where(versions_table.c.article_id.in_(ids))))
    session.execute(delete(ArticleAlias).where(ArticleAlias.article_id.in_(ids)))
    session.execute(
        update(SourceEntry).where(SourceEntry.article_id.in_(ids)).values(article_id=None)
    )
    session.execute(delete(Article).where(Article.id.in_(ids)))
    for row in [o for o in session.identity_map.values() if isinstance(o, Article)]:
        if row.id in ids:
            session.expunge(row)  # gone: a later flush must not write it back
    return counts


def _merged_into(session: Session, article_id: int) -> list[int]:
    """Articles folded into this one (``tracker.merge``): their own URL is its alias."""
    statement = (
        select(Article.id)
        .join(ArticleAlias, ArticleAlias.url == Article.url)
        .where(ArticleAlias.article_id == article_id, ArticleAlias.reason == "merged",
               Article.state == ArticleState.MERGED)
    )
    return list(session.scalars(statement))


def _rows(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def host_rates(session: Session) -> dict[str, float]:
    """Requests per minute of the hosts that have their own rate (``hosts.rate_per_minute``)."""
    statement = select(Host.host, Host.rate_per_minute).where(Host.rate_per_minute.is_not(None))
    return {host: float(rate) for host, rate in session.execute(statement) if rate is not None}


# --- versions and paragraphs ----------------------------------------------------------------


def latest_version(session: Session, article_id: int) -> Version | None:
    statement = (
        select(Version)
        .where(Version.article_id == article_id)
        .order_by(Version.number.desc())
        .limit(1)
    )
    return session.scalars(statement).one_or_none()


def version_by_number(session: Session, article_id: int, number: int) -> Version | None:
    statement = select(Version).where(Version.article_id == article_id, Version.number == number)
    return session.scalars(statement).one_or_none()


def versions_of(session: Session, article_id: int) -> list[Version]:
    statement = select(Version).where(Version.article_id == article_id).order_by(Version.number)
    return list(session.scalars(statement))


def versions_since(
    session: Session, since: dt.datetime, article_id: int | None = None,
    article_ids: Sequence[int] | None = None,
) -> list[Version]:
    """Versions fetched since ``since``, of one article, of the articles ``article_ids`` (in
    batches of 500 ids), or of all."""
    statement = select(Version).where(Version.fetched_at >= since)
    if article_id is not None:
        statement = statement.where(Version.article_id == article_id)
    order = (Version.article_id, Version.number)
    if article_ids is None:
        return list(session.scalars(statement.order_by(*order)))
    ids = sorted(set(article_ids))
    return [version for start in range(0, len(ids), 500) for version in session.scalars(
        statement.where(Version.article_id.in_(ids[start : start + 500])).order_by(*order))]


def paragraph_ids(session: Session, version: Version) -> list[int]:
    """The paragraph ids of ``version`` in order (resolving its delta chain)."""
    if refs.is_keyframe(version.paragraph_refs):
        return refs.decode([version.paragraph_refs])
    chain = session.execute(
        select(Version.number, Version.paragraph_refs)
        .where(Version.article_id == version.article_id, Version.number <= version.number)
        .where(Version.number > version.number - refs.KEYFRAME_EVERY - 1)
        .order_by(Version.number)
    ).all()
    start = max(i for i, row in enumerate(chain) if refs.is_keyframe(row.paragraph_refs))
    return refs.decode(row.paragraph_refs for row in chain[start:])


def paragraphs_of(session: Session, version: Version) -> list[tuple[str, str]]:
    """(kind, text) of each paragraph of ``version``, in order."""
    return paragraphs_by_id(session, paragraph_ids(session, version))


def paragraphs_by_id(session: Session, ids: Sequence[int]) -> list[tuple[str, str]]:
    """(kind, text) of each of the paragraphs ``ids``, in that order."""
    return edits.in_order(paragraph_queries.texts(session, ids), ids)


def resolved_paragraphs(session: Session, ids: Sequence[int]) -> edits.Resolved:
    """The paragraphs ``ids`` with their texts and what an edit of each would be made against
    (a check's comparison reads these, and the new version's edits are made of them)."""
    return paragraph_queries.resolved(session, ids)


def store_version(
    session: Session,
    article: Article,
    *,
    paragraphs: Sequence[tuple[str, str]],
    fields: dict[str, Any],
    previous: Version | None,
    now: dt.datetime,
) -> Version:
    """Insert version ``previous.number + 1`` with its paragraphs (each stored once).

    ``UNIQUE(article_id, number)`` makes a concurrent duplicate fail at flush."""
    ids = [refs.paragraph_id(kind, text) for kind, text in paragraphs]
    _insert_paragraphs(session, dict(zip(ids, paragraphs, strict=True)))
    number = previous.number + 1 if previous else 1
    previous_ids = paragraph_ids(session, previous) if previous else None
    session.flush()  # the article's pending changes first, as the ORM would order them
    version_id = meta.insert_version(session.connection(), {
        "article_id": article.id, "number": number, "fetched_at": now,
        "paragraph_count": len(ids), "paragraph_refs": refs.encode(ids, previous_ids, number),
        "rebaseline": False, **fields,
    })
    article.version_count = number
    version = session.get(Version, version_id)
    assert version is not None  # inserted just now, in this transaction
    return version


def _insert_paragraphs(session: Session, paragraphs: dict[int, tuple[str, str]]) -> None:
    if not paragraphs:
        return
    existing = set(
        session.scalars(select(Paragraph.id).where(Paragraph.id.in_(list(paragraphs))))
    )
    rows = [
        {"id": i, "kind": kind, "text": text}
        for i, (kind, text) in paragraphs.items()
        if i not in existing
    ]
    if not rows:
        return
    # Another transaction may insert the same paragraph meanwhile: identical content, so ignore.
    insert_paragraphs(session.connection(), rows)



@dataclass(frozen=True, slots=True)
class StoredVersion:
    """A version written by ``insert_version``: what the rest of its transaction refers to."""

    id: int
    number: int


def insert_version(
    session: Session, article: Article, version: dict[str, Any], meta_row: dict[str, Any],
    paragraphs: Sequence[dict[str, Any]],
) -> StoredVersion:
    """Insert a versions row built beforehand (every column but ``id``; ``meta_id`` the key of
    ``meta_row``, see ``db.meta.split``), its metadata row unless stored, and the paragraph
    rows (``id``, ``kind``, ``text``) it may bring, with Core statements in the session's
    transaction: the caller built every value before taking the write lock, and no ORM unit of
    work runs for them. ``UNIQUE(article_id, number)`` refuses a concurrent duplicate."""
    connection = session.connection()
    insert_paragraphs(connection, paragraphs)
    version_id = meta.insert_split(connection, meta_row, version)
    article.version_count = version["number"]
    return StoredVersion(version_id, version["number"])


def insert_paragraphs(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert paragraph rows, skipping those already stored: a paragraph's id is its content,
    so an existing row (stored before, or by a concurrent transaction) is the same paragraph."""
    if not rows:
        return
    if connection.dialect.name != "sqlite":
        # every row with every column (text, or base_id and delta: db.edits) for executemany
        connection.execute(_ignore_existing(connection.dialect.name), edits.full_rows(rows))
        return
    for start in range(0, len(rows), firststore.PARAGRAPH_ROWS):
        _insert_paragraphs_sqlite(connection, rows[start : start + firststore.PARAGRAPH_ROWS])


def _insert_paragraphs_sqlite(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """One multi-row INSERT for the rows, on the driver itself: a new version's paragraphs are
    written while the writer holds the database's write gate, and an executemany steps once
    per row, giving the GIL back to the threads extracting pages each time (and waiting to win
    it back while every other writer waits). No value needs a type's conversion."""
    connection.exec_driver_sql(firststore.paragraphs_insert(len(rows)),
                               firststore.paragraph_values(rows))


@cache  # one statement per dialect, built once
def _ignore_existing(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(Paragraph).on_conflict_do_nothing(index_elements=["id"])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(Paragraph).on_conflict_do_nothing(index_elements=["id"])


def insert_body(session: Session, version_id: int, body: dict[str, Any]) -> None:
    """Insert a ``body_row`` for the version ``version_id`` (Core, like ``insert_version``)."""
    session.connection().execute(_INSERT_BODY, {**body, "version_id": version_id})


_INSERT_BODY = insert(Body)


def body_row(
    *, content_type: str, data: bytes, size: int, url: str | None = None,
    status: int | None = None, headers: Sequence[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The ``bodies`` row of a compressed response but its version id (for ``insert_body``)."""
    return {"content_type": content_type, "encoding": "zlib", "size": size, "data": data,
            "url": url, "status": status,
            "headers": None if headers is None else bounded_headers(headers)}


# Response headers come from the web: a hostile server can send thousands, or megabytes in one.
# What is kept is enough for a faithful archive record of any real page, and no more.
MAX_HEADERS = 100
MAX_HEADER_NAME = 256
MAX_HEADER_VALUE = 8192
MAX_HEADERS_TOTAL = 32_768


def store_body(
    session: Session, version: Version, *, content_type: str, data: bytes, size: int,
    url: str | None = None, status: int | None = None,
    headers: Sequence[tuple[str, str]] | None = None,
) -> None:
    row = body_row(content_type=content_type, data=data, size=size, url=url, status=status,
                   headers=headers)
    session.add(Body(version_id=version.id, **row))


def bounded_headers(headers: Sequence[tuple[str, str]]) -> list[list[str]]:
    """At most ``MAX_HEADERS`` pairs and ``MAX_HEADERS_TOTAL`` characters; control characters
    (a CR or LF would forge a header line in an archive record) become spaces; a name that is
    not a plain token is dropped, an over-long value cut."""
    kept: list[list[str]] = []
    total = 0
    for name, value in headers[: MAX_HEADERS * 4]:
        name, value = _header_text(name), _header_text(value)[:MAX_HEADER_VALUE]
        if not name or len(name) > MAX_HEADER_NAME or not _TOKEN.fullmatch(name):
            continue
        total += len(name) + len(value)
        if total > MAX_HEADERS_TOTAL or len(kept) >= MAX_HEADERS:
            break
        kept.append([name, value])
    return kept


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _header_text(text: str) -> str:
    return _CONTROL.sub(" ", str(text)).strip()


def body_of(session: Session, version: Version) -> Body | None:
    return session.get(Body, version.id)


def prune_bodies(session: Session, older_than: dt.datetime) -> int:
    """Drop raw bodies fetched before ``older_than``, except each article's latest version."""
    latest = (
        select(func.max(Version.id)).group_by(Version.article_id).scalar_subquery()
    )
    old = select(Version.id).where(Version.fetched_at < older_than, Version.id.not_in(latest))
    result = session.execute(delete(Body).where(Body.version_id.in_(old)))
    return int(getattr(result, "rowcount", 0) or 0)


def prune_paragraphs(session: Session) -> int:
    """Delete paragraphs no version refers to any more (after articles were removed), but for
    the bases of the edits that stay (``db.edits``)."""
    used: set[int] = set()
    for version in session.scalars(select(Version)):
        used.update(paragraph_ids(session, version))
    ordered = sorted(used)
    for start in range(0, len(ordered), 500):
        used.update(session.scalars(select(Paragraph.base_id).where(
            Paragraph.id.in_(ordered[start : start + 500]), Paragraph.base_id.is_not(None))))
    unused = [i for i in session.scalars(select(Paragraph.id)) if i not in used]
    for start in range(0, len(unused), 500):
        session.execute(delete(Paragraph).where(Paragraph.id.in_(unused[start : start + 500])))
    return len(unused)


def prune_meta(session: Session) -> int:
    """Delete the version metadata rows no version refers to any more."""
    return meta.prune(session.connection())


def prune_checks(session: Session, older_than: dt.datetime, limit: int) -> int:
    """Delete up to ``limit`` checks started before ``older_than`` that stored no version, but
    never an article's latest check: the next check's decision reads its outcome
    (``last_outcome``). The checks that stored a version stay with it."""
    newer = aliased(Check)
    later = exists().where(
        newer.article_id == Check.article_id,
        or_(newer.started_at > Check.started_at,
            and_(newer.started_at == Check.started_at, newer.id > Check.id)),
    )
    doomed = (
        select(Check.id)
        .where(Check.started_at < older_than, Check.version_id.is_(None), later)
        .limit(limit)
    )
    result = session.execute(delete(Check).where(Check.id.in_(doomed)))
    return int(getattr(result, "rowcount", 0) or 0)


# --- checks and events ----------------------------------------------------------------------


def record_check(session: Session, article: Article, **values: Any) -> Check:
    check = Check(article_id=article.id, **values)
    session.add(check)
    return check


def insert_check(session: Session, article_id: int, values: dict[str, Any]) -> None:
    """``record_check`` as one Core statement (no ORM object to flush at commit)."""
    session.connection().execute(_INSERT_CHECK, {"article_id": article_id, **values})


def last_outcome(session: Session, article_id: int) -> str | None:
    """The outcome of the article's latest check, if any."""
    statement = (
        select(Check.outcome)
        .where(Check.article_id == article_id)
        .order_by(Check.started_at.desc(), Check.id.desc())
        .limit(1)
    )
    return session.scalar(statement)


def checks_of(session: Session, article_id: int, limit: int = 20) -> list[Check]:
    statement = (
        select(Check)
        .where(Check.article_id == article_id)
        .order_by(Check.started_at.desc(), Check.id.desc())
        .limit(limit)
    )
    return list(session.scalars(statement))


def event_uid() -> str:
    """A new event's public, stable identifier (its webhook-id): "evt_" and 24 random hex
    digits."""
    return f"evt_{secrets.token_hex(12)}"


def add_event(
    session: Session,
    article: Article,
    type_: str,
    *,
    now: dt.datetime,
    version: Version | None = None,
    data: dict[str, Any] | None = None,
) -> Event:
    """Append an event to the article's outbox, in the caller's transaction.

    The caller holds the article's row lock (``lock_article``), so the next sequence number is
    its own; ``UNIQUE(article_id, seq)`` would refuse a duplicate all the same."""
    seq = article.event_seq + 1
    article.event_seq = seq
    event = Event(
        uid=event_uid(), article_id=article.id, seq=seq, type=type_,
        version_id=version.id if version else None, created_at=now, data=data or {},
    )
    session.add(event)
    return event


def append_event(
    session: Session, article: Article, type_: str, *, now: dt.datetime,
    version_id: int | None = None, data: dict[str, Any] | None = None,
) -> None:
    """``add_event`` as one Core statement, for an article row already in the database (the
    check's path: no ORM object to flush at commit)."""
    seq = article.event_seq + 1
    article.event_seq = seq
    session.connection().execute(_INSERT_EVENT, {
        "uid": event_uid(), "article_id": article.id, "seq": seq,
        "type": type_, "version_id": version_id, "created_at": now, "data": data or {},
    })


_INSERT_EVENT = insert(Event)


def events_of(session: Session, article_id: int | None = None) -> list[Event]:
    statement = select(Event).order_by(Event.id)
    if article_id is not None:
        statement = statement.where(Event.article_id == article_id)
    return list(session.scalars(statement))


def count_rows(session: Session, model: type[Any], *conditions: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


def failing_articles(session: Session) -> list[Article]:
    statement = select(Article).where(
        or_(Article.failure_count > 0, Article.state.in_(GONE_STATES))
    )
    return list(session.scalars(statement.order_by(Article.id)))


# --- service state --------------------------------------------------------------------------


def beat(session: Session, name: str, now: dt.datetime, data: dict[str, Any]) -> None:
    """Record that ``name`` (the tick, a worker) did its work at ``now``."""
    row = session.get(Heartbeat, name)
    if row is None:
        session.add(Heartbeat(name=name, at=now, data=data))
    else:
        row.at, row.data = now, data


def heartbeat(session: Session, name: str) -> Heartbeat | None:
    return session.get(Heartbeat, name)


def schedule_counts(
    session: Session, now: dt.datetime, overdue_after: dt.timedelta
) -> dict[str, int]:
    """Articles due now, overdue (due for longer than ``overdue_after``), failing, leased."""
    checked = Article.state.in_(CHECKED_STATES)
    return {
        "articles": count_rows(session, Article),
        "due": count_rows(session, Article, checked, Article.next_check_at <= now),
        "overdue": count_rows(session, Article, checked,
                              Article.next_check_at <= now - overdue_after),
        "failing": count_rows(session, Article, Article.failure_count > 0),
        "unavailable": count_rows(session, Article, Article.state.in_(GONE_STATES)),
        "leased": count_rows(session, Article, Article.lease_until > now),
    }
