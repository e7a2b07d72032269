"""The queries of the web view and the HTTP API: pages of articles and of changes, an article's
versions, checks and the raw body, as plain rows over a Session.

Pages are read by keyset (the last row's sort key is the cursor), so the 2,000th page costs what
the first does, on the indexes of migration ``0006_web``. An article's title is its latest
version's. A version is "minor" when its stored diff says so (``version_diffs.minor``).
Nothing here knows about HTTP, diffs or markup.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, cast, exists, func, literal, null, or_, select, text, tuple_
from sqlalchemy.orm import Session, aliased

from db.models import Article, Body, Version, VersionDiff, version_meta_table, versions_table

# Sort orders of the articles page: name -> (column, descending). "changed" puts articles that
# never changed after the others (newest added first).
ARTICLE_SORTS = ("changed", "added", "next_check", "url")
MAX_PAGE = 500
Rows = Select[*tuple[Any, ...]]  # a select() of any columns


@dataclass(frozen=True, slots=True)
class ArticleFilter:
    """What the lists are narrowed to; None (or "") means any."""

    tag: str | None = None
    host: str | None = None
    state: str | None = None
    search: str | None = None  # a substring of the URL or of a headline it had, any case


def article_page(
    session: Session, where: ArticleFilter, *, sort: str = "changed",
    after: Sequence[Any] | None = None, limit: int = 50,
) -> list[Any]:
    """Up to ``limit`` articles after the cursor ``after`` (the ``article_cursor`` of the last
    row of the previous page). Rows carry the article's columns and ``title``."""
    limit = max(1, min(limit, MAX_PAGE))
    if sort == "changed":
        return _by_last_change(session, where, after, limit)
    statement = _filtered(session, _article_columns(), where)
    order: list[Any]
    if sort == "added":
        order = [Article.id.desc()]
        if after:
            statement = statement.where(Article.id < after[0])
    elif sort == "next_check":
        order = [Article.next_check_at, Article.id]
        if after:
            statement = statement.where(
                tuple_(Article.next_check_at, Article.id) > tuple_(_when(after[0]), after[1])
            )
    elif sort == "url":
        order = [Article.url]
        if after:
            statement = statement.where(Article.url > after[0])
    else:
        raise ValueError(f"unknown sort {sort!r}: one of {', '.join(ARTICLE_SORTS)}")
    return list(session.execute(statement.order_by(*order).limit(limit)))


def article_cursor(row: Any, sort: str) -> list[Any]:
    """The cursor that continues after ``row`` in ``sort`` order (JSON-ready values)."""
    if sort == "changed":
        changed = row.last_changed_at
        return [changed.isoformat() if changed else None, row.id]
    if sort == "next_check":
        return [row.next_check_at.isoformat(), row.id]
    if sort == "url":
        return [row.url]
    return [row.id]


def _by_last_change(
    session: Session, where: ArticleFilter, after: Sequence[Any] | None, limit: int
) -> list[Any]:
    """Changed articles newest change first, then those that never changed, newest first: two
    index range scans, since NULLs sort differently on SQLite and PostgreSQL."""
    rows: list[Any] = []
    changed_at, last_id = (after[0], after[1]) if after else (None, None)
    if not after or changed_at is not None:
        statement = _filtered(session, _article_columns(), where).where(
            Article.last_changed_at.is_not(None)
        )
        if after:
            statement = statement.where(
                tuple_(Article.last_changed_at, Article.id) < tuple_(_when(changed_at), last_id)
            )
        order = (Article.last_changed_at.desc(), Article.id.desc())
        rows = list(session.execute(statement.order_by(*order).limit(limit)))
        last_id = None
    if len(rows) < limit:
        statement = _filtered(session, _article_columns(), where).where(
            Article.last_changed_at.is_(None)
        )
        if last_id is not None:
            statement = statement.where(Article.id < last_id)
        rest = statement.order_by(Article.id.desc()).limit(limit - len(rows))
        rows += list(session.execute(rest))
    return rows


def _article_columns() -> Rows:
    """The articles with their latest version's headline: two outer joins of the tables, not
    one of ``Version``'s ``versions JOIN version_meta``, which SQLite materialises whole (every
    version of every article) for each query: 250 ms a page at 100,000 articles."""
    versions, meta = versions_table, version_meta_table
    latest = and_(versions.c.article_id == Article.id,
                  versions.c.number == Article.version_count)  # fmt: skip
    statement: Rows = (
        select(
            Article.id, Article.url, Article.host, Article.state, Article.tags,
            Article.developing, Article.version_count, Article.last_changed_at,
            Article.last_checked_at, Article.next_check_at, Article.created_at,
            Article.interval, Article.base_interval, Article.failure_count, Article.last_error,
            Article.selector, meta.c.title,
        )
        .select_from(Article)
        .outerjoin(versions, latest)
        .outerjoin(meta, meta.c.id == versions.c.meta_id)
    )
    return statement


