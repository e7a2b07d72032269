"""Every number and duration a user can give (options, settings, environment) has bounds: a
value outside them is refused with one clear line before anything is stored, and nothing that
is accepted can make a later check crash with OverflowError."""

from __future__ import annotations

import datetime as dt
import math
import re
import subprocess
from dataclasses import fields

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from db.session import make_engine
from tests.articleserver import ArticleServer
from tests.clihelp import ROOT, TRACKER, environment, tracker, tracker_json
from tracker.articles import parse_since
from tracker.config import BOUNDS, RATE_RANGE, Settings, load_settings
from tracker.errors import TrackerError
from tracker.hosts import check_rate
from tracker.intervals import (
    MAX_DURATION,
    MAX_INTERVAL,
    MIN_INTERVAL,
    failure_delay,
    jitter,
    next_interval,
    parse_duration,
    parse_interval,
)

NUMBER_SETTINGS = [f.name for f in fields(Settings)
                   if isinstance(f.default, int | float) and not isinstance(f.default, bool)]


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("tracker: error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    for word in words:
        assert word in result.stderr


@pytest.mark.parametrize(("args", "words"), [
    (["add", "{url}", "--every", "9999999999d"], ["too long", "365d"]),
    (["add", "{url}", "--every", "1" * 5000], ["not a duration"]),
    (["add", "{url}", "--every", "5s"], ["minimum of 10s"]),
    (["source", "add", "{url}", "--article-every", "400d"], ["too long"]),
    (["host", "set", "127.0.0.1", "--rate", "1e-300"], ["--rate", "0.01"]),
    (["host", "set", "127.0.0.1", "--rate", "nan"], ["--rate"]),
    (["host", "set", "127.0.0.1", "--rate", "inf"], ["--rate"]),
    (["host", "set", "127.0.0.1", "--notify-threshold", str(2**40)], ["--notify-threshold"]),
    (["changes", "--since", "9999999d"], ["--since", "too long"]),
    (["rotate-secret", "1", "--grace", "99999999999d"], ["too long"]),
])
def test_out_of_range_input_gets_one_line_and_stores_nothing(
    sqlite_url: str, article_server: ArticleServer, args: list[str], words: list[str]
) -> None:
    url = article_server.add_article("a", 1)
    result = tracker(sqlite_url, *[a.format(url=url) for a in args], check=False)
    one_line_error(result, *words)
    assert tracker_json(sqlite_url, "list")["articles"] == []
    assert tracker_json(sqlite_url, "hosts")["hosts"] == []


@pytest.mark.parametrize(("name", "value"), [
    ("TRACKER_CONCURRENCY", "nan"), ("TRACKER_PER_HOST_RATE", "1e-300"),
    ("TRACKER_MAX_INTERVAL", "1e30"), ("TRACKER_FETCH_DEADLINE", "-1"),
    ("TRACKER_WEBHOOK_RETRY_SCHEDULE", "5s,99999d"), ("TRACKER_READ_TIMEOUT", "inf"),
])
def test_out_of_range_settings_get_one_line(sqlite_url: str, name: str, value: str) -> None:
    result = subprocess.run(
        [*TRACKER, "list"], capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**environment(sqlite_url), name: value},
    )
    one_line_error(result, name.removeprefix("TRACKER_").lower())


def test_a_huge_interval_stored_before_bounds_does_not_crash_checks(
    sqlite_url: str, article_server: ArticleServer
) -> None:
    """Rows written by an older tracker (SQLite stores any integer) are checked all the same."""
    url = article_server.add_article("a", 1)
    tracker(sqlite_url, "add", url)
    engine = make_engine(sqlite_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE articles SET base_interval = :big, interval = :big"),
                           {"big": 10**15})
    engine.dispose()
    first = tracker(sqlite_url, "check", url)
    article_server.set_mode("a", "404")
    second = tracker(sqlite_url, "check", url, check=False)
    assert "first_seen" in first.stdout
    assert "gone" in second.stdout
    assert "Traceback" not in first.stderr + second.stderr
    next_check = tracker_json(sqlite_url, "list")["articles"][0]["next_check"]
    # at most the longest interval (a year) with its jitter (10 %): in December, "before the
    # year after next" failed whenever the jitter went past 31 December
    latest = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.1 * MAX_INTERVAL + 86_400)
    assert dt.datetime.fromisoformat(next_check) < latest


# --- properties -------------------------------------------------------------------------------


@given(st.text() | st.from_regex(r"\A\s*\d{1,15}(\.\d{1,12})?\s*[smhdSMHD]?\s*\Z"))
def test_parse_duration_gives_a_bounded_number_or_a_value_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError:
        return
    assert 0 <= seconds <= MAX_DURATION


@given(st.text() | st.from_regex(r"\A\d{1,15}[smhd]\Z"))
def test_parse_interval_stays_within_the_interval_bounds(text: str) -> None:
    try:
        seconds = parse_interval(text)
    except ValueError:
        return
    assert MIN_INTERVAL <= seconds <= MAX_INTERVAL


@given(st.text() | st.from_regex(r"\A\d{1,9}[smhd]\Z") | st.datetimes().map(str))
def test_parse_since_gives_a_time_or_a_tracker_error(text: str) -> None:
    try:
        since = parse_since(text)
    except TrackerError:
        return
    assert since.tzinfo is not None


@given(st.sampled_from(NUMBER_SETTINGS),
       st.text() | st.floats().map(repr) | st.integers().map(str))
def test_number_settings_are_refused_or_within_bounds(name: str, value: str) -> None:
    try:
        settings = load_settings(**{name: value})
    except ValueError:
        return
    got = getattr(settings, name)
    low, high = BOUNDS.get(name, (0, math.inf))
    assert math.isfinite(got)
    assert low <= got <= high or (name == "per_host_rate" and got == 0)


@given(st.floats())
def test_host_rates_are_refused_or_within_bounds(rate: float) -> None:
    try:
        check_rate(rate)
    except TrackerError:
        return
    assert RATE_RANGE[0] <= rate <= RATE_RANGE[1]


@given(st.integers(0, 10**30), st.integers(0, 10**30), st.integers(0, 10**6),
       st.integers(0, 10**30), st.booleans())
def test_any_stored_interval_gives_a_schedulable_next_check(
    current: int, base: int, failures: int, maximum: int, changed: bool
) -> None:
    now = dt.datetime.now(dt.UTC)
    for seconds in (next_interval(current, base, changed=changed, maximum=maximum),
                    failure_delay(base, failures, maximum=maximum)):
        assert MIN_INTERVAL <= seconds <= MAX_INTERVAL
        now + dt.timedelta(seconds=jitter(seconds))  # no OverflowError


def test_the_usage_docs_list_every_bound() -> None:
    from tests.clihelp import ROOT
    from tracker.config import number

    text = (ROOT / "docs" / "usage.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| ([\d.]+) \| ([\d.]+) \|$", text, flags=re.MULTILINE)
    assert rows == [(name, number(low), number(high)) for name, (low, high) in BOUNDS.items()]
