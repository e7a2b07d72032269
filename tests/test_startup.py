"""The read commands import only what they use (issue 15, item 3): no extractor, HTTP client,
Celery, Alembic or web framework to list, show or diff what is stored. A behaviour test, not a
timed one (the timings are in benchmarks/bench_startup.py)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.articleserver import ArticleServer
from tests.clihelp import ROOT, TRACKER, environment, tracker
from tests.conftest import FIXTURES, STORY

# What a read command must not load. pydantic: typer 0.29 and later build a pydantic validator
# for every option at each start (pyproject pins typer below it); deepdiff pulled it in too.
HEAVY = ("trafilatura", "httpx", "httpcore", "deepdiff", "celery", "kombu", "alembic",
         "fastapi", "starlette", "uvicorn", "jinja2", "pydantic", "lxml", "feedparser",
         "cryptography")  # fmt: skip

PROBE = (
    "import json, sys\n"
    "full = sys.argv[2:] == ['--full']\n"
    "sys.argv = ['tracker', *json.loads(sys.argv[1])]\n"
    "from tracker import cli\n"
    "try:\n    cli.main()\nexcept SystemExit as exc:\n    code = exc.code\nelse:\n    code = 0\n"
    # a None entry marks a module absent (tracker/__init__.py does so for httpx._main)
    "names = [name for name, m in sys.modules.items() if m is not None]\n"
    "loaded = sorted(names if full else {n.split('.')[0] for n in names})\n"
    "print('LOADED', json.dumps(loaded), 'EXIT', code, file=sys.stderr)\n"
)


def loaded_modules(database_url: str, *args: str, exit_codes: tuple[str, ...] = ("0", "None"),
                   full: bool = False) -> set[str]:
    """The top-level packages (``full``: the modules) ``tracker ARGS`` had imported when it
    finished (it must exit with one of ``exit_codes``)."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(args)), *(["--full"] if full else [])],
        capture_output=True, text=True,
        env=environment(database_url), cwd=ROOT, timeout=120,
    )
    line = next(line for line in result.stderr.splitlines() if line.startswith("LOADED "))
    loaded, code = line.removeprefix("LOADED ").rsplit(" EXIT ", 1)
    assert code in exit_codes, result.stderr
    return set(json.loads(loaded))


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A database with one article at two versions, made through the real command."""
    database = tmp_path_factory.mktemp("startup") / "tracker.db"
    url = f"sqlite:///{database}"
    tracker(url, "migrate")
    with ArticleServer(FIXTURES) as server:
        article = server.add_article("story", 2)
        tracker(url, "add", article)
        tracker(url, "check", "--all")
        server.advance("story")
        tracker(url, "check", "--all")
    return url, article


READS = {
    "help": ["--help"],
    "list": ["list"],
    "list json": ["list", "--format", "json"],
    "changes": ["changes", "--since", "1h"],
    "changes json": ["changes", "--since", "1h", "--format", "json"],
    "changes markdown of one article": ["changes", "--since", "1h", "--format", "markdown",
                                        "--article", "{article}"],
    "show": ["show", "{article}"],
    "show markdown": ["show", "{article}", "--version", "1", "--format", "markdown"],
    "history": ["history", "{article}"],
    "history json": ["history", "{article}", "--format", "json"],
    "diff of two stored versions": ["diff", "{article}@1", "{article}@2"],
    "diff of two files": ["diff", str(STORY / "v2.txt"), str(STORY / "v3.txt")],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(READS))
def test_read_command_loads_no_heavy_library(tracked: tuple[str, str], name: str) -> None:
    url, article = tracked
    args = [arg.replace("{article}", article) for arg in READS[name]]
    differ = ("1",) if name.startswith("diff") else ()  # `tracker diff` exits 1 when they differ
    loaded = loaded_modules(url, *args, exit_codes=("0", "None", *differ))
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


@pytest.mark.parametrize("name", sorted(READS))
def test_read_command_on_sqlite_loads_no_sqlalchemy(tracked: tuple[str, str], name: str) -> None:
    """On a SQLite file at the newest schema the read commands run on stdlib sqlite3
    (db.reads): importing SQLAlchemy alone takes longer than the 0.25 s they may take."""
    url, article = tracked
    args = [arg.replace("{article}", article) for arg in READS[name]]
    differ = ("1",) if name.startswith("diff") else ()
    assert "sqlalchemy" not in loaded_modules(url, *args, exit_codes=("0", "None", *differ))


def test_a_database_at_another_revision_takes_the_sqlalchemy_path(
    tmp_path: Path, tracked: tuple[str, str],
) -> None:
    """The probe above can fail: a database the stdlib path declines (here one at a revision
    this tracker does not know) is opened as before, through SQLAlchemy, which gives its
    error as before."""
    url, article = tracked
    copy = tmp_path / "newer.db"
    with sqlite3.connect(url.removeprefix("sqlite:///")) as source, sqlite3.connect(copy) as into:
        source.backup(into)
    with sqlite3.connect(copy) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_newer'")
    newer = f"sqlite:///{copy}"
    assert "sqlalchemy" in loaded_modules(newer, "history", article, exit_codes=("1",))
    result = tracker(newer, "history", article, check=False)
    assert result.returncode == 1
    assert "'9999_newer', which this tracker does not know" in result.stderr


def test_the_probe_sees_a_heavy_library_when_one_is_loaded(tracked: tuple[str, str]) -> None:
    """The check above can fail: a command that fetches loads the HTTP client (the site is
    gone, so the check fails: exit status 3)."""
    url, article = tracked
    assert "httpx" in loaded_modules(url, "check", article, exit_codes=("3",))


def test_diff_of_two_files_opens_no_database(tracked: tuple[str, str]) -> None:
    url, _ = tracked
    assert "sqlalchemy" not in loaded_modules(url, "diff", str(STORY / "v2.txt"),
                                              str(STORY / "v3.txt"), exit_codes=("1",))


def test_unknown_and_malformed_urls_still_get_their_messages(tracked: tuple[str, str]) -> None:
    """Reads look a tracked URL up before checking it; an untracked or malformed one still
    gets the full check's verdict."""
    url, article = tracked
    unknown = tracker(url, "show", article + "-other", check=False)
    assert unknown.returncode == 1
    assert "is not tracked" in unknown.stderr
    bad = tracker(url, "history", "http://xn--a-.example/story", check=False)
    assert bad.returncode == 1
    assert "not a valid" in bad.stderr
    assert "is not tracked" not in bad.stderr
    same = tracker(url, "show", article.replace("http://", "HTTP://") + "#top", "--format",
                   "json")  # the stored form of the same URL
    assert json.loads(same.stdout)["article"]["url"] == article


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
             *args: str) -> tuple[object, str, str]:
    """``tracker.cli.main`` as the entry point runs it: (exit code, stdout, stderr)."""
    from tracker import cli

    monkeypatch.setattr(sys, "argv", ["tracker", *args])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    out, err = capsys.readouterr()
    return exited.value.code, out, err


