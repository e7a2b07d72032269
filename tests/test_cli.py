"""The command line as people and scripts use it: real subprocesses, a real local site."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.articleserver import ArticleServer
from tests.clihelp import ROOT, TRACKER, tracker, tracker_json
from tests.conftest import STORY

EXPECTED = json.loads((STORY / "expected_ops.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("pair", sorted(EXPECTED))
def test_diff_of_fixture_files_gives_the_expected_operations(sqlite_url: str, pair: str) -> None:
    old, new = pair.split("_")
    data = tracker_json(sqlite_url, "diff", str(STORY / f"{old}.txt"), str(STORY / f"{new}.txt"))
    got = {
        (op["op"], tuple(op["old"]), tuple(op["new"])) for op in data["ops"] if op["op"] != "equal"
    }
    want = {(op["op"], tuple(op["old"]), tuple(op["new"])) for op in EXPECTED[pair]}
    assert got == want
    assert data["old"]["paragraphs"] == len((STORY / f"{old}.txt").read_text().splitlines())


def test_text_diff_loads_no_database_extractor_or_celery() -> None:
    code = (
        "import sys\n"
        "from tracker import cli\n"
        f"sys.argv = ['tracker', 'diff', {str(STORY / 'v2.txt')!r}, {str(STORY / 'v3.txt')!r}]\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('sqlalchemy', 'trafilatura', 'celery', 'httpx', 'lxml') "
        "if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert "HEAVY []" in result.stderr, result.stderr
    assert "split" in result.stdout


def test_help_lists_every_command() -> None:
    result = subprocess.run([*TRACKER, "--help"], capture_output=True, text=True, timeout=60)
    for command in ("add", "list", "check", "history", "show", "changes", "diff", "run"):
        assert command in result.stdout


def test_add_check_and_list_as_json(sqlite_url: str, article_server: ArticleServer) -> None:
    first = article_server.add_article("one", 1)
    second = article_server.add_article("two", 3)
    tracker(sqlite_url, "add", first, second, "--every", "15m")
    tracker(sqlite_url, "check", "--all")
    data = tracker_json(sqlite_url, "list")
    assert [a["url"] for a in data["articles"]] == [first, second]
    for article in data["articles"]:
        assert article["versions"] == 1
        assert article["state"] == "active"
        assert article["last_checked"]
        assert article["next_check"]
        assert article["base_interval"] == 900


def test_add_reads_urls_from_standard_input(sqlite_url: str, article_server: ArticleServer) -> None:
    urls = [article_server.add_article(f"s{i}", 1) for i in range(3)]
    tracker(sqlite_url, "add", "-", input="\n".join(urls) + "\n# a comment\n\n")
    assert [a["url"] for a in tracker_json(sqlite_url, "list")["articles"]] == urls


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "ftp://example.com/story"], "only http:// and https://"),
        (["add", "http://127.0.0.1/x", "--every", "5s"], "below the minimum of 10s"),
        (["add", "http://127.0.0.1/x", "--every", "soon"], "not a duration"),
        (["history", "http://127.0.0.1/unknown"], "is not tracked"),
        (["changes", "--since", "last tuesday"], "--since"),
    ],
)
def test_bad_input_gets_one_clear_line_and_exit_status_1(
    sqlite_url: str, args: list[str], message: str
) -> None:
    result = tracker(sqlite_url, *args, check=False)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_changes_report_shows_each_step_of_the_story(
    sqlite_url: str, article_server: ArticleServer
) -> None:
    url = article_server.add_article("story", 1)
    tracker(sqlite_url, "add", url)
    tracker(sqlite_url, "check", "--all")
    for version in (2, 3, 4, 5):
        article_server.set_version("story", version)
        tracker(sqlite_url, "check", url)
    report = tracker_json(sqlite_url, "changes", "--since", "1h")
    steps = [(c["from_version"], c["to_version"]) for c in report["changes"]]
    assert steps == [(1, 2), (2, 3), (3, 4)]  # v5 is noise: no change; v1 is not a change
    third = report["changes"][1]
    assert third["article"] == {"url": url, "title": (STORY / "v3.txt").read_text().splitlines()[0]}
    assert third["diff"]["summary"]["split"] == 1
    assert third["diff"]["metadata"]["title"]["new"].startswith("Putin und Kim unterzeichnen")
    assert third["detected_at"].endswith("Z")
    markdown = tracker(sqlite_url, "changes", "--since", "1h", "--format", "markdown").stdout
    assert "**" in markdown
    assert "~~" in markdown
    text = tracker(sqlite_url, "changes", "--article", url).stdout
    assert "\x1b[" not in text  # piped: no colours
    assert "11.000" in text
    assert "10.000" in text


def test_history_show_and_stored_version_diff(
    sqlite_url: str, article_server: ArticleServer
) -> None:
    url = article_server.add_article("story", 2)
    tracker(sqlite_url, "add", url)
    tracker(sqlite_url, "check", "--all")
    article_server.set_version("story", 3)
    tracker(sqlite_url, "check", "--all")
    history = tracker_json(sqlite_url, "history", url)
    assert [v["number"] for v in history["versions"]] == [1, 2]
    assert history["versions"][1]["summary"]["merged"] == 1
    shown = tracker_json(sqlite_url, "show", url, "--version", "1")
    lines = (STORY / "v2.txt").read_text(encoding="utf-8").splitlines()
    assert [p["text"] for p in shown["paragraphs"]] == lines[1:]
    assert {p["kind"] for p in shown["paragraphs"]} >= {"credit", "caption", "text"}
    stored = tracker_json(sqlite_url, "diff", f"{url}@1", f"{url}@2")
    assert stored["summary"]["moved"] == 1
    assert stored["summary"]["split"] == 1


def test_check_exits_3_when_a_site_fails_and_says_why_once(
    sqlite_url: str, article_server: ArticleServer
) -> None:
    """The exit status convention (docs/usage.md): 0 all checks went through, 3 some failed,
    so cron notices."""
    good = article_server.add_article("good", 1)
    bad = article_server.add_article("bad", 1)
    article_server.set_mode("bad", "500")
    tracker(sqlite_url, "add", good, bad)
    result = tracker(sqlite_url, "check", "--all", check=False)
    assert result.returncode == 3
    assert (result.stdout + result.stderr).count("HTTP 500") == 1  # printed once, not twice
    data = tracker(sqlite_url, "check", bad, "--format", "json", check=False)
    assert data.returncode == 3
    assert json.loads(data.stdout)["results"][0]["outcome"] == "failed"
    assert tracker(sqlite_url, "check", good).returncode == 0


def test_check_without_arguments_checks_only_due_articles(
    sqlite_url: str, article_server: ArticleServer
) -> None:
    url = article_server.add_article("story", 1)
    tracker(sqlite_url, "add", url, "--every", "1h")
    assert tracker_json(sqlite_url, "check")["outcomes"] == {"first_seen": 1}
    assert tracker_json(sqlite_url, "check")["results"] == []  # not due again for ~1h
