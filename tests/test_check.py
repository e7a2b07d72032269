"""The check use case end to end: a real HTTP server, real extraction, SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from db import meta, queries
from db.models import Body, Check, Event, Version, VersionDiff
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.conftest import STORY
from tracker.app import App
from tracker.articles import add_articles
from tracker.check import check_article
from tracker.diff import diff_paragraphs
from tracker.normalize import split_lines

EXPECTED = json.loads((STORY / "expected_ops.json").read_text(encoding="utf-8"))


def fixture_lines(version: int) -> list[str]:
    with (STORY / f"v{version}.txt").open(encoding="utf-8", newline="") as handle:
        return split_lines(handle.read())


def track(app: App, server: ArticleServer, slug: str = "story", version: int = 1) -> int:
    url = server.add_article(slug, version)
    add_articles(app, [url])
    with session_scope(app.reader) as session:
        row = queries.article_by_url(session, url)
        assert row is not None
        return row.id


def stored(app: App, article_id: int) -> list[tuple[int, list[str], str | None]]:
    """(number, paragraph texts, title) of every stored version."""
    with session_scope(app.reader) as session:
        return [
            (v.number, [t for _, t in queries.paragraphs_of(session, v)], v.title)
            for v in queries.versions_of(session, article_id)
        ]


def events(app: App, article_id: int) -> list[tuple[int, str]]:
    with session_scope(app.reader) as session:
        return [(e.seq, e.type) for e in queries.events_of(session, article_id)]


def test_first_sight_stores_version_one_with_every_paragraph(
    app: App, article_server: ArticleServer
) -> None:
    article_id = track(app, article_server)
    result = check_article(app, article_id)
    assert (result.outcome, result.version) == ("first_seen", 1)
    [(_number, texts, title)] = stored(app, article_id)
    lines = fixture_lines(1)
    assert title == lines[0]
    assert texts == lines[1:]
    assert events(app, article_id) == [(1, "article.first_seen")]


def test_every_fixture_step_is_stored_with_the_expected_operations(
    app: App, article_server: ArticleServer
) -> None:
    article_id = track(app, article_server)
    check_article(app, article_id)
    for step in (2, 3, 4):
        article_server.set_version("story", step)
        assert check_article(app, article_id).outcome == "changed"
    versions = stored(app, article_id)
    assert [n for n, _, _ in versions] == [1, 2, 3, 4]
    for (number, old, old_title), (_, new, new_title) in itertools.pairwise(versions):
        assert old == fixture_lines(number)[1:]
        expected = EXPECTED[f"v{number}_v{number + 1}"]
        # The headline (fixture line 0) is the title, so body indices are one lower.
        shifted = {
            (op["op"], tuple(i - 1 for i in op["old"]), tuple(i - 1 for i in op["new"]))
            for op in expected
            if op["old"] != [0]
        }
        got = {(op.op, op.old, op.new) for op in diff_paragraphs(old, new) if op.op != "equal"}
        assert got == shifted, f"v{number}→v{number + 1}"
        headline_changed = any(op["old"] == [0] for op in expected)
        assert (old_title != new_title) == headline_changed
    assert [t for _, t in events(app, article_id)] == ["article.first_seen"] + [
        "article.changed"
    ] * 3


def test_noise_only_page_is_not_a_new_version(app: App, article_server: ArticleServer) -> None:
    article_id = track(app, article_server, version=4)
    check_article(app, article_id)
    article_server.set_version("story", 5)
    result = check_article(app, article_id)
    assert result.outcome == "unchanged"
    assert [n for n, _, _ in stored(app, article_id)] == [1]


def test_conditional_get_and_identical_bytes_are_cheap_no_ops(
    app: App, article_server: ArticleServer
) -> None:
    article_id = track(app, article_server)
    check_article(app, article_id)
    assert check_article(app, article_id).outcome == "not_modified"
    article_server.set_mode("story", "static-body")
    article_server.conditional = False
    check_article(app, article_id)  # first static body: extracted, found unchanged
    assert check_article(app, article_id).outcome == "same_bytes"
    assert len(stored(app, article_id)) == 1


def test_rotating_noise_without_validators_is_not_a_change(
    app: App, article_server: ArticleServer
) -> None:
    article_server.conditional = False
    article_id = track(app, article_server)
    check_article(app, article_id)
    outcomes = {check_article(app, article_id).outcome for _ in range(3)}
    assert outcomes == {"unchanged"}


@pytest.mark.parametrize(
    ("mode", "params", "outcome", "message"),
    [
        ("500", {}, "failed", "HTTP 500"),
        ("503", {"retry_after": 120}, "failed", "HTTP 503"),
        ("timeout", {"seconds": 3}, "failed", "timed out"),
        ("huge", {}, "failed", "cap"),
        ("huge-chunked", {}, "failed", "cap"),
        ("binary", {}, "failed", "not an article page"),
        ("redirect-loop", {}, "failed", "redirect"),
        ("consent-wall", {}, "no_content", "no article text"),
        ("empty", {}, "no_content", "empty"),
        ("error-page-200", {}, "no_content", "no article text"),
        ("reset", {}, "failed", "connection"),
    ],
)
def test_bad_response_stores_nothing_and_keeps_the_last_good_version(
    make_app,
    article_server: ArticleServer,
    mode: str,
    params: dict[str, int],
    outcome: str,
    message: str,
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(read_timeout=1.0, max_body_bytes=2_000_000)
    article_id = track(app, article_server)
    check_article(app, article_id)
    before = stored(app, article_id)
    article_server.set_mode("story", mode, **params)
    article_server.set_version("story", 2)  # a real change is waiting behind the fault
    result = check_article(app, article_id)
    assert result.outcome == outcome
    assert result.error is not None
    assert message in result.error.lower() or message in result.error
    assert stored(app, article_id) == before
    with session_scope(app.reader) as session:
        row = queries.article_by_id(session, article_id)
        assert row is not None
        assert (row.failure_count, row.last_error) == (1, result.error)
        assert row.state == "active"
        last = queries.checks_of(session, article_id, limit=1)[0]
        assert (last.outcome, last.error) == (outcome, result.error)
    article_server.set_mode("story", None)
    if mode == "503":
        assert (row.next_check_at - last.started_at).total_seconds() >= 119
        # The whole host is paused until its Retry-After: a check now sends nothing ...
        assert check_article(app, article_id).outcome == "deferred"
        assert len(article_server.requests("story")) == 2
        app = make_app()  # ... in this process; another one has a limiter of its own
    recovered = check_article(app, article_id)
    assert (recovered.outcome, recovered.version) == ("changed", 2)


@pytest.mark.parametrize("status", ["404", "410"])
def test_gone_article_becomes_unavailable_then_restored(
    app: App, article_server: ArticleServer, status: str
) -> None:
    article_id = track(app, article_server)
    check_article(app, article_id)
    article_server.set_mode("story", status)
    result = check_article(app, article_id)
    assert result.outcome == "gone"
    assert f"HTTP {status}" in (result.error or "")
    assert check_article(app, article_id).outcome == "gone"  # confirmed: deleted
    assert check_article(app, article_id).outcome == "gone"  # no third event
    article_server.set_mode("story", None)
    assert check_article(app, article_id).outcome in {"unchanged", "not_modified"}
    assert [t for _, t in events(app, article_id)] == [
        "article.first_seen",
        "article.unavailable",
        "article.deleted",
        "article.restored",
    ]
    assert len(stored(app, article_id)) == 1


@pytest.mark.parametrize("mode", ["latin1", "nocharset", "xhtml"])
def test_encodings_and_xhtml_keep_every_umlaut(
    app: App, article_server: ArticleServer, mode: str
) -> None:
    article_id = track(app, article_server)
    article_server.set_mode("story", mode)
    check_article(app, article_id)
    [(_, texts, title)] = stored(app, article_id)
    assert texts == fixture_lines(1)[1:]
    assert title == fixture_lines(1)[0]


def test_redirect_is_followed_to_the_article(app: App, article_server: ArticleServer) -> None:
    article_server.add_article("target", 3)
    article_id = track(app, article_server, slug="moved")
    article_server.set_mode("moved", "redirect", target="target")
    assert check_article(app, article_id).outcome == "first_seen"
    assert stored(app, article_id)[0][1] == fixture_lines(3)[1:]


def test_plain_text_page_is_one_paragraph_per_block(
    app: App, article_server: ArticleServer
) -> None:
    article_id = track(app, article_server)
    article_server.set_mode("story", "plain")
    check_article(app, article_id)
    [(_, texts, _)] = stored(app, article_id)
    assert texts[1:] == fixture_lines(1)[1:] or texts == fixture_lines(1)


def test_repeated_check_after_commit_stores_nothing_new(
    app: App, article_server: ArticleServer
) -> None:
    article_server.conditional = False
    article_id = track(app, article_server)
    check_article(app, article_id)
    article_server.set_version("story", 2)
    first = check_article(app, article_id)
    again = check_article(app, article_id)  # a retry of the same task after its commit
    assert (first.outcome, again.outcome) == ("changed", "unchanged")
    assert len(stored(app, article_id)) == 2
    assert len(events(app, article_id)) == 2


def test_concurrent_duplicate_checks_store_one_version_and_one_event(
    make_app, article_server: ArticleServer
) -> None:  # type: ignore[no-untyped-def]
    article_server.conditional = False
    apps = [make_app() for _ in range(4)]
    article_id = track(apps[0], article_server)
    check_article(apps[0], article_id)
    article_server.set_version("story", 3)
    barrier = threading.Barrier(len(apps))
    results = []

    def run(app: App) -> None:
        barrier.wait()
        results.append(check_article(app, article_id))

    threads = [threading.Thread(target=run, args=(a,)) for a in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.outcome for r in results).count("changed") == 1
    assert [n for n, _, _ in stored(apps[0], article_id)] == [1, 2]
    assert [t for _, t in events(apps[0], article_id)] == ["article.first_seen", "article.changed"]


def test_database_refuses_a_duplicate_version_number(
    app: App, article_server: ArticleServer
) -> None:
    article_id = track(app, article_server)
    check_article(app, article_id)
    session = app.writer()
    original = queries.version_by_number(session, article_id, 1)
    assert original is not None
    duplicate = {
        "article_id": article_id, "number": 1, "fetched_at": original.fetched_at,
        "content_hash": "x", "extractor": "x", "rebaseline": False, "paragraph_count": 0,
        "paragraph_refs": b"K\x00",
    }
    with pytest.raises(IntegrityError):
        meta.insert_version(session.connection(), duplicate)
    session.close()


def test_database_refuses_a_duplicate_event_sequence(
    app: App, article_server: ArticleServer
) -> None:
    article_id = track(app, article_server)
    check_article(app, article_id)
    session = app.writer()
    event = queries.events_of(session, article_id)[0]
    session.add(Event(uid="evt_duplicate", article_id=article_id, seq=event.seq,
                      type="article.changed", created_at=event.created_at, data={}))
    with pytest.raises(IntegrityError):
        session.commit()
    session.close()


def test_version_event_body_and_check_are_stored_together(
    app: App, article_server: ArticleServer
) -> None:
    article_id = track(app, article_server)
    check_article(app, article_id)
    article_server.set_version("story", 2)
    check_article(app, article_id)
    with session_scope(app.reader) as session:
        versions = queries.versions_of(session, article_id)
        event_versions = {e.version_id for e in queries.events_of(session, article_id)}
        assert event_versions == {v.id for v in versions}
        assert queries.count_rows(session, Body) == 2
        assert queries.count_rows(session, Check, Check.version_id.is_not(None)) == 2
        body = queries.body_of(session, versions[-1])
        assert body is not None
        import zlib

        assert b"Putin" in zlib.decompress(body.data)


def test_new_selector_rebaselines_instead_of_reporting_a_change(
    app: App, article_server: ArticleServer
) -> None:
    article_server.conditional = False
    article_id = track(app, article_server)
    check_article(app, article_id)
    # Re-baselined at once, from the stored page (tracker.rebaseline): the check compares
    # like with like.
    add_articles(app, [article_server.url("story")], selector="div.article__content")
    result = check_article(app, article_id)
    assert result.outcome == "unchanged"
    with session_scope(app.reader) as session:
        latest = queries.latest_version(session, article_id)
        assert latest is not None
        assert latest.rebaseline
    assert [t for _, t in events(app, article_id)] == ["article.first_seen"]


def test_shared_paragraphs_are_stored_once(app: App, article_server: ArticleServer) -> None:
    article_id = track(app, article_server)
    check_article(app, article_id)
    for step in (2, 3, 4):
        article_server.set_version("story", step)
        check_article(app, article_id)
    distinct = {t for _, texts, _ in stored(app, article_id) for t in texts}
    with session_scope(app.reader) as session:
        from db.models import Paragraph

        assert queries.count_rows(session, Paragraph) == len(distinct)


def test_large_pass_stores_the_versions_its_processes_found_in_the_parent(
    app: App, article_server: ArticleServer
) -> None:
    """The fork pool's processes fetch, extract and compare; the parent stores what they found
    (first versions, then new versions with their diffs), each as its check would have."""
    from tracker.passes import PROCESS_THRESHOLD, check_many

    slugs = [f"q{i:03}" for i in range(PROCESS_THRESHOLD)]
    urls = [article_server.add_article(slug) for slug in slugs]
    add_articles(app, urls)
    with session_scope(app.reader) as session:
        ids = [row.id for row in queries.list_articles(session)]
    assert {r.outcome for r in check_many(app, ids)} == {"first_seen"}
    for slug in slugs:
        article_server.set_version(slug, 2)
    results = check_many(app, ids)
    assert sorted(r.url for r in results) == sorted(urls)
    assert {r.outcome for r in results} <= {"changed", "minor", "gutted"}
    assert {r.version for r in results} == {2}
    with session_scope(app.reader) as session:
        assert queries.count_rows(session, Version) == 2 * PROCESS_THRESHOLD
        assert queries.count_rows(session, VersionDiff) == PROCESS_THRESHOLD
    assert {row.version_count for row in load_all(app)} == {2}
    threaded = check_article(app, ids[0])  # the same page again: nothing new
    assert threaded.outcome in {"unchanged", "not_modified", "same_bytes"}


def test_large_pass_is_spread_over_processes_and_checks_each_article_once(
    app: App, article_server: ArticleServer
) -> None:
    from tracker.passes import PROCESS_THRESHOLD, check_many

    urls = [article_server.add_article(f"p{i:03}", 1 + i % 4) for i in range(PROCESS_THRESHOLD)]
    add_articles(app, urls)
    with session_scope(app.reader) as session:
        ids = [row.id for row in queries.list_articles(session)]
    seen: list[str] = []
    results = check_many(app, ids, on_result=lambda r: seen.append(r.url))
    assert sorted(r.url for r in results) == sorted(seen) == sorted(urls)
    assert {r.outcome for r in results} == {"first_seen"}
    requests = [r.slug for r in article_server.requests()]
    assert sorted(requests) == sorted(f"p{i:03}" for i in range(PROCESS_THRESHOLD))
    with session_scope(app.reader) as session:
        assert queries.count_rows(session, Version) == PROCESS_THRESHOLD
    # A second pass finds every page unchanged (304): each process writes the checks of a
    # chunk together, and every check is recorded all the same, with its schedule moved on.
    before = {r.id: r.last_checked_at for r in load_all(app)}
    again = check_many(app, ids)
    assert sorted(r.url for r in again) == sorted(urls)
    assert {r.outcome for r in again} == {"not_modified"}
    with session_scope(app.reader) as session:
        assert queries.count_rows(session, Check) == 2 * PROCESS_THRESHOLD
    after = load_all(app)
    assert all(r.last_checked_at > before[r.id] and r.lease_token is None for r in after)


def load_all(app: App) -> list[Any]:
    from db.models import Article

    with session_scope(app.reader) as session:
        return list(session.scalars(select(Article)))


def test_unchanged_batch_writes_its_checks_together_and_skips_a_lost_claim(
    app: App, article_server: ArticleServer
) -> None:
    from dataclasses import replace

    from tracker.check import UnchangedBatch, check_target, load_targets

    ids = [track(app, article_server, slug) for slug in ("one", "two", "three")]
    for article_id in ids:
        check_article(app, article_id)
    targets = load_targets(app, ids)
    lost = replace(targets[ids[2]], lease_token="someone else's")  # its claim no longer holds
    batch = UnchangedBatch()
    results = [check_target(app, t, unchanged=batch) for t in (targets[ids[0]],
                                                             targets[ids[1]], lost)]
    with session_scope(app.reader) as session:
        assert queries.count_rows(session, Check) == 3  # nothing written yet
    written = batch.write(app, results)
    assert [r.outcome for r in written] == ["not_modified", "not_modified", "skipped"]
    with session_scope(app.reader) as session:
        assert queries.count_rows(session, Check) == 5
        assert batch.write(app, []) == []  # written once
    assert {r.id for r in load_all(app) if r.last_checked_at and r.etag} == set(ids)
