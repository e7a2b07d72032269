"""Paragraphs stored as edits of an older paragraph, or deflated (``db.edits``): the script
gives back exactly the text it was made for, a damaged one or a missing base is an error and
never another text, every reader of paragraph text reads the same texts as were checked,
housekeeping keeps a base while an edit refers to it, and migration 0013_paradelta writes
every text back whole on its way down. SQLite and PostgreSQL for what is stored."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from alembic import command
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select, text, update

from db import diff_queries, edits, export_queries, queries, reads, refs
from db.models import Article, Event, Paragraph, Version
from db.session import (
    HEAD_REVISION,
    alembic_config,
    current_revision,
    make_engine,
    session_scope,
    upgrade,
)
from tests.articleserver import FIXTURES, ArticleServer, read_lines
from tests.export_story import STORY_VERSIONS, track_story
from tracker.app import App
from tracker.normalize import normalize_text
from tracker.reading import changes_since, history

WORDS = st.sampled_from(["der", "die", "Kim", "Putin", "11.000", "Straße", "—", "😀", "a\u0301",
                         " ", "  ", "\n", "x"])  # fmt: skip
TEXTS = st.lists(WORDS, max_size=80).map("".join)


@st.composite
def edited(draw: st.DrawFn) -> tuple[str, str]:
    """A text and an edit of it: words replaced, inserted, deleted, the ends cut."""
    words = draw(st.lists(WORDS, max_size=80))
    new = list(words)
    for _ in range(draw(st.integers(0, 5))):
        position = draw(st.integers(0, len(new)))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        if action == "insert" or not new:
            new.insert(position, draw(WORDS))
        elif action == "replace":
            new[min(position, len(new) - 1)] = draw(WORDS)
        else:
            del new[min(position, len(new) - 1)]
    return "".join(words), "".join(new)


@settings(max_examples=400, deadline=None)
@given(edited())
def test_an_edit_script_gives_back_its_text(pair: tuple[str, str]) -> None:
    base, new = pair
    assert edits.apply(base, edits.encode(base, new)) == new


@settings(max_examples=200, deadline=None)
@given(TEXTS, TEXTS)
def test_a_script_between_any_two_texts_gives_back_the_second(base: str, new: str) -> None:
    assert edits.apply(base, edits.encode(base, new)) == new


def test_a_small_edit_is_a_small_script_and_a_rewrite_is_none() -> None:
    base = ("Russland erhielt mehr als 10.000 Schiffscontainer mit Munition und anderem "
            "Material aus Nordkorea, sagen die Geheimdienste.")  # fmt: skip
    edit = edits.edit_of(base.replace("10.000", "11.000"), [(7, base)])
    assert edit is not None
    assert edit[0] == 7
    assert len(edit[1]) < 10
    assert edits.edit_of("Ganz etwas anderes steht jetzt in diesem Absatz, Wort für Wort.",
                         [(7, base)]) is None  # fmt: skip
    assert edits.edit_of("kurz", [(7, "kürzer")]) is None  # too short to be worth a lookup


def test_long_texts_are_diffed_in_bounded_work() -> None:
    """A 100,000-word paragraph with a change in the middle: one replacement of the middle
    between the common ends (difflib never sees 100,000 tokens)."""
    base = " ".join(f"w{i}" for i in range(100_000))
    new = base.replace("w50000 ", "neu ").replace("w70000 ", "neu ")
    script = edits.encode(base, new)
    assert edits.apply(base, script) == new
    assert len(script) < len(new.encode()) // 2


@pytest.mark.parametrize("script", [
    b"",  # no tag
    b"X\x01\x00\x00",  # another tag
    b"E\x05\x00",  # truncated triple
    b"E\x02\x00\x00",  # ends before the base does
    b"E\x09\x00\x00",  # copies past the base
    b"E\x00\x00\x05ab",  # inserts past its end
    b"E\x00\x04\x02\xff\xfe",  # inserts bad UTF-8
])  # fmt: skip
def test_a_damaged_script_is_refused(script: bytes) -> None:
    with pytest.raises(edits.CorruptParagraph):
        edits.apply("abcd", script)


def test_a_deflated_text_reads_back_and_a_damaged_one_is_refused() -> None:
    whole = "Die Staatschefs unterzeichneten ein Abkommen über eine Partnerschaft. " * 3
    packed = edits.deflated(whole)
    assert packed is not None
    assert len(packed) < len(whole.encode())
    key = refs.paragraph_id("text", whole)
    row = (key, "text", None, None, packed)
    assert edits.resolve([key], lambda ids: [row]).texts == {key: ("text", whole)}
    for damaged in (packed[:-3], b"Z" + whole.encode(), b"Y" + packed[1:]):
        broken = (key, "text", None, None, damaged)
        with pytest.raises(edits.CorruptParagraph):
            edits.resolve([key], lambda ids, broken=broken: [broken])
    assert edits.deflated("kurz") is None


# --- stored --------------------------------------------------------------------------------


def story(number: int) -> list[str]:
    """Version ``number`` of the fixture story as tracker stores its paragraphs."""
    return [normalize_text(line) for line in read_lines(FIXTURES / "story_de" / f"v{number}.txt")]


@pytest.fixture
def tracked(app: App) -> str:
    with ArticleServer(FIXTURES) as server:
        return track_story(app, server)


def stored_forms(engine: Engine) -> dict[str, int]:
    """How many paragraphs are stored whole, deflated and as edits."""
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT text IS NULL, base_id IS NULL FROM paragraphs"))
        found = {"text": 0, "deflated": 0, "edit": 0}
        for no_text, no_base in rows:
            found["text" if not no_text else "deflated" if no_base else "edit"] += 1
        return found


def every_reader(app: App) -> list[list[list[tuple[str, str]]]]:
    """Each version's (kind, text) pairs, through every reader of paragraph text."""
    found = []
    with session_scope(app.reader) as session:
        versions = list(session.scalars(select(Version).order_by(Version.number)))
        ids = [queries.paragraph_ids(session, v) for v in versions]
        found.append([queries.paragraphs_of(session, v) for v in versions])
        exported = export_queries.paragraphs(session, {i for each in ids for i in each})
        found.append([[exported[i] for i in each] for each in ids])
        connection = session.connection()
        texts = diff_queries.paragraph_texts(connection, (i for each in ids for i in each))
        kinds = [[kind for kind, _ in pairs] for pairs in found[0]]
        found.append([list(zip(k, (texts[i] for i in each), strict=True))
                      for k, each in zip(kinds, ids, strict=True)])  # fmt: skip
        reader = reads.Reader.over(connection)
        rows = reads.versions_of(reader, versions[0].article_id)
        found.append(reads.paragraphs_of(reader, *rows))
    if app.settings.database_url.startswith("sqlite"):
        with reads.sqlite_reader(app.settings.database_url) as stdlib:
            assert stdlib is not None
            rows = reads.versions_of(stdlib, versions[0].article_id)
            found.append(reads.paragraphs_of(stdlib, *rows))
    return found


