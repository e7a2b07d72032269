"""Content hashes stored as 16 bytes, events' data and stored diffs deflated against a
dictionary (``db.compact``, ``db.diffdata``'s format 3; migration 0014_pgbytes): every value
reads back as given, through the ORM and
through the read commands' SQL, a damaged value is an error and never another value, the
events' partial unique indexes refuse what their constraints refused, and the migration goes
down and up with data, every reader reading the same after. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from alembic import command
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, insert, inspect, select, text, update
from sqlalchemy.exc import IntegrityError

from db import compact, diffdata, jsontext, queries, reads
from db.models import Article, Event, Source, Version, versions_table
from db.session import HEAD_REVISION, alembic_config, current_revision, make_engine, session_scope
from db.session import upgrade as upgrade_to_head
from tests.articleserver import FIXTURES, ArticleServer, read_lines
from tests.export_story import track_story
from tests.test_diffdata import plan
from tracker.app import App
from tracker.diff import diff_documents
from tracker.normalize import normalize_text
from tracker.reading import changes_since, history

HEX = st.text("0123456789abcdef", min_size=32, max_size=32)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(HEX | st.text(max_size=40))
def test_a_content_hash_reads_back_as_given(value: str) -> None:
    stored = compact.hash_bytes(value)
    assert compact.hash_text(stored) == value
    assert (len(stored) == 16) == (len(value) == 32 and value == value.lower()
                                    and all(c in "0123456789abcdef" for c in value))


def test_a_hex_hash_is_its_16_bytes_and_no_other_text_is_16_bytes_long() -> None:
    assert compact.hash_bytes("0f" * 16) == bytes.fromhex("0f" * 16)
    for other in ("x" * 15, "ü" * 7 + "x", "", "0F" * 16):
        assert len(compact.hash_bytes(other)) != 16
        assert compact.hash_text(compact.hash_bytes(other)) == other


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_event_data_reads_back_as_given(value: Any) -> None:
    stored = compact.pack_data(value)
    assert compact.unpack_data(stored) == value
    # what a webhook signs is made from the value: the same JSON text as before
    assert jsontext.dumps(compact.unpack_data(stored)) == jsontext.dumps(value)


def test_event_data_is_small_and_json_text_still_reads() -> None:
    data = {"version": 3, "changes": {"modified": 2}, "metadata": ["updated"], "words": 2}
    assert len(compact.pack_data(data)) < len(jsontext.dumps(data)) // 2
    assert compact.unpack_data(jsontext.dumps(data)) == data
    assert compact.unpack_data(jsontext.dumps(data).encode()) == data


def test_damaged_event_data_is_refused() -> None:
    stored = compact.pack_data({"version": 3, "changes": {"modified": 2}})
    for damaged in (stored[:-2], stored[:1] + b"\xff" + stored[2:], stored + b"tail"):
        with pytest.raises(ValueError, match="stored data is damaged"):
            compact.unpack_data(damaged)
    bomb = compact.pack_data("x" * (17 << 20))
    with pytest.raises(ValueError, match="too long"):
        compact.unpack_data(bomb)


def story(number: int) -> list[str]:
    """Version ``number`` of the fixture story as tracker stores its paragraphs."""
    return [normalize_text(line) for line in read_lines(FIXTURES / "story_de" / f"v{number}.txt")]


@pytest.mark.parametrize("number", [2, 3, 4, 5])
def test_a_diff_of_format_3_reads_as_its_format_2_and_is_smaller(number: int) -> None:
    old, new = story(number - 1), story(number)
    diff = diff_documents(old, new, {"title": "a"}, {"title": "b"}).to_json()
    packed = diffdata.pack(diff, new_texts=new)
    assert packed[:1] == diffdata.FORMAT_3
    before = diffdata.as_format(packed, diffdata.FORMAT_2)
    assert before[:1] == diffdata.FORMAT_2
    assert diffdata.unpack(packed, new) == diffdata.unpack(before, new) == diff
    assert diffdata.as_format(before, diffdata.FORMAT_3) == packed
    assert len(packed) < len(before)


def test_a_damaged_diff_of_format_3_is_refused() -> None:
    new = story(2)
    packed = diffdata.pack(diff_documents(story(1), new, {}, {}).to_json(), new_texts=new)
    for damaged in (packed[:-3], packed + b"tail", diffdata.FORMAT_3 + b"\xff" + packed[2:]):
        with pytest.raises(ValueError):  # noqa: PT011 - zlib's and json's errors are ValueErrors
            diffdata.unpack(damaged, new)


# --- stored --------------------------------------------------------------------------------


@pytest.fixture
def tracked(app: App) -> str:
    with ArticleServer(FIXTURES) as server:
        return track_story(app, server)


def diff_formats(engine: Engine) -> set[bytes]:
    with engine.connect() as connection:
        return {bytes(d)[:1] for d in connection.scalars(text("SELECT data FROM version_diffs"))}


def stored_forms(engine: Engine) -> tuple[set[int], set[bytes]]:
    """The lengths of the stored content hashes, and the first byte of each event's data."""
    with engine.connect() as connection:
        lengths = set(connection.scalars(text("SELECT octet_length(content_hash) FROM versions"
                                              if engine.dialect.name == "postgresql" else
                                              "SELECT length(content_hash) FROM versions")))
        heads = {_head(value) for value in connection.scalars(text("SELECT data FROM events"))}
    return lengths, heads


