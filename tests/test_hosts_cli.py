"""``tracker host set`` and ``tracker hosts`` as people use them: real subprocesses."""

from __future__ import annotations

import pytest

from tests.clihelp import tracker, tracker_json


def hosts(sqlite_url: str) -> list[dict[str, object]]:
    return tracker_json(sqlite_url, "hosts")["hosts"]  # type: ignore[no-any-return]


def test_rules_are_set_added_to_listed_and_cleared(sqlite_url: str) -> None:
    tracker(sqlite_url, "add", "https://news.example/a", "https://news.example/b",
            "https://other.example/c")
    out = tracker(sqlite_url, "host", "set", "https://News.Example/a", "--selector",
                  "div.story", "--ignore", "^Anzeige", "--ignore-selector", ".poll",
                  "--rate", "30", "--notify-threshold", "3").stdout
    assert out.startswith("news.example: selector div.story, ignore /^Anzeige/, ignore .poll")
    assert "re-baselined 0 article(s)" in out  # none was checked yet
    tracker(sqlite_url, "host", "set", "news.example", "--ignore", r"^Stand \d", "--ignore",
            "^Anzeige")
    assert hosts(sqlite_url) == [
        {"host": "news.example", "selector": "div.story",
         "ignore_patterns": ["^Anzeige", r"^Stand \d"], "ignore_selectors": [".poll"],
         "rate_per_minute": 30.0, "notify_threshold": 3, "articles": 2, "template": None},
        {"host": "other.example", "selector": None, "ignore_patterns": [],
         "ignore_selectors": [], "rate_per_minute": None, "notify_threshold": None,
         "articles": 1, "template": None},
    ]
    text = tracker(sqlite_url, "hosts").stdout
    assert "news.example" in text
    assert "no rules" in text
    assert "none learned" in text
    shown = tracker_json(sqlite_url, "host", "show", "News.Example")
    assert (shown["host"], shown["selector"], shown["template"]) == (
        "news.example", "div.story", None)
    assert "template: none learned" in tracker(sqlite_url, "host", "show", "news.example").stdout
    assert "no such host" in tracker(sqlite_url, "host", "show", "nowhere.example",
                                     check=False).stderr
    tracker(sqlite_url, "host", "set", "news.example", "--clear", "--ignore", "^Werbung")
    [rules, _] = hosts(sqlite_url)
    assert (rules["selector"], rules["ignore_patterns"], rules["rate_per_minute"]) == (
        None, ["^Werbung"], None)
    assert tracker(sqlite_url, "host", "set", "news.example", "--clear").stdout == (
        "cleared: news.example\n")
    assert [h["host"] for h in hosts(sqlite_url)] == ["news.example", "other.example"]
    assert hosts(sqlite_url)[0]["ignore_patterns"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ignore", "(unclosed"], "--ignore '(unclosed' is not a valid regular expression"),
        (["--ignore", "x*"], "matches the empty string"),
        (["--ignore-selector", "div["], "--ignore-selector 'div[' is not a valid CSS selector"),
        (["--selector", "p:unknown-thing"], "The pseudo-class :unknown-thing is unknown"),
        (["--rate", "0"], "--rate 0: requests per minute, from 0.01 to 60000"),
        (["--notify-threshold", "-1"], "from 0 (off) to"),
        ([], "nothing to set"),
    ],
)
def test_bad_rules_get_one_clear_line_and_store_nothing(
    sqlite_url: str, args: list[str], message: str
) -> None:
    # A good rule given with a bad one is not stored either.
    result = tracker(sqlite_url, "host", "set", "news.example", "--ignore", "^ok$", *args,
                     check=False) if args else tracker(sqlite_url, "host", "set",
                                                       "news.example", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("tracker: error: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert hosts(sqlite_url) == []


def test_a_host_name_must_be_one(sqlite_url: str) -> None:
    result = tracker(sqlite_url, "host", "set", "not a host", "--rate", "5", check=False)
    assert result.returncode == 1
    assert "is not a host name" in result.stderr
