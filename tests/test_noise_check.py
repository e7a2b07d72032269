"""Noise that is not news, end to end: a real HTTP site, real extraction, real webhooks, on
SQLite and PostgreSQL. A site redesign, rotating boxes, a site's own per-request lines (with
host rules), a resized photo and a minor edit below the threshold must not be notified; a
swapped lead photo and a real edit must."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from db import queries
from db.session import session_scope
from tests.articleserver import FIXTURES, ArticleServer, read_lines
from tests.receiver import WebhookReceiver
from tracker import report
from tracker.app import App
from tracker.articles import add_articles, history
from tracker.check import check_article
from tracker.cli.output import print_history
from tracker.clock import utcnow
from tracker.delivery import deliver_due, dispatch_events
from tracker.hosts import list_hosts, set_host
from tracker.subscriptions import subscribe

HOST = "127.0.0.1"


def track(app: App, server: ArticleServer, slug: str = "story", version: int = 2,
          story: str = "story_de", selector: str | None = None) -> int:
    url = server.add_article(slug, version, story=story)
    add_articles(app, [url], selector=selector)
    with session_scope(app.reader) as session:
        row = queries.article_by_url(session, url)
        assert row is not None
        return row.id


def versions(app: App, article_id: int) -> list[tuple[int, bool, str]]:
    """(number, rebaseline, extractor) of each stored version."""
    with session_scope(app.reader) as session:
        return [(v.number, v.rebaseline, v.extractor)
                for v in queries.versions_of(session, article_id)]


def events(app: App, article_id: int) -> list[str]:
    with session_scope(app.reader) as session:
        return [e.type for e in queries.events_of(session, article_id)]


def outcomes(app: App, article_id: int, times: int) -> list[str]:
    return [check_article(app, article_id).outcome for _ in range(times)]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hooks:
        yield hooks


def hook(app: App, receiver: WebhookReceiver) -> None:
    receiver.set_secrets([subscribe(app, receiver.url).secret])


# --- a redesign and rotating boxes ----------------------------------------------------------


def test_site_redesign_is_no_new_version(app: App, article_server: ArticleServer) -> None:
    article_id = track(app, article_server)
    assert check_article(app, article_id).outcome == "first_seen"
    article_server.set_template("story", "redesign")
    result = check_article(app, article_id)
    assert result.outcome == "unchanged"
    assert (result.version, result.events) == (None, 0)
    assert [n for n, _, _ in versions(app, article_id)] == [1]
    assert events(app, article_id) == ["article.first_seen"]


def test_rotating_most_read_and_newsletter_inside_the_article_are_no_new_version(
    app: App, article_server: ArticleServer
) -> None:
    article_server.conditional = False  # every check fetches and extracts the page again
    article_id = track(app, article_server)
    article_server.set_template("story", "redesign")
    assert outcomes(app, article_id, 4) == ["first_seen", "unchanged", "unchanged", "unchanged"]
    assert events(app, article_id) == ["article.first_seen"]


def test_a_real_edit_after_the_redesign_is_still_reported(
    app: App, article_server: ArticleServer
) -> None:
    article_id = track(app, article_server)
    check_article(app, article_id)
    article_server.set_template("story", "redesign")
    article_server.set_version("story", 3)
    assert check_article(app, article_id).outcome == "changed"
    assert events(app, article_id) == ["article.first_seen", "article.changed"]


# --- per-host rules ---------------------------------------------------------------------------


def test_site_noise_without_host_rules_is_reported(app: App, article_server: ArticleServer) -> None:
    # What the host rules below are for: the site's own per-request lines look like text.
    article_server.conditional = False
    article_id = track(app, article_server)
    article_server.set_mode("story", "site-noise")
    assert outcomes(app, article_id, 2) == ["first_seen", "changed"]


def test_host_ignore_rules_make_the_page_stable_and_a_rule_change_rebaselines(
    app: App, article_server: ArticleServer
) -> None:
    article_server.conditional = False
    article_id = track(app, article_server)
    article_server.set_mode("story", "site-noise")
    set_host(app, HOST, ignore=[r"^Zuletzt aktualisiert von der Redaktion"],
             ignore_selectors=["div.reader-poll"])
    assert outcomes(app, article_id, 3) == ["first_seen", "unchanged", "unchanged"]
    with session_scope(app.reader) as session:
        latest = queries.latest_version(session, article_id)
        assert latest is not None
        texts = [t for _, t in queries.paragraphs_of(session, latest)]
    assert not any("Zuletzt aktualisiert" in t or "Leserumfrage" in t for t in texts)

    # The same rules said another way: a new baseline at once (from the stored page), not a
    # change; the checks after it compare like with like.
    set_host(app, HOST, ignore=[r"^Zuletzt aktualisiert von", r"^Leserumfrage:"], clear=True)
    assert outcomes(app, article_id, 2) == ["unchanged", "unchanged"]
    stored = versions(app, article_id)
    assert [(n, rebaseline) for n, rebaseline, _ in stored] == [(1, False), (2, True)]
    assert stored[0][2] != stored[1][2]
    assert "; ignore " in stored[1][2]
    assert events(app, article_id) == ["article.first_seen"]
    assert list_hosts(app)["hosts"] == [{
        "host": HOST, "selector": None,
        "ignore_patterns": [r"^Zuletzt aktualisiert von", r"^Leserumfrage:"],
        "ignore_selectors": [], "rate_per_minute": None, "notify_threshold": None, "articles": 1,
        "template": None,
    }]


def test_host_selector_applies_and_an_articles_own_selector_wins(
    app: App, article_server: ArticleServer
) -> None:
    article_server.conditional = False
    own = track(app, article_server, "own", selector="div.article__content")
    plain = track(app, article_server, "plain")
    check_article(app, own)
    check_article(app, plain)
    set_host(app, HOST, selector="article")  # re-baselines "plain" at once, not "own"
    assert [rebaseline for _, rebaseline, _ in versions(app, plain)] == [False, True]
    assert [rebaseline for _, rebaseline, _ in versions(app, own)] == [False]
    assert check_article(app, plain).outcome == "unchanged"
    assert check_article(app, own).outcome == "unchanged"
    assert versions(app, plain)[-1][2].endswith("; selector article")
    assert versions(app, own)[-1][2].endswith("; selector div.article__content")


# --- the lead photo ---------------------------------------------------------------------------


def test_swapped_lead_photo_is_a_change_and_a_resized_one_is_not(
    app: App, article_server: ArticleServer, receiver: WebhookReceiver
) -> None:
    hook(app, receiver)
    article_id = track(app, article_server)
    check_article(app, article_id)
    article_server.set_photo("story", "resized")
    assert check_article(app, article_id).outcome == "unchanged"
    article_server.set_photo("story", "swapped")
    result = check_article(app, article_id)
    assert result.outcome == "changed"
    with session_scope(app.reader) as session:
        first, second = queries.versions_of(session, article_id)
        assert first.lead_image is not None
        assert second.lead_image is not None
        assert first.lead_image != second.lead_image
        assert first.lead_caption == second.lead_caption
        [event] = [e for e in queries.events_of(session, article_id) if e.version_id == second.id]
        assert event.data["metadata"] == ["lead_image"]
    [entry] = report.changes(app, utcnow().replace(year=2000))
    assert set(entry.diff.metadata_keys) == {"lead_image"}
    assert entry.diff.summary.unchanged == entry.diff.new_paragraphs
    dispatch_events(app)
    deliver_due(app)
    body = receiver.wait_for(2)[1]["body"]
    assert body["type"] == "article.changed"
    assert body["data"]["metadata"]["lead_image"] == {"old": first.lead_image,
                                                     "new": second.lead_image}
    assert body["data"]["changes"] == []


# --- minor changes ------------------------------------------------------------------------------


@pytest.fixture
def minor_story(tmp_path: Path) -> Path:
    """The fixture story's v4, then: a one-word typo fix, a punctuation-only edit, a rewrite of
    five words; served from a story directory of its own."""
    lines = read_lines(FIXTURES / "story_de" / "v4.txt")
    target = next(i for i, line in enumerate(lines) if line.startswith("Das Paar fuhr dann"))
    steps = [
        lines[target],
        lines[target].replace("gemeinsam", "zusammen"),
        lines[target].replace("gemeinsam", "zusammen").replace(" wohnt,", " wohnt –"),
        "Das Paar fuhr anschließend in einer langen Wagenkolonne zum Kumsusan-Gästehaus, in dem "
        "Putin wohnt, so die staatliche Koreanische Zentrale Nachrichtenagentur des Nordens.",
    ]
    story = tmp_path / "stories" / "story_minor"
    story.mkdir(parents=True)
    for number, text in enumerate(steps, start=1):
        version = [*lines[:target], text, *lines[target + 1 :]]
        (story / f"v{number}.txt").write_text("\n".join(version) + "\n", encoding="utf-8")
    return story.parent


def test_minor_changes_are_stored_but_not_notified(
    make_app, minor_story: Path, receiver: WebhookReceiver  # type: ignore[no-untyped-def]
) -> None:
    app = make_app(notify_threshold=3)
    hook(app, receiver)
    with ArticleServer(minor_story) as server:
        article_id = track(app, server, version=1, story="story_minor")
        got = []
        for version in (1, 2, 3, 4):
            server.set_version("story", version)
            got.append(check_article(app, article_id).outcome)
    assert got == ["first_seen", "minor", "minor", "changed"]
    assert [n for n, _, _ in versions(app, article_id)] == [1, 2, 3, 4]
    assert events(app, article_id) == ["article.first_seen", "article.changed"]
    dispatch_events(app)
    deliver_due(app)
    bodies = [m["body"] for m in receiver.wait_for(2)]
    assert [(b["type"], b["data"].get("to_version", {}).get("number")) for b in bodies] == [
        ("article.first_seen", None), ("article.changed", 4)]

    url = server.url("story")
    marks = [(v["number"], v["minor"]) for v in history(app, url)["versions"]]
    assert marks == [(1, False), (2, True), (3, True), (4, False)]
    entries = report.changes(app, utcnow().replace(year=2000), url)
    assert [(e.to_version, e.minor) for e in entries] == [(2, True), (3, True), (4, False)]
    text = report.render_text(entries, color=False)
    assert text.count("(minor, not notified)") == 2
    assert report.to_json(entries)["changes"][0]["minor"] is True
    console = Console(record=True, width=200)
    print_history(console, history(app, url))
    assert console.export_text().count("(minor, not notified)") == 2


def test_host_threshold_overrides_the_global_one(
    make_app, minor_story: Path  # type: ignore[no-untyped-def]
) -> None:
    app = make_app(notify_threshold=3)
    set_host(app, HOST, notify_threshold=0)  # every change of this host is notified
    with ArticleServer(minor_story) as server:
        article_id = track(app, server, version=1, story="story_minor")
        check_article(app, article_id)
        server.set_version("story", 2)
        assert check_article(app, article_id).outcome == "changed"
        set_host(app, HOST, notify_threshold=2)  # fewer than 2 words: the typo fix is minor
        server.set_version("story", 3)  # punctuation only: 0 words
        assert check_article(app, article_id).outcome == "minor"