def _head(value: Any) -> bytes:
    """The first byte of a stored event's data (PostgreSQL's driver decodes JSON: b"{")."""
    if isinstance(value, bytes | memoryview):
        return bytes(value)[:1]
    return value.encode()[:1] if isinstance(value, str) else jsontext.dumps(value).encode()[:1]


def read_back(app: App, url: str) -> Any:
    """What the read commands and the ORM give: history, changes, every version's content
    hash (ORM, and the read commands' SQL), every event's id, type and data."""
    with session_scope(app.reader) as session:
        events = [(e.uid, e.type, e.version_id, e.data) for e in queries.events_of(session)]
        hashes = list(session.scalars(select(Version.content_hash).order_by(Version.id)))
        article_id = session.scalars(select(Article.id).where(Article.url == url)).one()
        reader = reads.Reader.over(session.connection())
        read = [row.content_hash for row in reads.versions_of(reader, article_id)]
        assert read == hashes
    if app.settings.database_url.startswith("sqlite"):
        with reads.sqlite_reader(app.settings.database_url) as stdlib:
            assert stdlib is not None
            assert [row.content_hash for row in reads.versions_of(stdlib, article_id)] == hashes
    since = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    return (history(app, url), hashes, events,
            [(c.url, c.version.number, c.version.content_hash, c.diff.to_json())
             for c in changes_since(app, since)])  # fmt: skip


def test_hashes_are_16_bytes_and_event_data_deflated_and_read_as_checked(
    app: App, tracked: str
) -> None:
    lengths, heads = stored_forms(app.engine)
    assert lengths == {16}
    assert heads == {b"\x01"}
    _, hashes, events, changes = read_back(app, tracked)
    assert all(len(h) == 32 for h in hashes)
    assert {e[1] for e in events} >= {"article.first_seen", "article.changed"}
    assert all(e[3]["version"] >= 1 for e in events)
    assert [c[2] for c in changes] == hashes[1:]


def add_source(app: App) -> int:
    with session_scope(app.writer) as session:
        source = Source(url="https://news.example/feed", host="news.example", interval=600,
                        next_check_at=dt.datetime.now(dt.UTC),
                        created_at=dt.datetime.now(dt.UTC))  # fmt: skip
        session.add(source)
        session.flush()
        return source.id


def an_event(**values: Any) -> dict[str, Any]:
    return {"uid": queries.event_uid(), "article_id": None, "source_id": None, "seq": 1,
            "type": "article.test", "version_id": None, "created_at": dt.datetime.now(dt.UTC),
            "data": {}, **values}  # fmt: skip


def test_the_partial_unique_indexes_refuse_what_the_constraints_refused(
    app: App, tracked: str
) -> None:
    source_id = add_source(app)
    with session_scope(app.reader) as session:
        first = session.scalars(select(Event).order_by(Event.id)).first()
        assert first is not None
        assert first.version_id is not None
        article_id, version_id, type_ = first.article_id, first.version_id, first.type
    refused = [an_event(article_id=article_id, seq=900, version_id=version_id, type=type_),
               an_event(source_id=source_id, seq=7)]
    with session_scope(app.writer) as session:
        session.execute(insert(Event), [an_event(source_id=source_id, seq=7)])
        # no version, no source: as many as there are (NULLs are never equal)
        session.execute(insert(Event), [an_event(article_id=article_id, seq=901),
                                        an_event(article_id=article_id, seq=902)])
    for duplicate in refused:
        with pytest.raises(IntegrityError), session_scope(app.writer) as session:
            session.execute(insert(Event), [duplicate])


