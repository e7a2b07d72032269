"""``tracker backup``: a consistent copy of the live database.

SQLite: SQLite's online backup API copies every page inside one read transaction, so the copy
is the database as of one moment even while ``tracker run`` keeps writing (WAL lets the
writers go on meanwhile). The copy is checked (``PRAGMA integrity_check``) before it is put in
place. PostgreSQL: ``pg_dump --format=custom`` when it is installed (it also copies a live
database consistently); otherwise the command to run is given. The password is handed over in
the environment, never on a command line others can read.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL, make_url

from tracker.app import App
from tracker.errors import TrackerError
from tracker.export import staged_path


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    size: int
    how: str


def backup(app: App, path: Path) -> BackupResult:
    url = make_url(app.settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_backup(url.database or "", path)
    if url.get_backend_name() == "postgresql":
        return _pg_dump(url, path)
    raise TrackerError(f"tracker backup knows SQLite and PostgreSQL, not {url.get_backend_name()}")


def _sqlite_backup(database: str, path: Path) -> BackupResult:
    source_path = Path(database).expanduser()
    if not database or database == ":memory:" or not source_path.is_file():
        raise TrackerError(f"no SQLite database at {database or '(memory)'}")
    with staged_path(path, directory=False) as staging:
        source = sqlite3.connect(source_path, timeout=30)
        try:
            target = sqlite3.connect(staging)
            try:
                source.backup(target)  # all pages in one step: one consistent snapshot
                verdict = target.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                target.close()
        finally:
            source.close()
        if verdict != "ok":
            raise TrackerError(f"the copy failed its integrity check ({verdict}); nothing kept")
    return BackupResult(path, path.stat().st_size, "SQLite online backup")


def pg_dump_command(url: URL, path: Path) -> list[str]:
    """The pg_dump call that writes a custom-format dump of ``url`` to ``path``."""
    plain = URL.create("postgresql", username=url.username, host=url.host, port=url.port,
                       database=url.database, query=url.query)  # no password: see PGPASSWORD
    return ["pg_dump", "--format=custom", "--no-owner", "--file", str(path),
            "--dbname", plain.render_as_string(hide_password=False)]


def _pg_dump(url: URL, path: Path) -> BackupResult:
    shown = shlex.join(pg_dump_command(url, path))
    if shutil.which("pg_dump") is None:
        raise TrackerError(f"pg_dump is not installed; run: {shown}"
                           + (" (with PGPASSWORD set)" if url.password else ""))
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    with staged_path(path, directory=False) as staging:
        result = subprocess.run(
            pg_dump_command(url, staging), env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no message"])[-1]
            raise TrackerError(f"pg_dump failed: {last}")
    return BackupResult(path, path.stat().st_size, "pg_dump --format=custom")
