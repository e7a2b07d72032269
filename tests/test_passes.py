"""One-off passes (tracker.passes): what a watcher of a pass (the CLI's progress bar) is told."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from db import queries
from db.models import Check, Version
from db.session import session_scope
from tests.articleserver import ArticleServer
from tracker.app import App
from tracker.articles import add_articles
from tracker.check import (
    KEPT,
    CheckResult,
    KeptStores,
    check_target,
    load_targets,
    store_kept,
    store_kept_all,
)
from tracker.passes import Progress, check_pass


def test_a_watched_pass_announces_its_size_and_reports_every_result(
    app: App, article_server: ArticleServer
) -> None:
    urls = [article_server.add_article(f"w{i}", 1) for i in range(3)]
    add_articles(app, urls)
    totals: list[int] = []
    seen: list[CheckResult] = []

    @contextmanager
    def watch(total: int) -> Iterator[Progress]:
        totals.append(total)
        yield seen.append

    results = check_pass(app, urls[:2], all_=False, concurrency=2, watch=watch)
    assert totals == [2]
    assert sorted(r.url for r in seen) == sorted(urls[:2])
    assert seen == results
    everything = check_pass(app, [], all_=True, concurrency=2, watch=watch)
    assert totals == [2, 3]
    assert len(everything) == 3
    assert seen[2:] == everything


# --- a database that refuses one article's rows, in a pass forked into processes ------------

REFUSE_SQLITE = """CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} {when}
BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END"""
REFUSE_POSTGRES = [
    """CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
       RAISE EXCEPTION 'refused by a test trigger' USING ERRCODE = 'unique_violation'; END $$""",
    "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} FOR EACH ROW {when} "
    "EXECUTE FUNCTION refuse()",
]


@contextmanager
def refusing_inserts(app: App, tables: dict[str, int | None]) -> Iterator[None]:
    """The database refuses, as a conflict (an IntegrityError), inserts into each table (those
    of one article when an id is given), as a real constraint would; as it was afterwards (the
    PostgreSQL test database outlives the test)."""
    from sqlalchemy import text

    from db.session import session_scope

    postgres = app.settings.database_url.startswith("postgresql")
    with session_scope(app.writer) as session:
        if postgres:
            session.execute(text(REFUSE_POSTGRES[0]))
        for table, article_id in tables.items():
            when = "" if article_id is None else f"WHEN (NEW.article_id = {int(article_id)})"
            template = REFUSE_POSTGRES[1] if postgres else REFUSE_SQLITE
            session.execute(text(template.format(table=table, when=when)))
    try:
        yield
    finally:
        with session_scope(app.writer) as session:
            for table in tables:
                on = f" ON {table}" if postgres else ""
                session.execute(text(f"DROP TRIGGER refuse_{table}{on}"))
            if postgres:
                session.execute(text("DROP FUNCTION refuse()"))


@pytest.fixture
def forked(make_app, monkeypatch: pytest.MonkeyPatch) -> App:  # type: ignore[no-untyped-def]
    """An App whose passes fork into two processes even for a handful of articles."""
    from tracker import passes

    monkeypatch.setattr(passes, "PROCESS_THRESHOLD", 4)
    monkeypatch.setattr(passes, "CHUNK", 2)
    return make_app(processes=2, concurrency=4)  # type: ignore[no-any-return]


def test_an_article_whose_version_the_database_refuses_fails_alone(
    forked: App, article_server: ArticleServer
) -> None:
    """Its check conflicts twice (the re-read does not help): that article's recorded
    failure, while the pass, forked into processes, stores every other article."""
    from db import queries
    from db.session import session_scope

    urls = [article_server.add_article(f"r{i}", 1) for i in range(6)]
    add_articles(forked, urls)
    with session_scope(forked.reader) as session:
        refused = queries.article_by_url(session, urls[3]).id  # type: ignore[union-attr]
    with refusing_inserts(forked, {"versions": refused}):
        results = {r.url: r for r in check_pass(forked, [], all_=True, concurrency=4)}
    assert sorted(results) == sorted(urls)
    assert {r.outcome for url, r in results.items() if url != urls[3]} == {"first_seen"}
    failed = results[urls[3]]
    assert not failed.ok
    assert "could not store the check" in (failed.error or "")
    assert "refused by a test trigger" in (failed.error or "")
    with session_scope(forked.reader) as session:
        article = queries.article_by_id(session, refused)
        assert article is not None
        assert article.version_count == 0
        assert "refused by a test trigger" in (article.last_error or "")


def test_a_database_refusing_every_write_ends_a_forked_pass_with_one_line(
    forked: App, article_server: ArticleServer
) -> None:
    """Nothing can be recorded, not even the failure: the pass ends with the database's
    reason, said in a forked process as an error that reaches the parent whole."""
    from db.session import DatabaseProblem

    add_articles(forked, [article_server.add_article(f"d{i}", 1) for i in range(6)])
    with refusing_inserts(forked, {"versions": None, "checks": None}), \
            pytest.raises(DatabaseProblem) as raised:
        check_pass(forked, [], all_=True, concurrency=4)
    message = str(raised.value)
    assert message.startswith("database error:")
    assert "refused by a test trigger" in message
    assert "\n" not in message


# --- the parent's store of the checks its processes kept (store_kept) ----------------------


def keep(app: App, urls: list[str]) -> tuple[list[int], KeptStores]:
    """Articles of ``urls`` tracked and checked up to their store, kept (as a forked process
    keeps them for the parent)."""
    add_articles(app, urls)
    with session_scope(app.reader) as session:
        ids = [queries.article_by_url(session, url).id for url in urls]  # type: ignore[union-attr]
    stores = KeptStores()
    targets = load_targets(app, ids)
    assert {check_target(app, targets[i], stores=stores).outcome for i in ids} == {KEPT}
    return ids, stores


def test_kept_checks_fail_alone_and_keep_to_their_claims(
    app: App, article_server: ArticleServer
) -> None:
    """A kept check whose row is refused after its version was written stores nothing of it
    and records its failure; one whose claim was lost meanwhile stores nothing at all; the
    others are stored."""
    ids, stores = keep(app, [article_server.add_article(f"k{i}", 1) for i in range(4)])
    kept = stores.take()
    kept[1] = replace(kept[1], target=replace(kept[1].target, lease_token="someone else's"))
    with refusing_inserts(app, {"events": ids[2]}):  # refused after its version was written
        results = [store_kept(app, k) for k in kept]
    assert [r.outcome for r in results] == ["first_seen", "skipped", "failed", "first_seen"]
    assert "refused by a test trigger" in (results[2].error or "")
    with session_scope(app.reader) as session:
        versions = session.scalars(select(Version.article_id)).all()
        checks = session.scalars(select(Check.article_id)).all()
        rows = {i: queries.article_by_id(session, i) for i in ids}
    assert sorted(versions) == [ids[0], ids[3]]
    assert sorted(checks) == [ids[0], ids[2], ids[3]]
    assert [rows[i].version_count for i in ids] == [1, 0, 0, 1]  # type: ignore[union-attr]
    assert rows[ids[1]].last_checked_at is None  # type: ignore[union-attr]
    assert "refused by a test trigger" in (rows[ids[2]].last_error or "")  # type: ignore[union-attr]


def test_kept_checks_write_the_rows_checks_write_themselves(
    sqlite_url: str, sqlite_template: Path, tmp_path: Path, article_server: ArticleServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same pages, kept and stored by ``store_kept`` (as the parent of a forked pass
    stores them, on SQLite with the stdlib driver: ``db.firststore``) in one database and
    stored by their own checks through SQLAlchemy in another: every table's rows the same,
    read by SQLAlchemy and as stored (the stored text of times, JSON and booleans), but for
    when they were written and how long it took."""
    from tracker import check
    from tracker.config import load_settings

    shutil.copy(sqlite_template, tmp_path / "one_by_one.db")
    parent, one_by_one = (App(load_settings(database_url=url)) for url in (
        sqlite_url, f"sqlite:///{tmp_path / 'one_by_one.db'}"))
    try:
        urls = [article_server.add_article(f"s{i}", 1 + i % 3) for i in range(5)]
        _, stores = keep(parent, urls)
        with statements_of(parent) as sent:
            assert {store_kept(parent, k).outcome for k in stores.take()} == {"first_seen"}
        assert sent == []  # all on the driver itself
        add_articles(one_by_one, urls)
        monkeypatch.setattr(check, "_first_version", lambda *_: False)
        with statements_of(one_by_one) as sent:
            assert {r.outcome for r in check_pass(one_by_one, urls, all_=False,
                                                  concurrency=1)} == {"first_seen"}
        assert any(sql.startswith("INSERT INTO versions") for sql in sent)
        assert table_rows(parent) == table_rows(one_by_one)
        assert stored_rows(sqlite_url) == stored_rows(f"sqlite:///{tmp_path / 'one_by_one.db'}")
    finally:
        parent.close()
        one_by_one.close()


