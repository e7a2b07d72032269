"""Each version's diff against its predecessor is stored once, when the version is stored, and
every reader reads that copy (tracker.diffstore, db.diff_queries, migration 0007_diffstore).

Real article server, real receiver, SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, select, update
from sqlalchemy.orm import Session

from db import diff_queries, queries
from db.diffdata import summary_counts
from db.models import Version, VersionDiff
from db.session import (
    HEAD_REVISION,
    alembic_config,
    current_revision,
    make_engine,
    session_scope,
    upgrade,
)
from tests.articleserver import FIXTURES, ArticleServer, read_lines
from tests.clihelp import tracker, tracker_json
from tests.receiver import WebhookReceiver
from tracker import report
from tracker.app import App
from tracker.articles import add_articles, history
from tracker.check import check_article
from tracker.clock import utcnow
from tracker.delivery import deliver_due, dispatch_events
from tracker.diff import Diff, diff_documents
from tracker.diffstore import fill_missing, load_diff
from tracker.stored import version_metadata, version_texts
from tracker.subscriptions import subscribe


@pytest.fixture
def edits(tmp_path: Path) -> Path:
    """The fixture story's v4, then a one-word fix (minor at a threshold of 3), a new headline
    and an inserted paragraph, a deleted paragraph."""
    lines = read_lines(FIXTURES / "story_de" / "v4.txt")
    target = next(i for i, line in enumerate(lines) if line.startswith("Das Paar fuhr dann"))
    fixed = [*lines[:target], lines[target].replace("gemeinsam", "zusammen"),
             *lines[target + 1 :]]
    grown = ["Putin und Kim: neue Schlagzeile", *fixed[1:3],
             "Ein ganz neuer Absatz über den Besuch in Pjöngjang kam hinzu.", *fixed[3:]]
    shrunk = [*grown[:5], *grown[6:]]
    story = tmp_path / "stories" / "story_edits"
    story.mkdir(parents=True)
    for number, version in enumerate([lines, fixed, grown, shrunk], start=1):
        (story / f"v{number}.txt").write_text("\n".join(version) + "\n", encoding="utf-8")
    return story.parent


def follow(app: App, server: ArticleServer, slug: str = "story") -> int:
    url = server.add_article(slug, 1, story="story_edits")
    add_articles(app, [url])
    with session_scope(app.reader) as session:
        row = queries.article_by_url(session, url)
        assert row is not None
        return row.id


def check_steps(app: App, server: ArticleServer, article_id: int, slug: str,
                steps: range) -> list[str]:
    outcomes = []
    for step in steps:
        server.set_version(slug, step)
        outcomes.append(check_article(app, article_id).outcome)
    return outcomes


def stored_rows(app: App) -> dict[int, tuple[bool, dict[str, int], dict[str, Any]]]:
    """Every stored diff: version id → (minor, summary counts, diff JSON)."""
    with session_scope(app.reader) as session:
        texts = {v.id: version_texts(session, v) for v in session.scalars(select(Version))}
        return {
            row.version_id: (row.minor, summary_counts(row.summary),
                             diff_queries.unpack(row.data, texts[row.version_id]))
            for row in session.scalars(select(VersionDiff))
        }


def computed(app: App, article_id: int) -> dict[int, dict[str, Any]]:
    """Version id → its diff against the version before, computed from the stored versions."""
    with session_scope(app.reader) as session:
        versions = queries.versions_of(session, article_id)
        return {
            new.id: diff_documents(version_texts(session, old), version_texts(session, new),
                                   version_metadata(old), version_metadata(new)).to_json()
            for old, new in itertools.pairwise(versions)
        }


def test_each_stored_version_has_its_diff_and_minor_flag(
    make_app, edits: Path  # type: ignore[no-untyped-def]
) -> None:
    app = make_app(notify_threshold=3)
    with ArticleServer(edits) as server:
        article_id = follow(app, server)
        outcomes = check_steps(app, server, article_id, "story", range(1, 5))
    assert outcomes == ["first_seen", "minor", "changed", "changed"]
    expected = computed(app, article_id)
    rows = stored_rows(app)
    assert set(rows) == set(expected)  # not the first version: it has no predecessor
    with session_scope(app.reader) as session:
        ids = [v.id for v in queries.versions_of(session, article_id)]
    assert [rows[i][0] for i in ids[1:]] == [True, False, False]
    for version_id, (_, summary, data) in rows.items():
        assert data == expected[version_id]
        assert summary == data["summary"]
    assert rows[ids[2]][2]["metadata"]["title"]["new"] == "Putin und Kim: neue Schlagzeile"


def texts_of(session: Session, version_id: int) -> list[str]:
    version = session.scalars(select(Version).where(Version.id == version_id)).one()
    return version_texts(session, version)


def doctor(app: App, version_id: int) -> None:
    """Replace a stored diff by one no computation gives: its first modified paragraph's words
    say DOCTORED, and the summary counts 7 insertions."""
    with session_scope(app.writer) as session:
        found = diff_queries.diff_of(session, version_id, texts_of(session, version_id))
        assert found is not None
        data = found.data
        op = next(op for op in data["ops"] if op["op"] == "modify")
        op["words"] = [["-", "alt"], ["+", "DOCTORED"]]
        summary = {**data["summary"], "inserted": 7}
        session.execute(update(VersionDiff).where(VersionDiff.version_id == version_id).values(
            data=diff_queries.pack(data), summary=summary))


def test_readers_read_the_stored_diff_instead_of_computing_it(
    app: App, edits: Path
) -> None:
    receiver = WebhookReceiver()
    with receiver, ArticleServer(edits) as server:
        receiver.set_secrets([subscribe(app, receiver.url).secret])
        article_id = follow(app, server)
        check_steps(app, server, article_id, "story", range(1, 3))
        with session_scope(app.reader) as session:
            version = queries.version_by_number(session, article_id, 2)
            assert version is not None
            version_id = version.id
        doctor(app, version_id)

        with session_scope(app.reader) as session:
            loaded = load_diff(session, article_id, 1, 2)
        assert "DOCTORED" in json.dumps(loaded.diff.to_json())  # web view, API, feeds
        url = server.url("story")
        [entry] = report.changes(app, utcnow().replace(year=2000), url)
        assert "DOCTORED" in json.dumps(report.to_json([entry]))  # tracker changes
        assert "DOCTORED" in report.render_text([entry], color=False)
        summaries = [v["summary"] for v in history(app, url)["versions"]]  # tracker history
        assert summaries[0] is None
        assert summaries[1]["inserted"] == 7
        shown = tracker_json(app.settings.database_url, "diff", f"{url}@1", f"{url}@2")
        assert "DOCTORED" in json.dumps(shown)  # tracker diff of two consecutive versions
        assert "DOCTORED" not in tracker(app.settings.database_url, "diff", f"{url}@2",
                                         f"{url}@1").stdout  # the other way: computed

        dispatch_events(app)
        deliver_due(app)
        bodies = [m["body"] for m in receiver.wait_for(2)]
    [changed] = [b for b in bodies if b["type"] == "article.changed"]
    assert "DOCTORED" in json.dumps(changed["data"]["changes"])  # webhook payload


def test_a_version_stored_without_a_diff_gets_one_computed(app: App, edits: Path) -> None:
    with ArticleServer(edits) as server:
        article_id = follow(app, server)
        check_steps(app, server, article_id, "story", range(1, 3))
    with session_scope(app.writer) as session:
        session.execute(VersionDiff.__table__.delete())
    with session_scope(app.reader) as session:
        loaded = load_diff(session, article_id, 1, 2)
    assert loaded.diff.to_json() == next(iter(computed(app, article_id).values()))
    assert stored_rows(app) == {}  # a reader does not write


def test_the_json_report_is_the_full_reports_json(app: App, edits: Path) -> None:
    """``report.changes_json`` (no change views; paragraphs read only for a diff that must be
    computed) prints what ``to_json(changes(...))`` does: stored diffs, one computed, ``only``."""
    with ArticleServer(edits) as server:
        article_id = follow(app, server)
        check_steps(app, server, article_id, "story", range(1, 5))
    since = utcnow().replace(year=2000)
    assert report.changes_json(app, since) == report.to_json(report.changes(app, since))
    with session_scope(app.reader) as session:
        version = queries.version_by_number(session, article_id, 3)
        assert version is not None
    with session_scope(app.writer) as session:
        session.execute(VersionDiff.__table__.delete().where(VersionDiff.version_id == version.id))
    full = report.to_json(report.changes(app, since))
    assert [c["to_version"] for c in full["changes"]] == [2, 3, 4]
    assert report.changes_json(app, since) == full
    only = {(article_id, 3), (article_id, 4)}
    assert report.changes_json(app, since, only=only) == report.to_json(
        report.changes(app, since, only=only))
    assert report.changes_json(app, since, only=set()) == {"changes": []}


def test_migration_fills_what_the_checks_stored(
    make_app, database_url: str, edits: Path  # type: ignore[no-untyped-def]
) -> None:
    app = make_app(notify_threshold=3)
    with ArticleServer(edits) as server:
        server.conditional = False
        first = follow(app, server)
        second = follow(app, server, "other")
        check_steps(app, server, first, "story", range(1, 5))
        check_steps(app, server, second, "other", range(1, 3))
        # A new selector: the stored page is extracted again as a re-baseline version.
        add_articles(app, [server.url("other")], selector="div.article__content")
        assert check_article(app, second).outcome == "unchanged"
    with session_scope(app.reader) as session:
        latest = queries.latest_version(session, second)
        assert latest is not None
        assert (latest.number, latest.rebaseline) == (3, True)
    by_check = stored_rows(app)
    assert len(by_check) == 3 + 2
    assert sum(minor for minor, _, _ in by_check.values()) == 2  # v2 of each article

    engine = make_engine(database_url)
    try:
        config = alembic_config(database_url)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0006_web")
        assert not inspect(engine).has_table("version_diffs")
        upgrade(engine)
        assert current_revision(engine) == HEAD_REVISION
        assert stored_rows(app) == by_check

        with engine.begin() as connection:  # again, one article a batch, one version missing
            connection.execute(VersionDiff.__table__.delete().where(
                VersionDiff.version_id == max(by_check)))
            assert fill_missing(connection, batch=1) == 1
            connection.execute(VersionDiff.__table__.delete())
            assert fill_missing(connection, batch=1) == len(by_check)
            assert fill_missing(connection, batch=1) == 0
        assert stored_rows(app) == by_check
    finally:
        engine.dispose()


def test_stored_diff_round_trips_to_the_same_typed_diff(app: App, edits: Path) -> None:
    with ArticleServer(edits) as server:
        article_id = follow(app, server)
        check_steps(app, server, article_id, "story", range(1, 4))
    for data in computed(app, article_id).values():
        assert Diff.from_json(data).to_json() == data