def test_the_story_is_stored_as_edits_and_read_back_as_checked(app: App, tracked: str) -> None:
    forms = stored_forms(app.engine)
    assert forms["edit"] >= 3, forms
    assert forms["deflated"] >= 10, forms
    expected = [story(n)[1:] for n in range(1, STORY_VERSIONS)]  # v5 has v4's paragraphs
    for texts in every_reader(app):
        assert [[t for _, t in version] for version in texts] == expected


def test_an_edit_without_its_base_is_an_error_not_a_text(app: App, tracked: str) -> None:
    with session_scope(app.writer) as session:
        key, base = session.execute(select(Paragraph.id, Paragraph.base_id).where(
            Paragraph.base_id.is_not(None)).limit(1)).one()  # fmt: skip
        session.execute(delete(Paragraph).where(Paragraph.id == base))
    with session_scope(app.reader) as session:
        versions = [v for v in session.scalars(select(Version))
                    if key in (ids := queries.paragraph_ids(session, v)) and base not in ids]
        assert versions
        for version in versions:
            with pytest.raises(edits.CorruptParagraph, match=f"edit of paragraph {base}"):
                queries.paragraphs_of(session, version)
        with pytest.raises(edits.CorruptParagraph, match=f"paragraph {base} is not stored"):
            queries.paragraphs_by_id(session, [base])


def test_a_damaged_edit_is_an_error_not_a_text(app: App, tracked: str) -> None:
    """A script that still applies to its base but gives another text (one more word
    inserted at its end): the id says so."""
    with session_scope(app.writer) as session:
        key, delta = session.execute(select(Paragraph.id, Paragraph.delta).where(
            Paragraph.base_id.is_not(None)).limit(1)).one()  # fmt: skip
        session.execute(update(Paragraph).where(Paragraph.id == key).values(
            delta=delta + b"\x00\x00\x02 !"))
    with session_scope(app.reader) as session:
        with pytest.raises(edits.CorruptParagraph, match="reads back as another text"):
            queries.paragraphs_by_id(session, [key])
        version = next(v for v in session.scalars(select(Version))
                       if key in queries.paragraph_ids(session, v))
        row = reads.versions_of(reads.Reader.over(session.connection()), version.article_id)
        with pytest.raises(edits.CorruptParagraph, match="reads back as another text"):
            reads.paragraphs_of(reads.Reader.over(session.connection()), *row)


