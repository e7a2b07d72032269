"""One-off passes (tracker.passes): what a watcher of a pass (the CLI's progress bar) is told."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.articleserver import ArticleServer
from tracker.app import App
from tracker.articles import add_articles
from tracker.check import CheckResult
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