def test_the_entry_point_builds_the_named_command_and_restores_the_rest(
    tracked: tuple[str, str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """main() builds only the command it runs; global options before its name, help and
    unknown names behave as with every command built."""
    from tracker.cli import cli

    url, article = tracked
    registered = list(cli.registered_commands), list(cli.registered_groups)
    code, out, _ = run_main(monkeypatch, capsys, "-v", "--db", url, "list", "--format", "json")
    assert code in (0, None)
    assert [a["url"] for a in json.loads(out)["articles"]] == [article]
    assert (cli.registered_commands, cli.registered_groups) == registered
    code, out, _ = run_main(monkeypatch, capsys, "--db", url, "-h")
    assert code in (0, None)
    assert {"list", "history", "source", "notify"} <= set(out.split())
    code, _, err = run_main(monkeypatch, capsys, "--db", url, "lisst")
    assert code == 2
    assert "No such command 'lisst'" in err


# What a check pass that finds nothing new has no use for: the extractor, the feed reader, the
# report and delivery machinery, rich (terminal rendering), httpx's own command line, the
# "developing story" patterns (read from extracted pages), the TOML parser (no config file) and,
# on SQLite, SQLAlchemy's PostgreSQL dialect (db.models.for_postgresql).
UNCHANGED_PASS_SKIPS = ("lxml", "trafilatura", "rich", "click", "pygments", "deepdiff", "alembic",
                        "tracker.templates", "tracker.extract", "tracker.feeds", "tracker.report",
                        "tracker.delivery", "tracker.markers", "tomllib",
                        "sqlalchemy.dialects.postgresql")  # fmt: skip


def test_unchanged_check_pass_loads_no_extractor_report_or_delivery(tmp_path: Path) -> None:
    """`tracker check --all --report` over a page answering 304 (the first pass's event
    already dispatched, to nobody); the first pass, which extracts, does load the extractor."""
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    tracker(url, "migrate")
    with ArticleServer(FIXTURES) as server:
        tracker(url, "add", server.add_article("story", 1))
        first = loaded_modules(url, "check", "--all", "--report", full=True)
        unchanged = loaded_modules(url, "check", "--all", "--report", "--format", "json",
                                   full=True)
    assert {"lxml", "tracker.extract", "tracker.delivery", "tracker.markers"} <= first
    skipped = sorted(m for m in unchanged if m.startswith(UNCHANGED_PASS_SKIPS))
    assert not skipped, skipped
    assert "tracker.check" in unchanged


def test_the_program_leaves_at_once_with_its_output_status_and_database_whole(
    tmp_path: Path,
) -> None:
    """`tracker check` and the read commands, run as the program, end without the
    interpreter's teardown (tracker.cli._leave): their output and exit status are a normal
    exit's, and the SQLite write-ahead log is folded into the file as the last connection's
    close does."""
    database = tmp_path / "tracker.db"
    url = f"sqlite:///{database}"
    tracker(url, "migrate")

    def program(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*TRACKER, *args], capture_output=True, text=True,
                              env=environment(url), cwd=ROOT, timeout=120)

    with ArticleServer(FIXTURES) as server:
        article = server.add_article("story", 1)
        tracker(url, "add", article)
        first = program("check", "--all", "--format", "json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["outcomes"] == {"first_seen": 1}
    assert not Path(f"{database}-wal").exists()
    gone = program("check", "--all", "--format", "json")  # the site is gone: exit status 3
    assert gone.returncode == 3, gone.stderr
    assert json.loads(gone.stdout)["outcomes"] == {"failed": 1}
    assert not Path(f"{database}-wal").exists()
    listed = program("list", "--format", "json")
    assert listed.returncode == 0
    assert [a["url"] for a in json.loads(listed.stdout)["articles"]] == [article]
    differ = program("diff", str(STORY / "v2.txt"), str(STORY / "v3.txt"))
    assert (differ.returncode, differ.stdout.splitlines()[0]) == (1, "~ modified ¶1 "
                                                                  "(similarity 0.65)")