def _filtered(session: Session, statement: Rows, where: ArticleFilter) -> Rows:
    if where.host:
        statement = statement.where(Article.host == where.host)
    if where.state:
        statement = statement.where(Article.state == where.state)
    if where.tag:
        statement = statement.where(_has_tag(session, where.tag))
    if where.search:
        pattern = "%" + _like_escaped(where.search.lower()) + "%"
        # Two scans, each run once (uncorrelated): URLs, and every headline an article had;
        # the page's index order then applies to the few ids found.
        by_url = select(Article.id).where(func.lower(Article.url).like(pattern, escape="\\"))
        titled = aliased(Version)
        by_title = select(titled.article_id).where(
            func.lower(titled.title).like(pattern, escape="\\")
        )
        statement = statement.where(or_(Article.id.in_(by_url), Article.id.in_(by_title)))
    return statement


def _has_tag(session: Session, tag: str) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        return cast(Article.tags, JSONB).contains(cast(literal([tag], JSONB), JSONB))
    each = func.json_each(Article.tags).table_valued("value")
    return exists(select(literal(1)).select_from(each).where(each.c.value == tag))


def _like_escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _when(value: Any) -> dt.datetime:
    """A cursor's time (ISO text from a URL, or a datetime) as an aware datetime."""
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


# --- changes ------------------------------------------------------------------------------------


def _is_minor() -> Any:
    return exists(
        select(literal(1)).where(VersionDiff.version_id == Version.id, VersionDiff.minor)
    )


def change_page(
    session: Session, where: ArticleFilter, *, minor: bool = False,
    since: dt.datetime | None = None, article_id: int | None = None,
    after: Sequence[Any] | None = None, limit: int = 50,
) -> list[Any]:
    """Versions that are changes (not a first version, not a re-baseline), newest first:
    rows of the version (``version_id``, ``number``, ``fetched_at``, ``title``), its article
    (``article_id``, ``url``, ``host``, ``tags``, ``state``), ``minor``, and the content hashes
    of the version and the one before (``content_hash``, ``previous_hash``). Minor changes only
    with ``minor``. ``after`` is the ``change_cursor`` of the previous page's last row."""
    limit = max(1, min(limit, MAX_PAGE))
    # The version before, from the table alone: an outer join of the mapped join would be
    # materialised whole by SQLite (see _article_columns).
    previous = versions_table.alias("previous")
    statement: Rows = select(
        Version.id.label("version_id"), Version.number, Version.fetched_at, Version.title,
        Version.content_hash, previous.c.content_hash.label("previous_hash"),
        Article.id.label("article_id"), Article.url, Article.host, Article.tags, Article.state,
        _is_minor().label("minor") if minor else null().label("minor"),
    ).join(Article, Article.id == Version.article_id).outerjoin(
        previous,
        and_(previous.c.article_id == Version.article_id,
             previous.c.number == Version.number - 1),
    )
    statement = _filtered(session, statement, where).where(
        Version.number > 1, Version.rebaseline.is_(False)
    )
    if not minor:
        statement = statement.where(~_is_minor())
    if since is not None:
        statement = statement.where(Version.fetched_at >= since)
    if article_id is not None:
        statement = statement.where(Version.article_id == article_id)
    if after:
        statement = statement.where(
            tuple_(Version.fetched_at, Version.id) < tuple_(_when(after[0]), after[1])
        )
    order = (Version.fetched_at.desc(), Version.id.desc())
    return list(session.execute(statement.order_by(*order).limit(limit)))


def change_cursor(row: Any) -> list[Any]:
    return [row.fetched_at.isoformat(), row.version_id]


# --- one article ----------------------------------------------------------------------------


def article_row(session: Session, article_id: int) -> Any | None:
    statement = _article_columns().where(Article.id == article_id)
    return session.execute(statement).one_or_none()


def version_rows(session: Session, article_id: int, number: int | None = None) -> list[Any]:
    """Every version of an article (or only version ``number``), oldest first, without the
    paragraph lists, with ``minor``."""
    statement = select(
        Version.id, Version.number, Version.fetched_at, Version.content_hash, Version.title,
        Version.byline,
        Version.published, Version.updated, Version.language, Version.canonical_url,
        Version.lead_image, Version.lead_caption, Version.extractor, Version.rebaseline,
        Version.paragraph_count, _is_minor().label("minor"),
    ).where(Version.article_id == article_id).order_by(Version.number)
    if number is not None:
        statement = statement.where(Version.number == number)
    return list(session.execute(statement))


def body_row(session: Session, article_id: int, number: int) -> Body | None:
    """The kept raw response of version ``number``, if it was kept."""
    statement = (
        select(Body)
        .join(Version, Version.id == Body.version_id)
        .where(Version.article_id == article_id, Version.number == number)
    )
    return session.scalars(statement).one_or_none()


def has_body(session: Session, version_id: int) -> bool:
    statement = select(literal(1)).where(Body.version_id == version_id)
    return session.execute(statement).first() is not None


def ping(session: Session) -> None:
    """Raises when the database cannot be reached."""
    session.execute(text("SELECT 1"))
