"""A new version's rows built before the write transaction (``tracker.storing``), and a check
whose rows were built against a version that is no longer the latest when it writes."""

from __future__ import annotations

from db import diff_queries, queries, refs
from db.diffdata import counted_json
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.test_check import events, fixture_lines, stored, track
from tracker.app import App
from tracker.check import check_article, check_target, load_targets
from tracker.diff import diff_documents
from tracker.document import ExtractedPage, Metadata, Paragraph
from tracker.storing import Predecessor, prepare


def article(*texts: str) -> ExtractedPage:
    return ExtractedPage(tuple(Paragraph(t) for t in texts), Metadata(title="T"), "x")


def test_rows_hold_only_the_paragraphs_the_predecessor_lacks() -> None:
    old = [refs.paragraph_id("text", t) for t in ("a", "b", "c")]
    new = prepare(7, article("a", "B", "c", "d"), {"title": "T"}, Predecessor(4, old), None,
                  None)
    assert (new.number, new.version["number"], new.version["article_id"]) == (5, 5, 7)
    assert [row["text"] for row in new.paragraphs] == ["B", "d"]
    ids = [refs.paragraph_id("text", t) for t in ("a", "B", "c", "d")]
    assert refs.advance(old, new.version["paragraph_refs"]) == ids
    assert new.version["paragraph_count"] == 4
    assert (new.packed, new.body) == (None, None)


def test_first_version_rows_hold_every_distinct_paragraph_and_a_key_frame() -> None:
    new = prepare(1, article("a", "b", "a"), {}, None, None, None)
    assert new.number == 1
    assert [row["text"] for row in new.paragraphs] == ["a", "b"]
    assert refs.decode([new.version["paragraph_refs"]]) == [
        refs.paragraph_id("text", t) for t in ("a", "b", "a")]


def test_packed_diff_is_the_diff_json_read_against_the_new_paragraphs() -> None:
    diff = diff_documents(["a b c"], ["a b d"], {"title": "T"}, {"title": "U"})
    new = prepare(1, article("a b d"), {}, Predecessor(1, []), diff, None)
    assert new.packed is not None
    summary, data = new.packed
    assert diff_queries.unpack(data, ["a b d"]) == diff.to_json()
    assert summary == diff.to_json()["summary"]
    assert b"a b" not in counted_json(data)  # the kept words are counted, not copied


def test_a_check_loaded_before_another_stored_a_version_stores_the_next_one(
    app: App, article_server: ArticleServer
) -> None:
    article_id = track(app, article_server)
    target = load_targets(app, [article_id])[article_id]  # knows of no version yet
    assert check_article(app, article_id).outcome == "first_seen"
    article_server.set_version("story", 2)
    result = check_target(app, target)  # its rows were built as version 1, without a diff
    assert (result.outcome, result.version) == ("changed", 2)
    versions = stored(app, article_id)
    assert [n for n, _, _ in versions] == [1, 2]
    assert versions[1][1] == fixture_lines(2)[1:]
    assert events(app, article_id) == [(1, "article.first_seen"), (2, "article.changed")]
    with session_scope(app.reader) as session:
        second = queries.version_by_number(session, article_id, 2)
        assert second is not None
        found = diff_queries.diff_of(session, second.id, versions[1][1])
    assert found is not None
    expected = diff_documents(versions[0][1], versions[1][1])
    assert found.data["ops"] == expected.to_json()["ops"]


def test_a_check_loaded_before_another_stored_the_same_page_stores_nothing(
    app: App, article_server: ArticleServer
) -> None:
    article_id = track(app, article_server)
    target = load_targets(app, [article_id])[article_id]
    check_article(app, article_id)
    assert check_target(app, target).outcome == "unchanged"
    assert [n for n, _, _ in stored(app, article_id)] == [1]
    assert events(app, article_id) == [(1, "article.first_seen")]
