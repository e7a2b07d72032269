"""Politeness and adaptive polling in the check use case, against the real article server and
SQLite/PostgreSQL: deferred checks (host paused after 429/503, rate limit, per-host rules),
one-off passes that finish what their rate deferred, robots.txt, developing stories and
settled articles."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from sqlalchemy import func, select, update

from db import queries
from db.models import Article, Check, Host, Version
from db.session import session_scope
from tests.articleserver import ArticleServer
from tests.clihelp import tracker_json
from tracker.app import App
from tracker.articles import add_articles
from tracker.check import check_article
from tracker.clock import utcnow
from tracker.passes import check_due, check_many
from tracker.politeness import BURST
from tracker.scheduling import claim_due

DAY = 86_400


def track(app: App, server: ArticleServer, *slugs: str, version: int = 1,
          every: int = 600) -> list[int]:
    urls = [server.add_article(slug, version) for slug in slugs]
    add_articles(app, urls, interval=every)
    with session_scope(app.reader) as session:
        return [queries.article_by_url(session, url).id for url in urls]  # type: ignore[union-attr]


def row(app: App, article_id: int) -> Article:
    with session_scope(app.reader) as session:
        found = queries.article_by_id(session, article_id)
        assert found is not None
        session.expunge(found)
        return found


def count(app: App, model: Any, *where: Any) -> int:
    with session_scope(app.reader) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def set_columns(app: App, article_id: int, **values: Any) -> None:
    with session_scope(app.writer) as session:
        session.execute(update(Article).where(Article.id == article_id).values(**values))


# --- deferred checks --------------------------------------------------------------------------


def test_429_pauses_the_host_and_other_checks_are_deferred_then_done(
    make_app, article_server: ArticleServer
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(per_host_rate=0)
    app.fetcher.polite.max_sleep = 0.1  # a 1 s pause is then "long": deferred, not slept
    hot, other = track(app, article_server, "hot", "other")
    article_server.set_mode("hot", "429", retry_after=1)
    failed = check_article(app, hot)
    assert (failed.outcome, failed.error) == ("failed", "HTTP 429 Too Many Requests")
    paused_at = time.time()
    deferred = check_article(app, other)
    assert deferred.outcome == "deferred"
    assert "paused until" in (deferred.error or "")
    assert "HTTP 429 (Retry-After: 1)" in (deferred.error or "")
    assert deferred.paused
    assert deferred.retry_at is not None
    assert deferred.retry_at.timestamp() == pytest.approx(paused_at + 1, abs=0.5)
    # Nothing stored but the schedule: no version, no check row, no failure.
    later = row(app, other)
    assert (later.version_count, later.failure_count, later.last_checked_at) == (0, 0, None)
    assert later.next_check_at == deferred.retry_at
    assert count(app, Check, Check.article_id == other) == 0
    assert article_server.requests("other") == []
    # The article that got the 429 backs off as before, honouring its Retry-After.
    assert (row(app, hot).next_check_at - utcnow()).total_seconds() >= 1
    # After the pause, the deferred article is due and checked; nothing was lost.
    time.sleep(max(0.0, deferred.retry_at.timestamp() - time.time()) + 0.05)
    [result] = check_due(app)
    assert (result.article_id, result.outcome, result.version) == (other, "first_seen", 1)
    [request] = article_server.requests("other")
    assert request.time >= deferred.retry_at.timestamp()


def test_503_without_retry_after_pauses_the_host_for_a_minute(
    make_app, article_server: ArticleServer
) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    sick, other = track(app, article_server, "sick", "other")
    article_server.set_mode("sick", "500")
    assert check_article(app, sick).outcome == "failed"
    assert check_article(app, other).outcome == "first_seen"  # 500 pauses nothing
    article_server.set_mode("sick", "503", retry_after="")
    assert check_article(app, sick).outcome == "failed"
    deferred = check_article(app, other)
    assert deferred.outcome == "deferred"
    assert deferred.retry_at is not None
    assert (deferred.retry_at - utcnow()).total_seconds() == pytest.approx(60, abs=3)


def test_deferred_check_gives_its_claim_back_and_a_stale_claim_stores_nothing(
    make_app, article_server: ArticleServer
) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    [article_id] = track(app, article_server, "story")
    app.fetcher.polite.pause("127.0.0.1", 30, "HTTP 429")
    [claim] = claim_due(app)
    result = check_article(app, article_id, lease_token=claim.token)
    assert result.outcome == "deferred"
    after = row(app, article_id)
    assert (after.lease_token, after.lease_until) == (None, None)
    assert check_article(app, article_id, lease_token=claim.token).outcome == "skipped"
    assert row(app, article_id).next_check_at == result.retry_at


def test_host_rule_rate_defers_checks_beyond_the_burst(
    make_app, article_server: ArticleServer
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(per_host_rate=0)
    with session_scope(app.writer) as session:
        session.add(Host(host="127.0.0.1", rate_per_minute=6, updated_at=utcnow()))
    ids = track(app, article_server, *(f"a{i}" for i in range(5)))
    outcomes = [check_article(app, i) for i in ids]
    assert [r.outcome for r in outcomes] == ["first_seen"] * BURST + ["deferred"] * (5 - BURST)
    assert "rate limit (6 requests/min)" in (outcomes[BURST].error or "")
    first, second = (r.retry_at for r in outcomes[BURST : BURST + 2])
    assert first is not None
    assert second is not None
    # One every 10 s at 6/min; the second deferred check gets the turn after the first's.
    assert (second - first).total_seconds() == pytest.approx(10, abs=0.5)
    assert len(article_server.requests()) == BURST


def test_one_off_pass_finishes_the_checks_its_rate_deferred(
    make_app, article_server: ArticleServer
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(per_host_rate=240, per_host_concurrency=4)
    app.fetcher.polite.max_sleep = 0.05  # defer instead of sleeping a turn away
    ids = track(app, article_server, *(f"a{i}" for i in range(7)))
    results = check_many(app, ids, concurrency=4)
    assert sorted(r.article_id for r in results) == sorted(ids)
    assert {r.outcome for r in results} == {"first_seen"}
    times = sorted(r.time for r in article_server.requests())
    assert len(times) == 7
    # 3 at once, then one every quarter second: the deferred four came back one by one.
    assert times[-1] - times[0] >= 4 * 0.25 - 0.05
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + 0.5) <= 3 + 2
    assert count(app, Version) == 7


def test_pass_forked_into_processes_shares_the_rate_and_finishes_deferred_checks(
    make_app, article_server: ArticleServer, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from tracker import passes, politeness

    monkeypatch.setattr(passes, "PROCESS_THRESHOLD", 4)  # fork even for a handful
    monkeypatch.setattr(passes, "CHUNK", 2)  # ... and hand both processes some
    monkeypatch.setattr(politeness, "MAX_SLEEP", 0.05)  # the forked processes defer, too
    app = make_app(per_host_rate=240, processes=2, concurrency=4, per_host_concurrency=4)
    ids = track(app, article_server, *(f"a{i}" for i in range(10)))
    results = check_many(app, ids)
    assert sorted(r.article_id for r in results) == sorted(ids)
    assert {r.outcome for r in results} == {"first_seen"}
    times = sorted(r.time for r in article_server.requests())
    # Each process has half the rate (120/min: one every 0.5 s) and a burst of its own: two
    # bursts at once, then the deferred ones, two per half second at most.
    assert times[-1] - times[0] >= 0.5 - 0.05
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + 0.25) <= 2 * BURST + 2


def test_source_poll_on_a_paused_host_is_deferred_not_failed(
    make_app, article_server: ArticleServer
) -> None:  # type: ignore[no-untyped-def]
    from db import source_queries as sq
    from tracker.polls import poll_source
    from tracker.sources import add_source

    app = make_app()
    article_server.add_article("a", 1)
    feed = article_server.add_listing("news", "rss", ["a"])
    add_source(app, feed)
    with session_scope(app.reader) as session:
        source_id = sq.source_by_url(session, feed).id  # type: ignore[union-attr]
    app.fetcher.polite.pause("127.0.0.1", 30, "HTTP 503")
    result = poll_source(app, source_id)
    assert result.outcome == "deferred"
    assert "paused until" in (result.error or "")
    with session_scope(app.reader) as session:
        source = sq.source_by_id(session, source_id)
        assert source is not None
        assert (source.failure_count, source.last_error, source.lease_token) == (0, None, None)
        assert (source.next_check_at - utcnow()).total_seconds() == pytest.approx(30, abs=2)
    assert article_server.requests() == []


def test_service_pass_leaves_deferred_checks_to_the_schedule(
    make_app, article_server: ArticleServer
) -> None:  # type: ignore[no-untyped-def]
    import threading

    app = make_app(per_host_rate=6)
    app.fetcher.polite.max_sleep = 0.1
    ids = track(app, article_server, *(f"a{i}" for i in range(5)))
    results = check_many(app, ids, concurrency=2, stop=threading.Event())
    assert sorted(r.outcome for r in results) == ["deferred"] * (5 - BURST) + ["first_seen"] * BURST
    with session_scope(app.reader) as session:
        waiting = session.scalar(
            select(func.count()).select_from(Article).where(Article.next_check_at > utcnow())
        )
    assert waiting == 5


# --- robots.txt ---------------------------------------------------------------------------------


def test_robots_txt_disallow_is_a_clear_failure_checked_rarely(
    make_app, article_server: ArticleServer
) -> None:  # type: ignore[no-untyped-def]
    article_server.set_robots("User-agent: *\nDisallow: /news/secret\n")
    app = make_app(robots_txt=True)
    secret, open_ = track(app, article_server, "secret", "open")
    refused = check_article(app, secret)
    assert refused.outcome == "failed"
    assert refused.error == "robots.txt of 127.0.0.1 disallows /news/secret for tracker"
    stored = row(app, secret)
    assert stored.last_error == refused.error
    assert (stored.next_check_at - utcnow()).total_seconds() > 0.8 * DAY
    assert check_article(app, open_).outcome == "first_seen"
    assert check_article(app, open_).outcome == "not_modified"
    paths = [r.path for r in article_server.requests()]
    assert paths == ["/robots.txt", "/news/open", "/news/open"]  # fetched once, cached


def test_robots_txt_rules_for_our_user_agent_win_over_the_general_ones(
    make_app, article_server: ArticleServer
) -> None:  # type: ignore[no-untyped-def]
    article_server.set_robots("User-agent: tracker\nDisallow: /\n\nUser-agent: *\nAllow: /\n")
    app = make_app(robots_txt=True)
    [article_id] = track(app, article_server, "story")
    assert "disallows /news/story for tracker" in (check_article(app, article_id).error or "")


@pytest.mark.parametrize(("status", "outcome"), [(403, "failed"), (401, "failed"),
                                                 (404, "first_seen"), (500, "first_seen")])
def test_unreadable_robots_txt_allows_except_401_and_403(
    make_app, article_server: ArticleServer, status: int, outcome: str
) -> None:  # type: ignore[no-untyped-def]
    article_server.set_robots("User-agent: *\nDisallow: /\n", status=status)
    app = make_app(robots_txt=True)
    [article_id] = track(app, article_server, "story")
    assert check_article(app, article_id).outcome == outcome


def test_robots_txt_is_not_read_when_the_setting_is_off(
    app: App, article_server: ArticleServer
) -> None:
    article_server.set_robots("User-agent: *\nDisallow: /\n")
    [article_id] = track(app, article_server, "story")
    assert check_article(app, article_id).outcome == "first_seen"
    assert [r.path for r in article_server.requests()] == ["/news/story"]


# --- developing stories -------------------------------------------------------------------------


def test_developing_story_keeps_its_interval_until_the_marker_goes(
    app: App, article_server: ArticleServer
) -> None:
    """story_de v1 ends with "Dies ist eine sich entwickelnde Geschichte …"; v3 does not."""
    [article_id] = track(app, article_server, "story", every=600)
    assert check_article(app, article_id).outcome == "first_seen"
    assert (row(app, article_id).developing, row(app, article_id).interval) == (True, 600)
    for _ in range(4):  # quiet checks: a plain story would drift to 600 × 1.5⁴
        assert check_article(app, article_id).outcome == "not_modified"
        assert row(app, article_id).interval == 600
    article_server.set_version("story", 3)
    assert check_article(app, article_id).outcome == "changed"
    assert (row(app, article_id).developing, row(app, article_id).interval) == (False, 300)
    grown = []
    for _ in range(4):
        check_article(app, article_id)
        grown.append(row(app, article_id).interval)
    assert grown == [450, 675, 1012, 1518]  # past the article's own 600 s: drifting again


def test_developing_interval_setting_caps_a_developing_story(
    make_app, article_server: ArticleServer
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(developing_interval=120)
    developing, plain = track(app, article_server, "developing", "plain")
    article_server.set_version("plain", 4)
    check_article(app, developing)
    check_article(app, plain)
    assert row(app, developing).interval == 120
    assert row(app, plain).interval == 900  # first sight is a quiet check: ×1.5


# --- settled articles ---------------------------------------------------------------------------


def test_quiet_article_settles_is_no_longer_claimed_and_comes_back_when_added(
    make_app, article_server: ArticleServer
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(settle_after=7 * DAY)
    [article_id] = track(app, article_server, "story", version=4)
    check_article(app, article_id)
    check_article(app, article_id)
    assert row(app, article_id).state == "active"  # created just now: not quiet for long
    eight_days_ago = utcnow() - dt.timedelta(days=8)
    set_columns(app, article_id, created_at=eight_days_ago, last_changed_at=None)
    assert check_article(app, article_id).outcome == "not_modified"
    assert row(app, article_id).state == "settled"
    set_columns(app, article_id, next_check_at=utcnow() - dt.timedelta(hours=1))
    assert claim_due(app) == []
    add_articles(app, [article_server.url("story")], interval=600)
    again = row(app, article_id)
    assert again.state == "active"
    assert [c.article_id for c in claim_due(app)] == [article_id]
    assert check_article(app, article_id).outcome == "not_modified"
    assert row(app, article_id).state == "active"  # the quiet period started over


def test_settled_article_checked_by_name_and_found_changed_is_active_again(
    make_app, article_server: ArticleServer
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(settle_after=7 * DAY)
    [article_id] = track(app, article_server, "story")
    check_article(app, article_id)
    set_columns(app, article_id, state="settled")
    assert check_article(app, article_id).outcome == "not_modified"
    assert row(app, article_id).state == "settled"
    article_server.set_version("story", 2)
    assert check_article(app, article_id).outcome == "changed"
    assert row(app, article_id).state == "active"


def test_a_change_or_a_recent_change_keeps_an_article_active(
    make_app, article_server: ArticleServer
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(settle_after=7 * DAY)
    [article_id] = track(app, article_server, "story")
    check_article(app, article_id)
    eight_days_ago = utcnow() - dt.timedelta(days=8)
    set_columns(app, article_id, created_at=eight_days_ago, last_changed_at=eight_days_ago)
    article_server.set_version("story", 2)
    assert check_article(app, article_id).outcome == "changed"
    assert row(app, article_id).state == "active"
    set_columns(app, article_id, created_at=eight_days_ago)  # last change: just now
    assert check_article(app, article_id).outcome == "not_modified"
    assert row(app, article_id).state == "active"


def test_settle_after_zero_never_settles(make_app, article_server: ArticleServer) -> None:  # type: ignore[no-untyped-def]
    app = make_app(settle_after=0)
    [article_id] = track(app, article_server, "story")
    check_article(app, article_id)
    set_columns(app, article_id, created_at=utcnow() - dt.timedelta(days=400))
    check_article(app, article_id)
    assert row(app, article_id).state == "active"


def test_list_shows_developing_and_settled(
    sqlite_url: str, article_server: ArticleServer
) -> None:
    from tests.clihelp import tracker

    developing = article_server.add_article("developing", 1)
    quiet = article_server.add_article("quiet", 4)
    tracker(sqlite_url, "add", developing, quiet)
    tracker(sqlite_url, "check")
    from sqlalchemy import create_engine

    engine = create_engine(sqlite_url)
    with engine.begin() as connection:
        connection.execute(
            update(Article).where(Article.url == quiet)
            .values(created_at=utcnow() - dt.timedelta(days=8))
        )
    engine.dispose()
    tracker(sqlite_url, "check", quiet)
    listed = {a["url"]: a for a in tracker_json(sqlite_url, "list")["articles"]}
    assert (listed[developing]["developing"], listed[developing]["state"]) == (True, "active")
    assert (listed[quiet]["developing"], listed[quiet]["state"]) == (False, "settled")
    table = tracker(sqlite_url, "list").stdout
    states = " ".join(line.split("│")[3].strip() for line in table.splitlines()
                      if line.startswith("│"))  # the state column (after title, URL)
    assert states.split() == ["active,", "developing", "settled"]
