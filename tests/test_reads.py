"""The read path (db.reads): its SQL text gives, through stdlib sqlite3 and through a SQLAlchemy
connection, the values the ORM gives (aware UTC times, decoded JSON, booleans, bytes), and the
read use cases (tracker.reading) give the same results through either driver.

Data stored by real checks of a real article server; SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import delete, update

from db import diff_queries, queries, reads, refs
from db.diffdata import unpack
from db.models import Article, VersionDiff
from db.reads import Reader
from db.session import session_scope
from tests.articleserver import ArticleServer
from tracker import reading, report
from tracker.app import App
from tracker.articles import add_articles
from tracker.check import check_article
from tracker.clock import utcnow
from tracker.diffstore import record_diff
from tracker.stored import version_texts


@dataclass
class Stored:
    url: str  # three versions; v2's diff stored as minor, v3's not stored at all
    alias: str  # another URL of the same story
    failing: str  # tracked, never fetched: a failed check
    article_id: int


@pytest.fixture
def stored(app: App, article_server: ArticleServer) -> Stored:
    url = article_server.add_article("story", 1)
    failing = article_server.url("story-that-is-not-there")
    add_articles(app, [url], tags=["politik", "ausland"])
    add_articles(app, [failing])
    with session_scope(app.writer) as session:
        article = queries.article_by_url(session, url)
        assert article is not None
        article_id = article.id
        queries.add_alias(session, url + "?amp=1", article_id, "amp", utcnow())
        missing = queries.article_by_url(session, failing)
        assert missing is not None
        failing_id = missing.id
    for version in (1, 2, 3):
        article_server.set_version("story", version)
        check_article(app, article_id)
    check_article(app, failing_id)
    with session_scope(app.writer) as session:
        ids = {v.number: v.id for v in queries.versions_of(session, article_id)}
        session.execute(update(VersionDiff).where(VersionDiff.version_id == ids[2])
                        .values(minor=True))  # fmt: skip
        session.execute(delete(VersionDiff).where(VersionDiff.version_id == ids[3]))
    return Stored(url, url + "?amp=1", failing, article_id)


def readers(app: App) -> list[str]:
    sqlite = app.settings.resolved_database_url.startswith("sqlite")
    return ["sqlite3", "sqlalchemy"] if sqlite else ["sqlalchemy"]


@contextmanager
def reader_of(app: App, driver: str) -> Iterator[Reader]:
    if driver == "sqlite3":
        with reads.sqlite_reader(app.settings.resolved_database_url) as fast:
            assert fast is not None, "the stdlib path declined a current SQLite database"
            yield fast
        return
    with app.engine.connect() as connection:
        yield Reader.over(connection)


def same(row: reads.Row, orm: Any, names: list[str]) -> None:
    """Each column of ``row`` equals the ORM's value, and is of the same type."""
    for name in names:
        expected = getattr(orm, name)
        assert row[name] == expected, name
        assert type(row[name]) is type(expected), name


def columns(listed: str) -> list[str]:
    return [column.strip().split(".")[1] for column in listed.split(",")]


def test_articles_read_as_the_orm_reads_them(app: App, stored: Stored) -> None:
    names = columns(reads.ARTICLE_COLUMNS)
    with session_scope(app.reader) as session:
        orm = queries.list_articles(session)
        titles = queries.latest_titles(session, [a.id for a in orm])
        for driver in readers(app):
            with reader_of(app, driver) as reader:
                rows = reads.list_articles(reader, limit=None, offset=0)
                assert [row.id for row in rows] == [a.id for a in orm]
                for row, article in zip(rows, orm, strict=True):
                    same(row, article, names)
                    assert row.title == titles.get(article.id)
                assert reads.list_articles(reader, limit=1, offset=1) == rows[1:2]
                for url in (stored.url, stored.alias):
                    found = reads.resolve_url(reader, url)
                    assert found is not None
                    assert found.id == stored.article_id
                assert reads.resolve_url(reader, stored.url + "/other") is None
    assert {"politik", "ausland"} == set(rows[0].tags)


def test_versions_and_paragraphs_read_as_the_orm_reads_them(app: App, stored: Stored) -> None:
    names = columns(reads.VERSION_COLUMNS)
    since = utcnow().replace(year=2000)
    with session_scope(app.reader) as session:
        orm = queries.versions_of(session, stored.article_id)
        assert [v.number for v in orm] == [1, 2, 3]
        for driver in readers(app):
            with reader_of(app, driver) as reader:
                rows = reads.versions_of(reader, stored.article_id)
                for row, version in zip(rows, orm, strict=True):
                    same(row, version, names)
                    assert reads.paragraphs_of(reader, row) == [queries.paragraphs_of(
                        session, version)]
                    assert reads.version(reader, stored.article_id, version.number) == row
                assert reads.version(reader, stored.article_id, None) == rows[-1]
                assert reads.paragraphs_of(reader, *rows) == [
                    queries.paragraphs_of(session, version) for version in orm]
                assert reads.version(reader, stored.article_id, 9) is None
                for article_id in (None, stored.article_id):
                    found, before = reads.changes_since(reader, since, article_id)
                    assert [(v.id, v.url) for v in found] == [(v.id, stored.url) for v in orm]
                    assert before == {(stored.article_id, row.number): row for row in rows[:2]}
                assert reads.changes_since(reader, utcnow(), None) == ([], {})
                assert reads.changes_since(reader, orm[-1].fetched_at, None) == (
                    [{**rows[-1], "url": stored.url}], {(stored.article_id, 2): rows[1]})