def unique_constraints(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_unique_constraints("events") if c["name"]}


def checks_keys(engine: Engine) -> set[str]:
    """The names of checks' foreign keys and indexes."""
    inspector = inspect(engine)
    return ({k["name"] for k in inspector.get_foreign_keys("checks") if k["name"]}
            | {i["name"] for i in inspector.get_indexes("checks") if i["name"]})  # fmt: skip


def stored_checks(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(
            "SELECT id, article_id, outcome, version_id FROM checks ORDER BY id"))]


def test_migration_goes_down_and_up_with_data_and_reads_the_same(
    app: App, tracked: str, database_url: str
) -> None:
    odd = "imported from elsewhere"  # a hash a dataset made elsewhere may carry
    with session_scope(app.writer) as session:
        article = session.scalars(select(Article)).one()
        queries.add_event(session, article, "article.test", now=dt.datetime.now(dt.UTC),
                          data={"Überschrift": "Straße — 😀", "n": [1, 2.5, None, True]})
        session.execute(update(versions_table).where(versions_table.c.number == 2)
                        .values(content_hash=odd))  # fmt: skip
    before = read_back(app, tracked)
    assert odd in before[1]
    engine = make_engine(database_url)
    sqlite = engine.dialect.name == "sqlite"
    checks = stored_checks(engine)
    assert {c[3] for c in checks} - {None}  # the checks that stored a version name it
    dropped = {"fk_checks_version_id_versions", "ix_checks_version_id"}
    try:
        assert not dropped & checks_keys(engine)
        config = alembic_config(database_url)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0013_paradelta")
        lengths, heads = stored_forms(engine)
        assert 32 in lengths
        assert heads == {b"{"}
        with engine.connect() as connection:
            stored = set(connection.scalars(text("SELECT content_hash FROM versions")))
            data = [json.loads(v) if isinstance(v, str) else v for v in connection.scalars(
                text("SELECT data FROM events ORDER BY id"))]  # fmt: skip
        assert stored == set(before[1])
        assert data == [e[3] for e in before[2]]
        assert {"uq_events_source_id_seq", "uq_events_version_id_type"} <= unique_constraints(
            engine)
        if sqlite:
            with engine.connect() as connection:
                kinds = set(connection.scalars(text("SELECT typeof(content_hash) FROM versions "
                                                    "UNION SELECT typeof(data) FROM events")))
            assert kinds == {"text"}
        assert dropped <= checks_keys(engine)
        assert diff_formats(engine) == {diffdata.FORMAT_2}
        assert stored_checks(engine) == checks
        upgrade_to_head(engine)
        assert current_revision(engine) == HEAD_REVISION
        assert not dropped & checks_keys(engine)
        assert stored_checks(engine) == checks
        assert not {"uq_events_source_id_seq", "uq_events_version_id_type"} & (
            unique_constraints(engine))
        assert stored_forms(engine)[1] == {b"\x01"}
        assert diff_formats(engine) == {diffdata.FORMAT_3}
    finally:
        engine.dispose()
    assert read_back(app, tracked) == before


# What deleting a version (its events' reference set NULL) and a source's next event ask, the
# partial index that must answer each, and the column it must be searched by (a lookup by a
# value implies the value is not NULL, so the planners may use the partial index).
LOOKUPS = {
    "UPDATE events SET version_id = NULL WHERE version_id = 1":
        ("uq_events_version_id_type", "version_id"),
    "SELECT max(seq) FROM events WHERE source_id = 1": ("uq_events_source_id_seq", "source_id"),
}


def test_the_partial_indexes_answer_the_lookups_by_version_and_source(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade_to_head(engine)
        if engine.dialect.name == "postgresql":
            # The session's database went down and up with rows being updated (the migration
            # test): an index built over recently dead HOT-updated rows is ignored by plans
            # while an older snapshot lives (pg_index.indcheckxmin), and other sessions of the
            # suite hold one. Rebuilt over the emptied table, it is planned at once.
            with engine.begin() as connection:
                connection.execute(text("REINDEX TABLE events"))
        for sql, (index, column) in LOOKUPS.items():
            found = plan(engine, sql)
            if engine.dialect.name == "sqlite":
                assert f"INDEX {index} ({column}=?)" in found, found
            else:
                assert index in found, found
                assert f"Index Cond: (({column} = 1)" in found or (
                    f"Index Cond: ({column} = 1)" in found), found
    finally:
        engine.dispose()
