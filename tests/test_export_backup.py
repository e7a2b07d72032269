"""``tracker backup``: a consistent copy of a live SQLite database while another process
writes; pg_dump for PostgreSQL, or the command to run when it is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from db.models import Article, Version
from db.session import session_scope
from tests.clihelp import ROOT, environment, tracker
from tests.export_story import store_history
from tracker.app import App
from tracker.config import load_settings
from tracker.export import Selection, export_dataset
from tracker.export.backup import backup

WRITER = """
import itertools, sys
from tests.export_story import store_history
from tracker.app import App
from tracker.config import load_settings
app = App(load_settings(database_url=sys.argv[1]))
for n in itertools.count():
    store_history(app, f"https://example.org/live/{n}", 6, seed=n)
    print(n, flush=True)
"""


def consistent(url: str) -> int:
    """Articles in the database at ``url``, after checking each has exactly the versions its
    row counts (a copy taken mid-transaction would not)."""
    app = App(load_settings(database_url=url))
    try:
        with session_scope(app.reader) as session:
            counts: dict[int, int] = dict(session.execute(
                select(Version.article_id, func.count()).group_by(Version.article_id)
            ).all())
            articles = session.execute(select(Article.id, Article.version_count)).all()
            assert all(counts.get(a, 0) == n for a, n in articles)
            return len(articles)
    finally:
        app.close()


def test_sqlite_backup_is_consistent_while_another_process_writes(
    sqlite_url: str, tmp_path: Path
) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, sqlite_url], stdout=subprocess.PIPE, text=True,
        cwd=ROOT, env=environment(sqlite_url),
    )
    app = App(load_settings(database_url=sqlite_url))
    try:
        assert writer.stdout is not None
        for _ in range(3):  # the writer is under way
            writer.stdout.readline()
        sizes = []
        for n in range(4):
            result = backup(app, tmp_path / f"copy{n}.db")
            sizes.append(consistent(f"sqlite:///{result.path}"))
            writer.stdout.readline()  # at least one more article committed meanwhile
    finally:
        writer.kill()
        writer.wait()
        if writer.stdout is not None:
            writer.stdout.close()
        app.close()
    assert sizes == sorted(sizes)
    assert sizes[-1] > sizes[0] >= 3  # copies of a database that kept growing


def test_cli_backup_copy_is_a_working_database(sqlite_url: str, tmp_path: Path) -> None:
    app = App(load_settings(database_url=sqlite_url))
    try:
        store_history(app, "https://example.org/a", 40)
        export_dataset(app, tmp_path / "original", "jsonl", Selection())
    finally:
        app.close()
    result = tracker(sqlite_url, "backup", str(tmp_path / "copy.db"))
    assert "SQLite online backup" in result.stdout
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    tracker(copy, "export", "-o", str(tmp_path / "copied"))
    for name in ("versions.jsonl", "changes.jsonl"):
        assert (tmp_path / "original" / name).read_bytes() == \
            (tmp_path / "copied" / name).read_bytes()
    again = tracker(sqlite_url, "backup", str(tmp_path / "copy.db"), check=False)
    assert again.returncode == 1
    assert "exists already" in again.stderr


@pytest.mark.postgres
def test_postgres_backup_runs_pg_dump(postgres_url: str, tmp_path: Path) -> None:
    if subprocess.run(["which", "pg_dump"], capture_output=True, check=False).returncode:
        pytest.skip("pg_dump is not installed here")
    app = App(load_settings(database_url=postgres_url))
    try:
        store_history(app, "https://example.org/a", 5)
    finally:
        app.close()
    result = tracker(postgres_url, "backup", str(tmp_path / "dump"))
    assert "pg_dump --format=custom" in result.stdout
    assert (tmp_path / "dump").read_bytes()[:5] == b"PGDMP"
    listing = subprocess.run(["pg_restore", "--list", str(tmp_path / "dump")],
                             capture_output=True, text=True, check=True)
    assert "TABLE DATA public versions" in listing.stdout


def test_without_pg_dump_the_command_is_given_without_the_password(tmp_path: Path) -> None:
    url = "postgresql://tracker:s3cret@127.0.0.1:5432/news"
    env = environment(url, PATH=str(tmp_path))  # nothing to run on this PATH
    result = subprocess.run(
        [sys.executable, "-m", "tracker.cli", "backup", str(tmp_path / "dump")],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, check=False,
    )
    assert result.returncode == 1
    assert "pg_dump is not installed; run: pg_dump --format=custom --no-owner --file" in \
        result.stderr
    assert "postgresql://tracker@127.0.0.1:5432/news" in result.stderr
    assert "s3cret" not in result.stderr
    assert not (tmp_path / "dump").exists()
    assert os.listdir(tmp_path) == []
