"""A version's metadata is stored once per distinct value (``version_meta``, ``db.meta``) and read
through ``Version`` as before; migration 0011_meta moves it there and back without losing a
value. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import zlib
from typing import Any

from alembic import command
from sqlalchemy import Engine, func, inspect, select, text

from db import diff_queries, diffdata, meta, queries
from db.models import META_COLUMNS, Version, VersionDiff, VersionMeta
from db.session import (
    HEAD_REVISION,
    alembic_config,
    current_revision,
    make_engine,
    session_scope,
    upgrade,
)
from tests.export_story import store_history
from tracker.app import App
from tracker.housekeeping import vacuum_paragraphs

URL = "https://example.org/story"
# What store_history stores: version n is titled "Titel {n // 3}".
TITLES = {n: f"Titel {n // 3}" for n in range(1, 8)}


def read_versions(app: App) -> dict[int, dict[str, Any]]:
    """Version id → its number, metadata and updated date, as readers see them."""
    names = ("article_id", "number", *META_COLUMNS, "updated")
    with session_scope(app.reader) as session:
        return {v.id: {name: getattr(v, name) for name in names}
                for v in session.scalars(select(Version))}  # fmt: skip


def folded_ops(engine: Engine) -> list[bool]:
    """For each stored diff: whether its stored form holds a folded run of equal operations."""
    with engine.connect() as connection:
        return [any(isinstance(op, list) for op in json.loads(decompressed(data))["ops"])
                for data in connection.scalars(select(VersionDiff.data))]  # fmt: skip


def decompressed(data: bytes) -> bytes:
    """The JSON of a stored diff of either format (``db.diffdata``)."""
    if data[:1] in (diffdata.FORMAT_2, diffdata.FORMAT_3):
        return diffdata.counted_json(data)
    return zlib.decompress(data)


def meta_rows(app: App) -> int:
    with session_scope(app.reader) as session:
        return queries.count_rows(session, VersionMeta)


def test_versions_with_the_same_metadata_share_one_row(app: App) -> None:
    store_history(app, URL, 7)
    stored = read_versions(app).values()
    assert {v["number"]: v["title"] for v in stored} == TITLES
    assert meta_rows(app) == len(set(TITLES.values()))


def test_a_query_filters_and_orders_by_metadata_through_the_join(app: App) -> None:
    store_history(app, URL, 7)
    with session_scope(app.reader) as session:
        numbers = session.scalars(
            select(Version.number).where(Version.title == "Titel 1").order_by(Version.number)
        ).all()
    assert numbers == [n for n, title in TITLES.items() if title == "Titel 1"]


def test_the_key_is_the_content_so_equal_metadata_is_one_row() -> None:
    fields = {"title": "Kim in Pjöngjang", "extractor": "trafilatura", "content_hash": "x"}
    first, rest = meta.split(fields)
    again, _ = meta.split({**fields, "content_hash": "y", "updated": "2026-12-06"})
    other, _ = meta.split({**fields, "title": "Kim in Pjöngjang!"})
    assert first == again
    assert first["id"] == rest["meta_id"]
    assert other["id"] != first["id"]
    assert "title" not in rest
    assert rest["content_hash"] == "x"


def test_housekeeping_deletes_metadata_no_version_uses(app: App) -> None:
    store_history(app, URL, 4)
    store_history(app, "https://example.org/other", 1)  # "Titel 0", shared with URL's v1, v2
    with session_scope(app.writer) as session:
        article = queries.article_by_url(session, URL)
        assert article is not None
        queries.delete_article(session, article)
    assert meta_rows(app) == 2  # Titel 0 (still used), Titel 1 (left behind)
    vacuum_paragraphs(app)
    assert meta_rows(app) == 1
    assert [v["title"] for v in read_versions(app).values()] == ["Titel 0"]


def test_migration_moves_the_metadata_and_back(make_app, database_url: str) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    store_history(app, URL, 7)
    store_history(app, "https://example.org/other", 2)
    with session_scope(app.writer) as session:  # every column set, on one version
        session.execute(text(
            "UPDATE version_meta SET byline = 'Simone McCarthy', published = '2024-06-19', "
            "language = 'de', canonical_url = 'https://example.org/c', lead_image = "
            "'https://example.org/i.jpg', lead_caption = 'Putin und Kim' WHERE title = 'Titel 2'"
        ))
        session.execute(text("UPDATE versions SET updated = '2024-06-20T10:00:00Z'"))
    before = read_versions(app)
    engine = make_engine(database_url)
    try:
        config = alembic_config(database_url)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0010_template")
        assert not inspect(engine).has_table("version_meta")
        assert not any(folded_ops(engine))  # the code before reads plain diffs
        with engine.connect() as connection:
            title, caption, extractor = connection.execute(text(
                "SELECT title, lead_caption, extractor FROM versions v "
                "JOIN articles a ON a.id = v.article_id WHERE a.url = :url AND number = 7"
            ), {"url": URL}).one()
        assert (title, caption, extractor) == ("Titel 2", "Putin und Kim", "synthetic")
        upgrade(engine)
        assert current_revision(engine) == HEAD_REVISION
        with engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("versions")}
            assert not columns & set(META_COLUMNS)
            keys = connection.execute(select(VersionMeta)).all()
            assert connection.scalar(select(func.count()).select_from(Version)) == 9
        # the migration keys rows as a check does: a new version finds its row
        assert all(row.id == meta.meta_id(row._mapping) for row in keys)
        assert len(keys) == 3
        assert all(folded_ops(engine))
    finally:
        engine.dispose()
    assert read_versions(app) == before


def test_runs_of_unchanged_paragraphs_are_folded_and_read_back_as_given() -> None:
    def equal(old: int, new: int) -> dict[str, Any]:
        return {"op": "equal", "old": [old], "new": [new]}

    moved = {"op": "move", "old": [3], "new": [0]}
    modified = {"op": "modify", "old": [5], "new": [5], "similarity": 0.9,
                "words": [["=", "a"], ["-", "b"], ["+", "c"]]}
    diff = {"old": {"paragraphs": 8}, "new": {"paragraphs": 8},
            "ops": [moved, equal(0, 1), equal(1, 2), equal(2, 3), equal(4, 4), modified,
                    equal(6, 6), equal(7, 7)],
            "metadata": {}, "summary": {"modified": 1, "moved": 1, "unchanged": 6}}
    folded = diffdata.fold_equal(diff)
    assert folded["ops"] == [moved, [0, 1, 3], [4, 4, 1], modified, [6, 6, 2]]
    assert diff_queries.unpack(diff_queries.pack(diff)) == diff
    assert diffdata.unfold_equal(diff) == diff  # a diff stored before reads the same