def test_a_kept_first_version_another_check_stored_meanwhile_is_compared_with_it(
    app: App, article_server: ArticleServer
) -> None:
    """A kept first sight whose article got its first version from another check after it was
    kept: not a first version any more, compared with the stored one (the same text: nothing
    new), on both databases."""
    ids, stores = keep(app, [article_server.add_article(f"m{i}", 1) for i in range(2)])
    assert check_target(app, load_targets(app, [ids[0]])[ids[0]]).outcome == "first_seen"
    results = [store_kept(app, k) for k in stores.take()]
    assert [r.outcome for r in results] == ["unchanged", "first_seen"]
    with session_scope(app.reader) as session:
        assert sorted(session.scalars(select(Version.article_id)).all()) == ids
        assert len(session.scalars(select(Check.id)).all()) == 3


def test_kept_checks_stored_together_fail_alone_and_keep_to_their_claims(
    app: App, article_server: ArticleServer
) -> None:
    """``store_kept_all`` (a chunk's kept checks, the first versions in one transaction on
    SQLite, a savepoint each) as ``store_kept`` of each: the refused one stores nothing and
    records its failure, the one whose claim was lost stores nothing, the others are stored,
    and the results come in the order of the checks."""
    ids, stores = keep(app, [article_server.add_article(f"t{i}", 1) for i in range(5)])
    kept = stores.take()
    kept[1] = replace(kept[1], target=replace(kept[1].target, lease_token="someone else's"))
    with refusing_inserts(app, {"events": ids[2]}):  # refused after its version was written
        results = store_kept_all(app, kept)
    assert [r.article_id for r in results] == ids
    assert [r.outcome for r in results] == [
        "first_seen", "skipped", "failed", "first_seen", "first_seen"]
    assert "refused by a test trigger" in (results[2].error or "")
    with session_scope(app.reader) as session:
        versions = session.scalars(select(Version.article_id)).all()
        checks = session.scalars(select(Check.article_id)).all()
        rows = {i: queries.article_by_id(session, i) for i in ids}
    assert sorted(versions) == [ids[0], ids[3], ids[4]]
    assert sorted(checks) == [ids[0], ids[2], ids[3], ids[4]]
    assert [rows[i].version_count for i in ids] == [1, 0, 0, 1, 1]  # type: ignore[union-attr]
    assert rows[ids[1]].last_checked_at is None  # type: ignore[union-attr]
    assert "refused by a test trigger" in (rows[ids[2]].last_error or "")  # type: ignore[union-attr]


