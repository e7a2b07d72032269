"""A stored diff of format 2 (``db.diffdata``) counts its word runs in the new version's
paragraphs, reads back exactly as the diff was given, keeps verbatim what counting would not
give back, and refuses paragraphs it does not fit; migration 0012_storage stores every diff
in it and its downgrade back in format 1, and its indexes hold only the rows looked up (the
checks that stored a version, the events not dispatched yet). SQLite and PostgreSQL for the
migration."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, select, text

from db import diff_queries, diffdata
from db.models import Version, VersionDiff
from db.session import (
    HEAD_REVISION,
    alembic_config,
    current_revision,
    make_engine,
    session_scope,
    upgrade,
)
from tests.articleserver import FIXTURES, read_lines
from tests.export_story import store_history
from tracker.app import App
from tracker.diff import Summary, diff_documents
from tracker.normalize import normalize_text
from tracker.reading import changes_since, history
from tracker.stored import version_texts


def story(number: int) -> list[str]:
    return [normalize_text(line) for line in read_lines(FIXTURES / "story_de" / f"v{number}.txt")]


@pytest.mark.parametrize("number", [2, 3, 4, 5])
def test_the_fixture_story_diffs_read_back_as_given_and_are_smaller(number: int) -> None:
    old, new = story(number - 1), story(number)
    diff = diff_documents(old, new, {"title": "a"}, {"title": "b"}).to_json()
    packed = diffdata.pack(diff, new_texts=new)
    assert packed[:1] == diffdata.FORMAT_3
    assert diffdata.unpack(packed, new) == diff
    assert len(packed) < len(diffdata.pack(diff))


def modified(words: list[list[str]], new: int = 0) -> dict[str, Any]:
    return {"op": "modify", "old": [0], "new": [new], "similarity": 0.5, "words": words}


def stored_ops(packed: bytes) -> list[Any]:
    ops: list[Any] = json.loads(diffdata.counted_json(packed))["ops"]
    return ops


def test_words_counting_would_not_give_back_are_kept_verbatim() -> None:
    # a run with two spaces inside: splitting on words would give it back with one
    words = [["=", "a  b"], ["-", "c"], ["+", "d"]]
    diff = {"old": {"paragraphs": 1}, "new": {"paragraphs": 1}, "ops": [modified(words)],
            "metadata": {}, "summary": {**Summary(modified=1).to_json()}}
    packed = diffdata.pack(diff, new_texts=["a  b d"])
    assert stored_ops(packed)[0]["words"] == words
    assert diffdata.unpack(packed, ["a  b d"]) == diff


def test_a_counted_diff_is_refused_without_its_paragraphs_or_with_others() -> None:
    diff = {"old": {"paragraphs": 1}, "new": {"paragraphs": 1},
            "ops": [modified([["=", "a b"], ["-", "c"], ["+", "d"]])],
            "metadata": {}, "summary": Summary(modified=1).to_json()}
    packed = diffdata.pack(diff, new_texts=["a b d"])
    assert stored_ops(packed) == [["modify", [0], [0], 0.5, [2, "c", -1]]]
    for texts in (None, ["a b d e"], ["a b"], []):
        with pytest.raises(ValueError, match="stored diff"):
            diffdata.unpack(packed, texts)


def test_the_summary_row_reads_back_and_a_mapping_stored_before_reads_the_same() -> None:
    counts = Summary(inserted=2, modified=1, unchanged=30).to_json()
    assert diffdata.summary_counts(diffdata.summary_row(counts)) == counts
    assert diffdata.summary_counts(counts) == counts
    assert tuple(counts) == diffdata.SUMMARY_KEYS
    with pytest.raises(ValueError, match="counts"):
        diffdata.summary_counts([1, 2])


def stored_forms(engine: Engine) -> set[tuple[bool, type]]:
    """(format 2 or 3: the words counted?, the summary's type) of every stored diff."""
    with engine.connect() as connection:
        return {(data[:1] in (diffdata.FORMAT_2, diffdata.FORMAT_3), type(summary))
                for data, summary in
                connection.execute(select(VersionDiff.data, VersionDiff.summary))}  # fmt: skip


def read_diffs(app: App) -> dict[int, dict[str, Any]]:
    with session_scope(app.reader) as session:
        versions = list(session.scalars(select(Version)))
        return {v.id: found.data for v in versions
                if (found := diff_queries.diff_of(session, v.id, version_texts(session, v)))}


def changes(app: App) -> list[tuple[str, int, dict[str, Any]]]:
    """Every stored change as ``tracker changes`` reads it."""
    return [(c.url, c.version.number, c.diff.to_json())
            for c in changes_since(app, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))]  # fmt: skip


def test_migration_counts_the_stored_words_and_back(make_app, database_url: str) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    url = "https://example.org/story"
    store_history(app, url, 12)
    before = (read_diffs(app), history(app, url), changes(app))
    assert stored_forms(app.engine) == {(True, list)}
    engine = make_engine(database_url)
    try:
        config = alembic_config(database_url)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0011_meta")
        assert stored_forms(engine) == {(False, dict)}  # as the code before stored them
        upgrade(engine)
        assert current_revision(engine) == HEAD_REVISION
        assert stored_forms(engine) == {(True, list)}
    finally:
        engine.dispose()
    assert (read_diffs(app), history(app, url), changes(app)) == before


def index_sql(engine: Engine, name: str) -> str | None:
    """The definition of index ``name`` as the database keeps it (None: there is none)."""
    sql = ("SELECT indexdef FROM pg_indexes WHERE indexname = :name"
           if engine.dialect.name == "postgresql" else
           "SELECT sql FROM sqlite_master WHERE name = :name")  # fmt: skip
    with engine.connect() as connection:
        found = connection.execute(text(sql), {"name": name}).scalar()
        return None if found is None else str(found)


# What dispatching events asks, and the index that must answer it. (Deleting a version asked
# ix_checks_version_id for its checks until 0014_pgbytes dropped the key and the index.)
LOOKUPS = {
    "SELECT id FROM events WHERE dispatched_at IS NULL ORDER BY id LIMIT 200":
        "ix_events_dispatched_at",
}


def plan(engine: Engine, sql: str) -> str:
    """How the database answers ``sql`` (PostgreSQL told to avoid a sequential scan when it
    can: these tables are small)."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET enable_seqscan = off"))
            rows = connection.execute(text(f"EXPLAIN {sql}"))
        else:
            rows = connection.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
        return " ".join(str(row[-1]) for row in rows)


def test_indexes_hold_only_the_rows_looked_up(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        assert "dispatched_at IS NULL" in (index_sql(engine, "ix_events_dispatched_at") or "")
        assert index_sql(engine, "ix_checks_version_id") is None
        assert index_sql(engine, "ix_events_created_at") is None
        for sql, index in LOOKUPS.items():
            assert index in plan(engine, sql), sql
        config = alembic_config(database_url)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0011_meta")
        assert "WHERE" not in (index_sql(engine, "ix_checks_version_id") or "WHERE")
        assert "WHERE" not in (index_sql(engine, "ix_events_dispatched_at") or "WHERE")
        assert index_sql(engine, "ix_events_created_at") is not None
        upgrade(engine)
        for sql, index in LOOKUPS.items():
            assert index in plan(engine, sql), sql
    finally:
        engine.dispose()
