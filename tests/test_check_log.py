"""The check log's retention (``keep_checks_days``, ``tracker.housekeeping.prune_checks``): old
checks that stored nothing go, each article's latest check and every check that stored a
version stay. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import select

from db import queries
from db.models import Check, Version
from db.session import session_scope
from tests.export_story import store_history
from tracker import housekeeping
from tracker.app import App
from tracker.articles import add_articles
from tracker.clock import utcnow

DAY = dt.timedelta(days=1)


def add_checks(app: App, url: str, ages: list[dt.timedelta], *, outcome: str = "unchanged",
               stored: bool = False) -> None:
    """Checks of ``url`` started ``ages`` ago; with ``stored``, each names the article's
    latest version, as a check that stored it does."""
    with session_scope(app.writer) as session:
        article = queries.article_by_url(session, url)
        assert article is not None
        version_id = session.scalar(select(Version.id).where(Version.article_id == article.id)
                                    .order_by(Version.number.desc()).limit(1)) if stored else None
        now = utcnow()
        for age in ages:
            queries.insert_check(session, article.id, {
                "started_at": now - age, "duration_ms": 5, "lag_ms": 0, "outcome": outcome,
                "status_code": 200, "error": None, "version_id": version_id,
            })


def checks_left(app: App) -> dict[str, list[tuple[int, str, bool]]]:
    """url → (age in whole days, outcome, stored a version) of each check left, oldest first."""
    now = utcnow()
    left: dict[str, list[tuple[int, str, bool]]] = {}
    with session_scope(app.reader) as session:
        for article in queries.list_articles(session):
            rows = sorted(queries.checks_of(session, article.id, limit=1000),
                          key=lambda c: (c.started_at, c.id))
            left[article.url] = [(round((now - c.started_at) / DAY), c.outcome,
                                  c.version_id is not None) for c in rows]
    return left


def test_old_checks_that_stored_nothing_are_dropped(make_app: Callable[..., App]) -> None:
    app = make_app(keep_checks_days=90)
    store_history(app, "https://example.org/a", 1)
    add_articles(app, ["https://example.org/b", "https://example.org/c"])
    add_checks(app, "https://example.org/a", [100 * DAY, 99 * DAY, 98 * DAY])
    add_checks(app, "https://example.org/a", [97 * DAY], outcome="first_seen", stored=True)
    add_checks(app, "https://example.org/a", [95 * DAY], outcome="failed")
    add_checks(app, "https://example.org/a", [1 * DAY, 0 * DAY])
    # An article nobody checked for months keeps its latest check: the next check's decision
    # reads that outcome (a second "gone" in a row confirms a deletion).
    add_checks(app, "https://example.org/b", [200 * DAY])
    add_checks(app, "https://example.org/b", [150 * DAY], outcome="gone")

    assert housekeeping.prune_checks(app) == 5

    assert checks_left(app) == {
        "https://example.org/a": [(97, "first_seen", True), (1, "unchanged", False),
                                  (0, "unchanged", False)],
        "https://example.org/b": [(150, "gone", False)],
        "https://example.org/c": [],
    }
    with session_scope(app.reader) as session:
        b = queries.article_by_url(session, "https://example.org/b")
        assert b is not None
        assert queries.last_outcome(session, b.id) == "gone"
    assert housekeeping.prune_checks(app) == 0


def test_checks_started_at_the_same_time_keep_exactly_one(make_app: Callable[..., App]) -> None:
    app = make_app(keep_checks_days=30)
    add_articles(app, ["https://example.org/a"])
    add_checks(app, "https://example.org/a", [40 * DAY] * 3)  # one call: the same start

    assert housekeeping.prune_checks(app) == 2

    assert [age for age, _, _ in checks_left(app)["https://example.org/a"]] == [40]


def test_a_long_log_is_pruned_in_batches(make_app: Callable[..., App],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(keep_checks_days=1)
    add_articles(app, ["https://example.org/a"])
    add_checks(app, "https://example.org/a", [dt.timedelta(days=2, minutes=m) for m in range(25)])
    monkeypatch.setattr(housekeeping, "PRUNE_BATCH", 10)

    assert housekeeping.prune_checks(app) == 24

    with session_scope(app.reader) as session:
        assert queries.count_rows(session, Check) == 1
