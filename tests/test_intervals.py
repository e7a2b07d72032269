"""Durations as people write them, and the adaptive check schedule."""

from __future__ import annotations

import pytest

from tracker.intervals import (
    MIN_INTERVAL,
    developing_cap,
    failure_delay,
    format_duration,
    next_interval,
    parse_duration,
    parse_interval,
)

MINUTE, HOUR, DAY = 60, 3600, 86_400


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("45s", 45), ("10m", 10 * MINUTE), ("2h", 2 * HOUR), ("1d", DAY), ("1.5h", 90 * MINUTE),
     ("90", 90), (" 10 m ", 10 * MINUTE), ("2H", 2 * HOUR)],
)  # fmt: skip
def test_durations_parse_to_seconds(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "ten minutes", "10x", "-5m", "5 m s", "1e3", "10min"])
def test_bad_duration_names_the_input_and_shows_examples(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a duration: .* \(use e\.g\. 30s") as caught:
        parse_duration(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize("text", ["5s", "9", "0"])
def test_interval_below_ten_seconds_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=f"minimum of {MIN_INTERVAL}s"):
        parse_interval(text)


def test_interval_of_exactly_ten_seconds_is_accepted() -> None:
    assert parse_interval("10s") == MIN_INTERVAL


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(30, "30s"), (10 * MINUTE, "10m"), (2 * HOUR, "2h"), (DAY, "1d"), (2 * DAY, "2d"),
     (90 * MINUTE, "90m"), (0, "0s")],
)  # fmt: skip
def test_whole_units_format_compactly(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [45, 10 * MINUTE, 2 * HOUR, DAY, 90 * MINUTE, 36 * HOUR])
def test_formatted_whole_units_parse_back(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_fractional_minutes_format_with_one_decimal() -> None:
    assert format_duration(90) == "1.5m"


def test_change_halves_the_interval() -> None:
    assert next_interval(600, 600, changed=True, maximum=DAY) == 300


def test_repeated_changes_stop_at_half_the_base_interval() -> None:
    interval = 600
    for _ in range(5):
        interval = next_interval(interval, 600, changed=True, maximum=DAY)
    assert interval == 300


def test_change_never_goes_below_ten_seconds() -> None:
    assert next_interval(15, 15, changed=True, maximum=DAY) == MIN_INTERVAL


def test_change_after_a_quiet_spell_checks_at_least_twice_as_often() -> None:
    stretched = 4 * 600
    assert next_interval(stretched, 600, changed=True, maximum=DAY) <= stretched // 2


def test_no_change_stretches_the_interval_by_half() -> None:
    assert next_interval(600, 600, changed=False, maximum=DAY) == 900


def test_no_change_stops_at_the_maximum() -> None:
    interval = 600
    for _ in range(30):
        interval = next_interval(interval, 600, changed=False, maximum=2 * HOUR)
    assert interval == 2 * HOUR


def test_base_above_the_maximum_is_kept() -> None:
    assert next_interval(2 * DAY, 2 * DAY, changed=False, maximum=DAY) == 2 * DAY


def test_no_change_after_a_change_grows_from_the_floor() -> None:
    after_change = next_interval(600, 600, changed=True, maximum=DAY)
    assert next_interval(after_change, 600, changed=False, maximum=DAY) == 450


def test_developing_story_never_drifts_past_its_cap() -> None:
    interval = 600
    for _ in range(30):
        interval = next_interval(interval, 600, changed=False, maximum=DAY, cap=600)
    assert interval == 600


def test_developing_story_recovers_to_its_cap_after_a_change() -> None:
    after_change = next_interval(600, 600, changed=True, maximum=DAY, cap=600)
    assert after_change == 300
    steps = [after_change]
    for _ in range(4):
        steps.append(next_interval(steps[-1], 600, changed=False, maximum=DAY, cap=600))
    assert steps == [300, 450, 600, 600, 600]


def test_marker_gone_the_interval_grows_again() -> None:
    capped = next_interval(600, 600, changed=False, maximum=DAY, cap=600)
    assert next_interval(capped, 600, changed=False, maximum=DAY) == 900


def test_developing_cap_below_the_floor_wins_but_not_below_ten_seconds() -> None:
    assert next_interval(600, 600, changed=True, maximum=DAY, cap=120) == 120
    assert next_interval(600, 600, changed=False, maximum=DAY, cap=3) == MIN_INTERVAL


def test_developing_cap_is_the_setting_or_the_base_interval() -> None:
    assert developing_cap(600, 0) == 600
    assert developing_cap(600, 120) == 120


@pytest.mark.parametrize(("failures", "factor"), [(0, 1), (1, 1), (2, 2), (3, 4), (4, 8)])
def test_failure_delay_doubles_per_consecutive_failure(failures: int, factor: int) -> None:
    assert failure_delay(600, failures, maximum=DAY) == 600 * factor


def test_failure_delay_is_capped_at_the_maximum() -> None:
    assert failure_delay(600, 1000, maximum=DAY) == DAY


def test_failure_delay_never_undercuts_the_base() -> None:
    assert failure_delay(2 * DAY, 3, maximum=DAY) == 2 * DAY