def test_diffs_and_checks_read_as_the_orm_reads_them(app: App, stored: Stored) -> None:
    with session_scope(app.reader) as session:
        versions = queries.versions_of(session, stored.article_id)
        ids = [v.id for v in versions]
        checks = queries.checks_of(session, stored.article_id)
        failing = queries.article_by_url(session, stored.failing)
        assert failing is not None
        failed = queries.checks_of(session, failing.id)
        for driver in readers(app):
            with reader_of(app, driver) as reader:
                assert reads.minor_ids(reader, ids) == diff_queries.minor_ids(session, ids) == {
                    ids[1]}
                for version in versions:
                    texts = version_texts(session, version)
                    found = diff_queries.diff_of(session, version.id, texts)
                    assert reads.stored_diff(reader, version.id, texts) == (
                        found.data if found else None)
                packed = reads.stored_diffs(reader, [*ids, *ids])
                texts = version_texts(session, versions[1])
                minor_diff = diff_queries.diff_of(session, ids[1], texts)
                assert minor_diff is not None
                assert {i: (unpack(data, texts), minor) for i, (data, minor) in packed.items()} == {
                    ids[1]: (minor_diff.data, True)}  # v1 has none, v3's was deleted
                assert reads.stored_summaries(reader, stored.article_id) == (
                    diff_queries.summaries(session, stored.article_id))
                for orm, article_id in ((checks, stored.article_id), (failed, failing.id)):
                    rows = reads.checks_of(reader, article_id)
                    assert len(rows) == len(orm)
                    for row, check in zip(rows, orm, strict=True):
                        same(row, check, [n for n in row if n != "status_code"])
                        assert row.status_code == check.status_code
    assert failed[0].error


def test_the_read_use_cases_give_the_same_through_either_driver(
    make_app: Any, stored: Stored,
) -> None:
    """Through stdlib sqlite3 (a new App) and through the engine's connection (an App whose
    engine is open: ``App.read`` takes it) on SQLite; on PostgreSQL both are the engine's."""
    results = []
    for warm in (False, True):
        app = make_app()
        if warm:
            assert app.engine is not None
        since = utcnow().replace(year=2000)
        entries = report.changes(app, since)
        view, diff = reading.stored_change(app, stored.url, 1, 3)
        results.append((
            reading.list_articles(app), reading.list_articles(app, limit=1, offset=1),
            reading.history(app, stored.url), reading.show(app, stored.alias),
            reading.show(app, stored.url, 1), report.to_json(entries),
            report.render_text(entries, color=True), report.render_markdown(entries),
            report.to_json(report.changes(app, since, stored.url, only={(stored.article_id, 3)})),
            diff.to_json(), view.summary,
        ))
    assert results[0] == results[1]
    history = results[0][2]
    assert [(v["minor"], v["summary"] is None) for v in history["versions"]] == [
        (False, True), (True, False), (False, False)]
    assert [change["to_version"] for change in results[0][5]["changes"]] == [2, 3]


def long_histories(app: App, start: dt.datetime) -> dict[str, list[int]]:
    """Two articles of 40 and 3 versions, one minute apart from ``start``, each version one
    paragraph edited (deltas past a key frame: the chains cross ``refs.KEYFRAME_EVERY``);
    versions 5 and 36 of the first stored without a diff, 7 as minor. URL → version ids."""
    body = [f"Absatz {k}: " + "Worte, die sich selten ändern. " * 3 for k in range(8)]
    found: dict[str, list[int]] = {}
    with session_scope(app.writer) as session:
        for url, count in (("https://long.example/news/a", 40), ("https://b.example/news/b", 3)):
            article, _ = queries.add_article(session, url=url, host=url.split("/")[2],
                                             interval=600, now=start)  # fmt: skip
            previous, texts = None, list(body)
            for number in range(1, count + 1):
                texts[number % len(texts)] += f" (Stand {number})"
                version = queries.store_version(
                    session, article, paragraphs=[("text", t) for t in texts],
                    fields={"title": f"Stand {number}", "content_hash": f"{url}{number}",
                            "extractor": "test", "rebaseline": False},
                    previous=previous, now=start + dt.timedelta(minutes=number))  # fmt: skip
                if (count, number) not in ((40, 5), (40, 36)):
                    record_diff(session, previous, version, minor=(count, number) == (40, 7))
                previous = version
                found.setdefault(url, []).append(version.id)
    return found


