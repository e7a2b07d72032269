"""Database problems are said in one line, never a traceback: a database that does not exist, a
refused port, an unsupported URL, a path given as a URL, a read-only, damaged or newer
database. A mistyped SQLite path is not created; ``tracker migrate`` and the default location
create the database, owner-only. ``tracker run`` stops at once on a database that never
worked, and rides out an outage with one line per try."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from db.session import HEAD_REVISION
from tests.clihelp import ROOT, TRACKER, environment, run_tracker, tracker, tracker_json
from tests.conftest import POSTGRES_URL


def run_cli(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_tracker(list(args), {**environment(database_url), **env})


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert result.stderr.startswith("tracker: error: "), output
    assert result.stderr.count("\n") == 1, output
    assert "Traceback" not in output
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.mark.parametrize(("url", "words"), [
    (POSTGRES_URL.rsplit("/", 1)[0] + "/tracker_no_such_database", ["does not exist"]),
    ("postgresql://tracker:s3cret@127.0.0.1:9/tracker", ["refused"]),
    ("mysql://user@127.0.0.1/tracker", ["mysql://", "not supported", "sqlite:///"]),
    ("{tmp}/tracker.db", ["is a path, not a database URL", "sqlite:///{tmp}/tracker.db"]),
    ("sqlite:///{tmp}/no/such/dir/tracker.db", ["no database", "no directory", "migrate"]),
    ("sqlite:///{tmp}/typo.db", ["no database at {tmp}/typo.db", "tracker --db"]),
])
def test_unusable_database_urls_get_one_line(tmp_path: Path, url: str, words: list[str]) -> None:
    url = url.format(tmp=tmp_path)
    result = run_cli(url, "add", "https://news.example/story")
    one_line_error(result, *[w.format(tmp=tmp_path) for w in words])
    assert "s3cret" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing created on the way


def test_a_damaged_sqlite_file_gets_one_line(tmp_path: Path) -> None:
    damaged = tmp_path / "tracker.db"
    damaged.write_bytes(b"SQLite format 2\x00" + os.urandom(4000))
    one_line_error(run_cli(f"sqlite:///{damaged}", "list"), "not a database")


def test_a_read_only_database_gets_one_line_and_run_stops(sqlite_url: str) -> None:
    """Opened read-only (the same SQLite error as a file without write permission, which root,
    running these tests in CI containers, would not see)."""
    tracker(sqlite_url, "add", "https://news.example/story")
    read_only = sqlite_url.replace("sqlite:///", "sqlite:///file:") + "?mode=ro&uri=true"
    assert tracker_json(read_only, "list")["articles"]  # reading works
    one_line_error(run_cli(read_only, "add", "https://news.example/other"), "read-only")
    started = time.monotonic()
    result = run_cli(read_only, "run")
    one_line_error_but_logs(result, "read-only")
    assert time.monotonic() - started < 30


def one_line_error_but_logs(result: subprocess.CompletedProcess[str], word: str) -> None:
    """``tracker run`` logs its start; the error is then one line."""
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("tracker: error")]
    assert len(errors) == 1
    assert word in errors[0]


@pytest.fixture
def newer_schema(database_url: str) -> Iterator[str]:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    try:
        yield database_url
    finally:
        with engine.begin() as connection:  # back to what it was, for the tests that follow
            connection.execute(text("UPDATE alembic_version SET version_num = :head"),
                               {"head": HEAD_REVISION})
        engine.dispose()


def test_a_database_from_a_newer_tracker_gets_one_line(newer_schema: str) -> None:
    one_line_error(run_cli(newer_schema, "list"), "'9999_future'", "newer tracker")


def test_migrate_creates_a_new_database_owner_only(tmp_path: Path) -> None:
    database = tmp_path / "new" / "tracker.db"
    url = f"sqlite:///{database}"
    assert run_cli(url, "migrate").returncode == 0
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert stat.S_IMODE(database.parent.stat().st_mode) == 0o700
    assert tracker_json(url, "list") == {"articles": []}


def test_the_default_database_is_created_on_first_use_owner_only(tmp_path: Path) -> None:
    env = {k: v for k, v in environment("").items() if k != "TRACKER_DATABASE_URL"}
    env.update(XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    result = subprocess.run([*TRACKER, "add", "https://news.example/story"], env=env,
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    database = tmp_path / "data" / "tracker" / "tracker.db"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert stat.S_IMODE(database.parent.stat().st_mode) == 0o700


# --- tracker run through a database outage ----------------------------------------------------


@pytest.mark.postgres
@pytest.mark.slow
def test_run_rides_out_a_database_outage_with_one_line_per_try(postgres_url: str) -> None:
    name = postgres_url.rsplit("/", 1)[1]
    admin = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                          isolation_level="AUTOCOMMIT")
    # An article whose check fails at once: its log line says the first pass went through.
    tracker(postgres_url, "add", "http://127.0.0.1:9/unreachable")
    process = subprocess.Popen([*TRACKER, "run"], env=environment(postgres_url), cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    stream = process.stderr
    assert stream is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(stream.readline, "")), daemon=True)
    reader.start()

    def seen(words: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(words in line for line in list(lines)):
                return True
            time.sleep(0.2)
        return False

    try:
        assert seen("check of http://127.0.0.1:9/unreachable failed", 30), "".join(lines)
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE datname = :name"), {"name": name})
        assert seen("trying again in", 30), "".join(lines)  # a check pass failed
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        assert seen("the database is back", 60), "".join(lines)
        assert process.poll() is None, "tracker run died during the outage"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        reader.join(timeout=10)
        stream.close()
    output = "".join(lines)
    assert process.returncode == 0, output
    assert "Traceback" not in output
    failures = [line for line in lines if "database error:" in line]
    assert all(len(line) < 500 for line in failures), output
