"""Export → import → export gives the same files, on SQLite and PostgreSQL and across them;
``tracker import`` refuses what it cannot take without changing anything."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text, update

from db import diff_queries, queries
from db.models import Article, Version, VersionDiff, versions_table
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.clihelp import tracker
from tests.conftest import POSTGRES_URL, empty_postgres, service_missing
from tests.export_story import store_history, track_story
from tracker.app import App
from tracker.articles import add_articles
from tracker.check import check_article
from tracker.config import load_settings
from tracker.export import Selection, export_dataset
from tracker.export.importer import ImportFailed, import_dataset
from tracker.stored import version_texts

FILES = ("articles", "versions", "changes")


@pytest.fixture(scope="session")
def second_postgres() -> Iterator[str]:
    """A second database on the PostgreSQL server: the target when the source is the first."""
    from db.session import _engines, make_engine, upgrade

    admin = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                          isolation_level="AUTOCOMMIT")
    name = f"tracker_test_target_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        service_missing(f"PostgreSQL at {POSTGRES_URL} ({type(exc).__name__})")
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    if url in _engines:
        _engines.pop(url).dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path
           ) -> Iterator[App]:
    """An empty database of the other (or the same) kind, as an App."""
    if request.param == "sqlite":
        shutil.copy(sqlite_template, tmp_path / "target.db")
        url = f"sqlite:///{tmp_path / 'target.db'}"
    else:
        url = request.getfixturevalue("second_postgres")
        empty_postgres(url)
    app = App(load_settings(database_url=url))
    yield app
    app.close()


def fill(app: App, server: ArticleServer) -> str:
    """A collection with a real story, a long history with key frames and a new baseline, an
    article never fetched, and hostile text."""
    story = track_story(app, server, tags=["korea", "live"])
    store_history(app, "https://example.org/long", 70, seed=3)
    with session_scope(app.writer) as session:
        session.execute(update(versions_table).where(versions_table.c.number == 20)
                        .values(rebaseline=True))
    add_articles(app, ["https://example.org/never-fetched"], selector="div.body",
                 tags=["empty"])
    store_history(app, "https://example.org/%E2%80%AEhostile%1B[31m", 3, seed=4)
    return story


def test_export_import_export_gives_the_same_files(
    app: App, target: App, article_server: ArticleServer, tmp_path: Path
) -> None:
    story = fill(app, article_server)
    for fmt in ("jsonl", "csv"):
        export_dataset(app, tmp_path / f"first.{fmt}", fmt, Selection())
    summary = import_dataset(target, tmp_path / "first.jsonl")
    assert (summary.articles, summary.versions) == (4, 5 + 70 + 3 - _unchanged(app, story))
    for fmt in ("jsonl", "csv"):
        export_dataset(target, tmp_path / f"second.{fmt}", fmt, Selection())
        for name in (*(f"{r}.{fmt}" for r in FILES), "datapackage.json"):
            first = (tmp_path / f"first.{fmt}" / name).read_bytes()
            assert first == (tmp_path / f"second.{fmt}" / name).read_bytes(), name
    changes = (tmp_path / "first.jsonl" / "changes.jsonl").read_text(encoding="utf-8")
    assert changes.count("\n") > 70  # the round trip carried real diffs
    diffs = stored_diffs(app)
    assert len(diffs) > 70
    assert stored_diffs(target) == diffs  # stored as the checks stored them


def stored_diffs(app: App) -> dict[tuple[int, int], dict[str, object]]:
    """(article id, version number) → the stored diff against the version before."""
    with session_scope(app.reader) as session:
        rows = session.execute(select(Version, VersionDiff.data)
                               .join(VersionDiff, VersionDiff.version_id == Version.id))
        return {(v.article_id, v.number): diff_queries.unpack(data, version_texts(session, v))
                for v, data in rows}


def _unchanged(app: App, url: str) -> int:
    """Story versions the site served that were not a change (v5 only changes typography)."""
    with session_scope(app.reader) as session:
        article = queries.article_by_url(session, url)
        assert article is not None
        return 5 - article.version_count


def test_an_imported_collection_goes_on_being_tracked(
    app: App, target: App, article_server: ArticleServer, tmp_path: Path
) -> None:
    story = fill(app, article_server)
    export_dataset(app, tmp_path / "out", "jsonl", Selection())
    import_dataset(target, tmp_path / "out")
    with session_scope(target.reader) as session:
        article = queries.article_by_url(session, story)
        assert article is not None
        assert article.tags == ["korea", "live"]
    # Same content hash and extractor: the page as served now is no new version.
    assert check_article(target, article.id).outcome == "unchanged"
    article_server.set_version("story", 2)
    assert check_article(target, article.id).outcome == "changed"
    [(_, created)] = add_articles(target, ["https://example.org/after-import"])
    assert created  # new ids continue after the imported ones


def test_import_refuses_a_database_that_is_not_empty(
    app: App, article_server: ArticleServer, tmp_path: Path
) -> None:
    fill(app, article_server)
    export_dataset(app, tmp_path / "out", "jsonl", Selection())
    with session_scope(app.reader) as session:
        before = queries.count_rows(session, Version)
    with pytest.raises(ImportFailed, match="already holds"):
        import_dataset(app, tmp_path / "out")
    with session_scope(app.reader) as session:
        assert queries.count_rows(session, Version) == before


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", "versions.jsonl line 2: not JSON"),
    ('["a list"]', "versions.jsonl line 2: not a JSON object"),
    ("VERSION:article_url=X", "line 2: article 1 (X) is not in articles.jsonl"),
    ('{"article_id": 1}', "line 2: article_url is missing"),
    ("VERSION:fetched_at=yesterday", "line 2: fetched_at must be an ISO 8601 time"),
    ("VERSION:paragraphs=[1, 2]", "line 2: paragraphs must be a list of strings"),
    ("VERSION:version=1", "line 2: versions must be ordered"),
    ("VERSION:language=" + "x" * 50, "line 2: language must be at most 20 characters"),
    ("VERSION:content_hash=" + "a" * 33, "line 2: content_hash must be at most 32 characters"),
    ("VERSION:title=a\u0000b", "line 2: title must be free of NUL characters"),
    ("VERSION:paragraph_kinds=[]", "line 2: 12 paragraphs but 0 paragraph kinds"),
])
def test_a_bad_line_stops_the_import_with_its_place_and_stores_nothing(
    sqlite_url: str, tmp_path: Path, line: str, message: str
) -> None:
    source = App(load_settings(database_url=sqlite_url))
    try:
        store_history(source, "https://example.org/a", 3)
        export_dataset(source, tmp_path / "out", "jsonl", Selection())
    finally:
        source.close()
    path = tmp_path / "out" / "versions.jsonl"
    rows = path.read_text(encoding="utf-8").splitlines()
    if line.startswith("VERSION:"):
        name, _, value = line.removeprefix("VERSION:").partition("=")
        row = json.loads(rows[1])
        row[name] = json.loads(value) if value[:1] in "[{" else (
            int(value) if value.isdigit() else value)
        line = json.dumps(row)
    path.write_text("\n".join([rows[0], line, *rows[2:]]) + "\n", encoding="utf-8")
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    result = tracker(empty, "import", str(tmp_path / "out"), check=False)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert message in result.stderr
    target = App(load_settings(database_url=empty))
    try:
        with session_scope(target.reader) as session:
            assert queries.count_rows(session, Article) == 0
            assert queries.count_rows(session, Version) == 0
    finally:
        target.close()


def test_cli_import_then_export_across_sqlite_files(
    sqlite_url: str, tmp_path: Path
) -> None:
    source = App(load_settings(database_url=sqlite_url))
    try:
        store_history(source, "https://example.org/a", 40)
    finally:
        source.close()
    tracker(sqlite_url, "export", "-o", str(tmp_path / "one"))
    other = f"sqlite:///{tmp_path / 'other.db'}"
    result = tracker(other, "import", str(tmp_path / "one"))
    assert "imported 1 article(s), 40 version(s)" in result.stdout
    tracker(other, "export", "-o", str(tmp_path / "two"))
    for name in ("articles.jsonl", "versions.jsonl", "changes.jsonl", "datapackage.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    again = tracker(other, "import", str(tmp_path / "one"), check=False)
    assert again.returncode == 1
    assert "empty database" in again.stderr