def test_kept_first_versions_are_stored_in_one_transaction_as_checks_store_them(
    sqlite_url: str, sqlite_template: Path, tmp_path: Path, article_server: ArticleServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A chunk's kept first versions stored by ``store_kept_all``: one write transaction for
    them all (one begin, one commit), none of it through SQLAlchemy, and every table's rows
    those their own checks write through SQLAlchemy in another database, read by SQLAlchemy
    and as stored."""
    from db import firststore
    from tracker import check
    from tracker.config import load_settings

    shutil.copy(sqlite_template, tmp_path / "one_by_one.db")
    parent, one_by_one = (App(load_settings(database_url=url)) for url in (
        sqlite_url, f"sqlite:///{tmp_path / 'one_by_one.db'}"))
    begun: list[object] = []
    immediate = firststore.immediate

    def counted(engine: object) -> object:
        begun.append(engine)
        return immediate(engine)  # type: ignore[arg-type]

    try:
        urls = [article_server.add_article(f"u{i}", 1 + i % 3) for i in range(5)]
        _, stores = keep(parent, urls)
        monkeypatch.setattr(firststore, "immediate", counted)
        with statements_of(parent) as sent:
            assert {r.outcome for r in store_kept_all(parent, stores.take())} == {"first_seen"}
        assert sent == []  # all on the driver itself
        assert len(begun) == 1
        add_articles(one_by_one, urls)
        monkeypatch.setattr(check, "_first_version", lambda *_: False)
        assert {r.outcome for r in check_pass(one_by_one, urls, all_=False,
                                              concurrency=1)} == {"first_seen"}
        assert table_rows(parent) == table_rows(one_by_one)
        assert stored_rows(sqlite_url) == stored_rows(f"sqlite:///{tmp_path / 'one_by_one.db'}")
    finally:
        parent.close()
        one_by_one.close()


def test_a_kept_first_version_stored_meanwhile_is_compared_with_it_in_a_chunk(
    app: App, article_server: ArticleServer
) -> None:
    """Among a chunk's kept first sights stored together, one whose article got its first
    version from another check meanwhile: compared with it on its own (nothing new), the
    others stored, on both databases."""
    ids, stores = keep(app, [article_server.add_article(f"v{i}", 1) for i in range(3)])
    assert check_target(app, load_targets(app, [ids[1]])[ids[1]]).outcome == "first_seen"
    results = store_kept_all(app, stores.take())
    assert [r.outcome for r in results] == ["first_seen", "unchanged", "first_seen"]
    with session_scope(app.reader) as session:
        assert sorted(session.scalars(select(Version.article_id)).all()) == ids
        assert len(session.scalars(select(Check.id)).all()) == 4


@contextmanager
def statements_of(app: App) -> Iterator[list[str]]:
    """The SQL of every statement SQLAlchemy sends to ``app``'s database meanwhile."""
    from sqlalchemy import event

    sent: list[str] = []

    def record(*args: object) -> None:
        sent.append(str(args[2]))

    event.listen(app.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(app.engine, "before_cursor_execute", record)


# Besides the timestamps: how long a check took, the random public id of an event, and what
# depends on the raw page (the test server's pages differ from one request to the next, the
# article's text not).
UNEQUAL = {"duration_ms", "lag_ms", "uid", "bodies.data", "bodies.size", "bodies.headers",
           "articles.etag", "articles.last_modified", "articles.body_digest"}


def stored_rows(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows as SQLite stores them (read with sqlite3); the columns of ``UNEQUAL``
    and the times as their shape (``_shape``): the stored form, not the value."""
    import sqlite3

    from db.models import Base, UTCDateTime

    found: dict[str, list[tuple[object, ...]]] = {}
    connection = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        for table in Base.metadata.sorted_tables:
            columns = list(table.columns)
            shaped = [bool({c.name, f"{table.name}.{c.name}"} & UNEQUAL)
                      or isinstance(c.type, UTCDateTime) for c in columns]
            order = ", ".join(c.name for c in table.primary_key.columns)
            found[table.name] = [
                tuple(_shape(v) if shape else v for v, shape in zip(row, shaped, strict=True))
                for row in connection.execute(
                    f"SELECT {', '.join(c.name for c in columns)} "
                    f"FROM {table.name} ORDER BY {order}")]
    finally:
        connection.close()
    return found


def _shape(value: object) -> object:
    """A time's text with each digit 0 (its format), any other value's type (integer
    microseconds of ``db.models.CompactUTCDateTime``, an event id's bytes)."""
    import re

    if isinstance(value, str) and re.fullmatch(r"[\d :.+-]+", value):
        return re.sub(r"\d", "0", value)
    return type(value).__name__


def table_rows(app: App) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows in the order of their ids, but for the columns of ``UNEQUAL`` and
    the timestamps."""
    from db.models import Base, UTCDateTime

    found: dict[str, list[tuple[object, ...]]] = {}
    with session_scope(app.reader) as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns
                       if not ({c.name, f"{table.name}.{c.name}"} & UNEQUAL
                               or isinstance(c.type, UTCDateTime))]
            order = list(table.primary_key.columns)
            found[table.name] = [tuple(row) for row in
                                 session.execute(select(*columns).order_by(*order))]
    return found


def test_a_pass_about_to_fork_makes_what_its_processes_would_each_make() -> None:
    """``_warm`` (before the fork pool starts): the extractor and the TLS context when some
    article was never stored, nothing for a pass of stored articles (it may extract nothing)."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from tracker import netguard, passes\n"
        "from tracker.check import Target\n"
        "def target(versions):\n"
        "    return Target(1, 'https://news.example/a', None, None, None, None, None,\n"
        "                  'active', 600, 600, None, None, version_count=versions)\n"
        "assert netguard.tls_context.cache_info().currsize == 0\n"
        "passes._warm([target(3)])\n"
        "assert netguard.tls_context.cache_info().currsize == 0\n"
        "assert 'tracker.templates' not in sys.modules\n"
        "passes._warm([target(3), target(0)])\n"
        "assert netguard.tls_context.cache_info().currsize == 1\n"
        "assert 'tracker.templates' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=Path(__file__).parent.parent, timeout=120)
    assert result.returncode == 0, result.stderr