def test_the_changes_are_read_in_a_fixed_number_of_queries(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``changes_since`` reads every change of the window (their versions and predecessors,
    the delta chains, the paragraphs, the stored diffs and minor flags) in four queries, and
    gives what reading each change on its own (``stored_change``: the diff stored or computed)
    gives."""
    start = utcnow() - dt.timedelta(hours=1)
    stored = long_histories(app, start)
    with session_scope(app.reader) as session:
        orm = [v for url in stored for v in queries.versions_of(
            session, queries.article_by_url(session, url).id)]  # type: ignore[union-attr]
        assert not all(refs.is_keyframe(v.paragraph_refs) for v in orm)
        for driver in readers(app):
            with reader_of(app, driver) as reader:
                rows = [row for url in stored for row in reads.versions_of(
                    reader, reads.resolve_url(reader, url).id)]  # type: ignore[union-attr]
                expected = [queries.paragraphs_of(session, version) for version in orm]
                assert reads.paragraphs_of(reader, *rows) == expected
                with monkeypatch.context() as small:  # one article's range, 3 ids per query
                    small.setattr(reads, "_RANGES", 1)
                    small.setattr(reads, "_CHUNK", 3)
                    assert reads.paragraphs_of(reader, *rows) == expected
    everything = reading.changes_since(app, start)
    assert len(everything) == 41  # 39 + 2: every version but the first of each
    with monkeypatch.context() as small:
        small.setattr(reads, "_RANGES", 1)
        small.setattr(reads, "_CHUNK", 3)
        assert reading.changes_since(app, start) == everything
    statements: list[str] = []
    run = Reader._run  # every query of a reader, whatever form its rows take

    def counted(self: Reader, sql: str, params: dict[str, Any]) -> tuple[list[str], list[Any]]:
        statements.append(sql)
        return run(self, sql, params)

    monkeypatch.setattr(Reader, "_run", counted)
    since = start + dt.timedelta(minutes=2, seconds=30)  # from version 3 on
    changes = reading.changes_since(app, since)
    assert len(statements) == 4, statements
    assert [(c.url, c.previous.number, c.version.number) for c in changes] == [
        (url, n - 1, n) for url, ids in stored.items() for n in range(3, len(ids) + 1)]
    assert [c.version.number for c in changes if c.minor] == [7]
    long_url = next(iter(stored))
    statements.clear()
    history = reading.history(app, long_url)  # v5's and v36's summaries computed
    assert len(statements) == 7, statements  # article, versions, minor, summaries, 2, checks
    assert [v["number"] for v in history["versions"] if v["minor"]] == [7]
    assert {v["number"]: v["summary"] for v in history["versions"]}[36] == next(
        c.diff.summary.to_json() for c in changes if (c.url, c.version.number) == (long_url, 36))
    statements.clear()
    assert len(reading.show(app, long_url, 40)["paragraphs"]) == 8
    assert len(statements) == 4, statements  # article, version, chain, paragraphs
    monkeypatch.setattr(Reader, "_run", run)
    for change in changes:
        view, diff = reading.stored_change(app, change.url, change.previous.number,
                                           change.version.number)  # fmt: skip
        assert (change.diff, change.view) == (diff, view)
    for driver in readers(app):
        with reader_of(app, driver) as reader:
            for change in changes:
                for row in (change.version, change.previous):
                    assert reads.version(reader, row.article_id, row.number) == {
                        name: value for name, value in row.items() if name != "url"}
                assert change.version.url == change.url
                assert "url" not in change.previous
    found = reading.changes_since(app, since, long_url, only={(changes[0].version.article_id, 5)})
    assert [(c.version.number, c.diff) for c in found] == [
        (5, next(c.diff for c in changes if c.version.number == 5 and c.url == long_url))]


def test_an_unknown_version_and_article_are_said(app: App, stored: Stored) -> None:
    with pytest.raises(reading.UnknownArticle):
        reading.history(app, stored.url + "/other")
    with pytest.raises(reading.UnknownVersion, match="has no version 7"):
        reading.stored_change(app, stored.url, 1, 7)
    with pytest.raises(reading.TrackerError, match=r"has no version 4 \(3 stored\)"):
        reading.show(app, stored.url, 4)


def test_only_the_orm_types_are_compared() -> None:
    """``same`` can fail: a value of another type (SQLite's 0/1 for a boolean) is caught."""
    row = reads.Row(developing=1)
    with pytest.raises(AssertionError):
        same(row, Article(developing=True), ["developing"])
