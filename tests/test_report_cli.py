"""The terminal report as a newcomer reads it (issue 11, "The terminal report"): real
`tracker` subprocesses on the fixture story served by a real local site.

The headline change as a word diff and named by `check`; runs of inserted paragraphs as one
block; times to the second with their zone, in `TZ`, also when reading `--since`; `list` with
titles and one line per article; `show` numbered as the report is; `diff` exiting as diff(1);
`status` without the Celery service's queues for people who only use `tracker run`."""

from __future__ import annotations

import datetime as dt
import json
import re
import signal
import subprocess
import zoneinfo

import pytest

from tests.articleserver import ArticleServer
from tests.clihelp import environment, run_tracker, tracker, tracker_json
from tests.conftest import STORY
from tests.rawsite import Answer, RawSite
from tests.test_run import count, make_due, start_run, wait_for

# A time as the CLI prints it: to the second, then the zone's name; never a fraction.
LOCAL_TIME = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [A-Z][A-Za-z0-9+-]+"


def run(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_tracker(list(args), environment(database_url, **env))


def story_lines(number: int) -> list[str]:
    return (STORY / f"v{number}.txt").read_text(encoding="utf-8").splitlines()


@pytest.fixture
def story(sqlite_url: str, article_server: ArticleServer) -> str:
    """The fixture story tracked through v1, v2 and v3."""
    url = article_server.add_article("story", 1)
    tracker(sqlite_url, "add", url)
    tracker(sqlite_url, "check", url)
    for version in (2, 3):
        article_server.set_version("story", version)
        tracker(sqlite_url, "check", url)
    return url


# --- tracker changes --------------------------------------------------------------------------


def test_report_shows_the_headline_as_a_word_diff_and_runs_of_inserted_paragraphs(
    sqlite_url: str, story: str
) -> None:
    text = run(sqlite_url, "changes", "--article", story, TZ="UTC").stdout
    lines = text.splitlines()
    assert ("headline: Putin [-empfing Nordkorea unter großem Getöse-] "
            "{+und Kim unterzeichnen Beistandspakt+} beim ersten Besuch") in text
    assert not any(line.startswith("title:") for line in lines)  # not two whole headlines
    # v1 → v2 inserts 14 paragraphs in four runs: four blocks, each paragraph numbered
    assert [line for line in lines if line.startswith("+ inserted")][:4] == [
        "+ inserted ¶5–7", "+ inserted ¶10–16", "+ inserted ¶20", "+ inserted ¶22–24"]
    first_run = lines.index("+ inserted ¶10–16")
    assert [line.split()[0] for line in lines[first_run + 1:first_run + 8]] == [
        f"¶{n}" for n in range(10, 17)]
    headings = [line for line in lines if line.startswith("── version")]
    assert re.fullmatch(r"── version 1 → 2 \(" + LOCAL_TIME + r"\): 14 inserted, .*",
                        headings[0])
    assert "1 split, 1 merged · headline, update date changed" in headings[1]


def test_markdown_report_never_makes_a_label_bold(sqlite_url: str, story: str) -> None:
    markdown = run(sqlite_url, "changes", "--article", story, "-f", "markdown").stdout
    lines = markdown.splitlines()
    assert "#### + inserted ¶10–16" in lines
    assert any(line.startswith("### version 2 → 3 (") for line in lines)
    assert "- _headline_: Putin ~~empfing Nordkorea unter großem Getöse~~ **und Kim" in markdown
    for line in lines:  # bold is inserted text: never a whole line that is a label
        assert not re.fullmatch(r"\*\*[~+\-↕⑂⋈] .*\*\*", line), line


def test_times_are_in_tz_without_fractions_and_since_reads_a_naive_time_in_tz(
    sqlite_url: str, story: str
) -> None:
    changes = tracker_json(sqlite_url, "changes", "--article", story)["changes"]
    detected = dt.datetime.fromisoformat(changes[-1]["detected_at"].replace("Z", "+00:00"))
    zone = zoneinfo.ZoneInfo("America/New_York")
    local = detected.astimezone(zone)
    text = run(sqlite_url, "changes", "--article", story, TZ="America/New_York").stdout
    assert f"({local:%Y-%m-%d %H:%M:%S} {local.tzname()}):" in text
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d", text)  # no microseconds
    # A naive --since is New York time: an hour after the change there finds nothing (read as
    # UTC it would lie four or five hours earlier, before the change).
    later = (local + dt.timedelta(hours=1)).replace(tzinfo=None).isoformat(timespec="seconds")
    earlier = (local - dt.timedelta(hours=1)).replace(tzinfo=None).isoformat(timespec="seconds")
    after = run(sqlite_url, "changes", "--since", later, "-f", "json", TZ="America/New_York")
    before = run(sqlite_url, "changes", "--since", earlier, "-f", "json", TZ="America/New_York")
    assert json.loads(after.stdout)["changes"] == []
    assert len(json.loads(before.stdout)["changes"]) >= 1
    # every time the CLI prints about the article is in the zone, to the second
    history = run(sqlite_url, "history", story, TZ="Asia/Tokyo").stdout
    show = run(sqlite_url, "show", story, TZ="Asia/Tokyo").stdout
    for output in (history, show):
        assert re.search(r"\d{2}:\d{2}:\d{2} JST", output), output
        assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d", output)
    listed = run(sqlite_url, "list", TZ="Asia/Tokyo", COLUMNS="250").stdout
    assert len(re.findall(r"\d{2}:\d{2}:\d{2} JST", listed)) == 2  # last and next check


# --- tracker check and run name a new headline ------------------------------------------------


def test_check_names_a_new_headline(sqlite_url: str, article_server: ArticleServer) -> None:
    url = article_server.add_article("story", 2)
    tracker(sqlite_url, "add", url)
    first = tracker(sqlite_url, "check", url).stdout
    assert "new headline" not in first
    article_server.set_version("story", 3)
    output = " ".join(tracker(sqlite_url, "check", url).stdout.split())  # wrapped at 80
    assert f"new headline: “{story_lines(3)[0]}”" in output
    article_server.set_version("story", 4)  # the headline stays
    unchanged_headline = tracker_json(sqlite_url, "check", url)["results"][0]
    assert unchanged_headline["outcome"] == "changed"
    assert unchanged_headline["headline"] is None


def test_run_logs_a_new_headline_with_zoned_times(
    sqlite_url: str, article_server: ArticleServer
) -> None:
    url = article_server.add_article("story", 2)
    tracker(sqlite_url, "add", url, "--every", "10s")
    tracker(sqlite_url, "check", url)
    article_server.set_version("story", 3)
    make_due(sqlite_url)  # the next check, without waiting out the interval
    service = start_run(sqlite_url)  # the change is found at that due check
    try:
        wait_for(lambda: count(sqlite_url, "select count(*) from versions") == 2, timeout=30)
    finally:
        service.send_signal(signal.SIGINT)
        output, _ = service.communicate(timeout=30)
    line = next(line for line in output.splitlines() if " changed " in line)
    assert f"new headline: “{story_lines(3)[0]}”" in line
    assert re.match(LOCAL_TIME + " INFO", line), line


# --- tracker list and show --------------------------------------------------------------------


def test_list_has_titles_and_one_line_per_article_however_long_the_error(
    sqlite_url: str, article_server: ArticleServer
) -> None:
    story = article_server.add_article("story", 3)
    reason = "Teapot " + "sehr lange Fehlermeldung " * 30
    with RawSite() as site:
        broken = site.set("/broken", Answer(b"no", "text/plain", 418, reason.encode()))
        tracker(sqlite_url, "add", story, broken)
        tracker(sqlite_url, "check", "--all", check=False)
    listed = run(sqlite_url, "list", COLUMNS="250").stdout
    assert "title" in listed.splitlines()[2]  # the header row
    [story_row] = [line for line in listed.splitlines() if story in line]
    assert story_lines(3)[0][:40] in story_row
    broken_rows = [line for line in listed.splitlines() if "Fehlermeldung" in line]
    assert len(broken_rows) == 1  # one row, one line
    # the whole stored error is in JSON and in history; the list cuts it, with an ellipsis
    [data] = [a for a in tracker_json(sqlite_url, "list")["articles"] if a["url"] == broken]
    assert data["title"] is None
    error = data["last_error"]
    assert error.startswith("HTTP 418 Teapot sehr lange Fehlermeldung")
    assert error not in broken_rows[0]
    assert f"1 failed: {error[:50]}" in broken_rows[0]
    assert "…)" in broken_rows[0]
    history = run(sqlite_url, "history", broken).stdout
    assert error in " ".join(history.split())


def test_show_numbers_paragraphs_as_the_report_does(sqlite_url: str, story: str) -> None:
    report = run(sqlite_url, "changes", "--article", story).stdout.splitlines()
    at = report.index("+ inserted ¶20")  # v1 → v2: one inserted paragraph, shown whole
    inserted = report[at + 1].strip().removeprefix("{+").removesuffix("+}")
    shown = tracker(sqlite_url, "show", story, "--version", "2").stdout.split("\n\n")
    assert f"¶20 {inserted}" in shown
    paragraphs = tracker_json(sqlite_url, "show", story)["paragraphs"]
    latest = tracker(sqlite_url, "show", story).stdout.rstrip("\n").split("\n\n")
    assert [part for part in latest if part.startswith("¶")] == [
        f"¶{n} " + (f"[{p['kind']}] " if p["kind"] in ("caption", "credit") else "") + p["text"]
        for n, p in enumerate(paragraphs, start=1)
    ]
    markdown = tracker(sqlite_url, "show", story, "-f", "markdown").stdout.split("\n\n")
    assert markdown[3] == f"> ¶1 _{paragraphs[0]['text']}_"  # the photo credit, quoted
    assert any(line.startswith("¶3 ") for line in markdown)


# --- tracker diff exits as diff(1) ------------------------------------------------------------


def test_diff_exits_1_when_different_0_when_equal_and_2_on_error(sqlite_url: str) -> None:
    v2, v3, v4, v5 = (str(STORY / f"v{n}.txt") for n in (2, 3, 4, 5))
    for form in ("text", "markdown", "json"):
        assert run(sqlite_url, "diff", v2, v3, "-f", form).returncode == 1
    same = run(sqlite_url, "diff", v4, v5)  # only typographic noise between them
    assert (same.returncode, same.stdout) == (0, "no differences\n")
    assert run(sqlite_url, "diff", v4, v4, "-f", "markdown").stdout == "_no differences_\n"
    assert run(sqlite_url, "diff", v4, v4, "-f", "json").returncode == 0
    missing = run(sqlite_url, "diff", "no-such-file.txt", v3)
    assert missing.returncode == 2
    assert missing.stderr.startswith("tracker: error: no-such-file.txt: no such file")
    assert missing.stderr.count("\n") == 1
    assert run(sqlite_url, "diff", "http://127.0.0.1:1/untracked@1", v3).returncode == 2


def test_diff_of_two_stored_versions_is_the_reports_change(sqlite_url: str, story: str) -> None:
    """`tracker diff URL@2 URL@3` reads the stored change, as `changes` and the web view do."""
    changes = tracker_json(sqlite_url, "changes", "--article", story)["changes"]
    [step] = [c for c in changes if (c["from_version"], c["to_version"]) == (2, 3)]
    assert tracker_json(sqlite_url, "diff", f"{story}@2", f"{story}@3") == step["diff"]
    report = run(sqlite_url, "changes", "--article", story).stdout
    section = report[report.index("── version 2 → 3"):]
    diff = run(sqlite_url, "diff", f"{story}@2", story)  # the URL alone: the latest (3)
    assert diff.returncode == 1
    assert diff.stdout.strip() in section
    assert run(sqlite_url, "diff", f"{story}@3", story).stdout == "no differences\n"
    missing = run(sqlite_url, "diff", f"{story}@2", f"{story}@9")
    assert (missing.returncode, missing.stderr.count("\n")) == (2, 1)
    assert "has no version 9" in missing.stderr


# --- tracker status ---------------------------------------------------------------------------


def test_status_shows_no_celery_queues_to_embedded_use(sqlite_url: str) -> None:
    embedded = run(sqlite_url, "status")
    assert embedded.returncode == 0, embedded.stderr
    assert "article(s):" in embedded.stdout
    assert "queues" not in embedded.stdout
    assert "tracker beat" not in embedded.stdout
    data = json.loads(run(sqlite_url, "status", "-f", "json").stdout)
    assert (data["service"], data["queues"], data["last_tick"]) == ("embedded", None, None)
    # A broker configured: the service's view, queues and tick
    service = run(sqlite_url, "status", TRACKER_BROKER_URL="redis://127.0.0.1:1/0")
    assert "queues: broker redis://127.0.0.1:1/0 unreachable" in service.stdout
    assert "last tick: never (is `tracker beat` running?)" in service.stdout


def test_a_hostile_headline_in_the_check_summary_prints_literally() -> None:
    from rich.console import Console

    from tracker.check import CheckResult
    from tracker.cli import output as views

    hostile = "\x1b]0;owned\x07 [bold]fett[/bold] \u202eX\nzweite Zeile"
    console = Console(record=True, width=300, force_terminal=False)
    result = CheckResult(1, "http://x/a", "changed", 2, summary={"modified": 1},
                         headline=hostile)
    views.print_check_summary(console, [result])
    output = console.export_text()
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in output
    assert "new headline: “\\x1b]0;owned\\x07 [bold]fett[/bold] \\u202eX zweite Zeile”" in output


# --- times as people read them (tracker.clock) ------------------------------------------------


def test_local_time_is_to_the_second_with_the_zone_name() -> None:
    from tracker.clock import local_time

    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    assert local_time("2024-06-19T14:10:03.123456Z", berlin) == "2024-06-19 16:10:03 CEST"
    assert local_time("2024-01-19T14:10:03Z", berlin) == "2024-01-19 15:10:03 CET"
    assert local_time(dt.datetime(2024, 6, 19, 14, 10, 3), dt.UTC) == "2024-06-19 14:10:03 UTC"
    assert local_time(None) == "—"
    fixed = dt.timezone(dt.timedelta(hours=5, minutes=30))  # a zone without a name
    assert local_time("2024-06-19T14:10:03Z", fixed) == "2024-06-19 19:40:03 UTC+05:30"


@pytest.mark.parametrize("value", ["../../etc/passwd", "/etc/localtime", "Nowhere/Atlantis",
                                   "Europe/Berlin\x00", "x" * 5000])
def test_a_tz_that_names_no_zone_falls_back_to_the_machines(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    from tracker.clock import display_zone, local_time

    monkeypatch.setenv("TZ", value.replace("\x00", ""))
    zone = display_zone()
    assert re.fullmatch(LOCAL_TIME, local_time("2024-06-19T14:10:03Z", zone))


def test_tz_may_start_with_a_colon(monkeypatch: pytest.MonkeyPatch) -> None:
    from tracker.clock import display_zone

    monkeypatch.setenv("TZ", ":Asia/Tokyo")
    assert display_zone() == zoneinfo.ZoneInfo("Asia/Tokyo")


def test_a_removed_headline_is_said_so() -> None:
    from tracker.check import CheckResult
    from tracker.cli import output as views

    assert views.headline_note(CheckResult(1, "http://x/a", "changed", 2, headline="")) == (
        " — headline removed")
    assert views.headline_note(CheckResult(1, "http://x/a", "changed", 2)) == ""