def test_housekeeping_keeps_the_base_of_an_edit_a_version_uses(app: App, tracked: str) -> None:
    """The only version left refers to an edit whose base no version holds: the base stays,
    the paragraphs nobody needs go."""
    with session_scope(app.writer) as session:
        key, kind = session.execute(select(Paragraph.id, Paragraph.kind).where(
            Paragraph.base_id.is_not(None)).limit(1)).one()  # fmt: skip
        [(_, wanted)] = queries.paragraphs_by_id(session, [key])
        article, _ = queries.add_article(session, url="https://example.org/other",
                                         host="example.org", interval=600,
                                         now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))  # fmt: skip
        queries.store_version(session, article, paragraphs=[(kind, wanted)], fields={
            "title": "T", "content_hash": "0" * 32, "extractor": "synthetic"},
            previous=None, now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))  # fmt: skip
        first = session.scalars(select(Article).where(Article.url == tracked)).one()
        queries.delete_article(session, first)
    with session_scope(app.writer) as session:
        assert queries.prune_paragraphs(session) > 0
    with session_scope(app.reader) as session:
        left = set(session.scalars(select(Paragraph.id)))
        base = session.scalars(select(Paragraph.base_id).where(Paragraph.id == key)).one()
        assert left == {key, base}
        [version] = session.scalars(select(Version))
        assert queries.paragraphs_of(session, version) == [(kind, wanted)]


def whole_rows(engine: Engine) -> dict[int, tuple[str, str]]:
    with engine.connect() as connection:
        return {row.id: (row.kind, row.text) for row in
                connection.execute(text("SELECT id, kind, text FROM paragraphs"))}  # fmt: skip


def sqlite_autoindexes(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return {name for (name,) in connection.execute(text(
            "SELECT tbl_name FROM sqlite_master WHERE name LIKE 'sqlite_autoindex_%'"))}


def time_storage(engine: Engine) -> set[str]:
    """How SQLite stores the times of db.models.CompactUTCDateTime columns."""
    with engine.connect() as connection:
        return {kind for table, column in (("checks", "started_at"), ("versions", "fetched_at"),
                                           ("events", "created_at"))
                for (kind,) in connection.execute(text(
                    f"SELECT DISTINCT typeof({column}) FROM {table}"))}


def read_back(app: App, url: str) -> Any:
    """The history and the changes as the read commands give them, times included, and every
    event's id and time."""
    with session_scope(app.reader) as session:
        events = [(e.uid, e.created_at) for e in queries.events_of(session)]
    return (history(app, url), [(c.url, c.version.number, c.version.fetched_at, c.diff.to_json())
                                for c in changes_since(app, dt.datetime(2000, 1, 1,
                                                                        tzinfo=dt.UTC))], events)


def uid_storage(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.scalars(text("SELECT DISTINCT typeof(uid) FROM events")))


def test_migration_writes_the_texts_back_whole_and_reads_the_same_after(
    app: App, tracked: str, database_url: str,
) -> None:
    with session_scope(app.writer) as session:  # an id made elsewhere reads back as given
        article = session.scalars(select(Article)).one()
        queries.add_event(session, article, "article.test", now=dt.datetime.now(dt.UTC))
        session.flush()
        session.execute(update(Event).where(Event.type == "article.test").values(uid="evt_x"))
    before = every_reader(app)
    shown = read_back(app, tracked)
    assert "evt_x" in {uid for uid, _ in shown[2]}
    assert stored_forms(app.engine)["edit"] > 0
    engine = make_engine(database_url)
    sqlite = engine.dialect.name == "sqlite"
    try:
        if sqlite:
            assert not {"paragraphs", "version_meta"} & sqlite_autoindexes(engine)
            assert time_storage(engine) == {"integer"}
            assert uid_storage(engine) == {"blob"}
        config = alembic_config(database_url)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0012_storage")
        whole = whole_rows(engine)
        assert all(t is not None and refs.paragraph_id(k, t) == i for i, (k, t) in whole.items())
        assert {t for v in before[0] for _, t in v} <= {t for _, t in whole.values()}
        if sqlite:
            assert {"paragraphs", "version_meta"} <= sqlite_autoindexes(engine)
            assert time_storage(engine) == {"text"}
            assert uid_storage(engine) == {"text"}
        upgrade(engine)
        assert current_revision(engine) == HEAD_REVISION
    finally:
        engine.dispose()
    assert every_reader(app) == before
    assert read_back(app, tracked) == shown

