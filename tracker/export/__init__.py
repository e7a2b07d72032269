"""Evidence and research: exports of the stored history, web archives, backup and import.

- ``export_dataset``: a directory holding ``articles.*``, ``versions.*`` and ``changes.*`` (JSON
  Lines, CSV or Parquet) and their ``datapackage.json`` (``tracker.export.dataset``, ``.schema``,
  ``.writers``);
- ``tracker.export.warc``: the kept raw responses as a WARC 1.1 file;
- ``tracker.export.backup``: a consistent copy of a live database;
- ``tracker.export.importer``: a JSON Lines export into an empty database.

Use cases over ``db.export_queries``; the output is written to a temporary name beside the
target and renamed into place when complete, so a failed export leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from db import export_queries
from db.session import session_scope
from tracker.app import App
from tracker.errors import TrackerError
from tracker.export.dataset import Selection, rows
from tracker.export.schema import FORMATS, RESOURCES, datapackage_json

__all__ = ["ExportSummary", "Selection", "export_dataset", "select", "staged_path"]


@dataclass(slots=True)
class ExportSummary:
    path: Path
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESOURCES, 0))


def select(
    app: App, urls: Sequence[str] = (), tags: Sequence[str] = (),
    since: dt.datetime | None = None,
) -> Selection:
    """The rows to export: the articles named (by any of their URLs) and tagged (any of
    ``tags``), with the versions fetched since ``since``."""
    from tracker.articles import find_article
    from tracker.identity import clean_url

    ids = None
    if urls:
        with session_scope(app.reader) as session:
            ids = frozenset(find_article(session, clean_url(url)).id for url in urls)
    return Selection(ids, frozenset(tags), since)


def export_dataset(app: App, path: Path, fmt: str, selection: Selection) -> ExportSummary:
    """Write the dataset into the directory ``path`` (new, or empty)."""
    if fmt not in FORMATS:
        raise TrackerError(f"unknown export format {fmt!r} (jsonl, csv, parquet or warc)")
    if fmt == "parquet":
        _require("pyarrow", "Parquet")
    summary = ExportSummary(path)
    with staged_path(path, directory=True) as staging:
        from tracker.export.writers import ResourceWriters

        with ResourceWriters(staging, fmt, RESOURCES) as writers, \
                session_scope(app.reader) as session:
            export_queries.snapshot_isolation(session)
            for resource, row in rows(session, selection):
                writers.write(resource, row)
                summary.counts[resource] += 1
        (staging / "datapackage.json").write_text(datapackage_json(fmt), encoding="utf-8")
    return summary


@contextlib.contextmanager
def staged_path(path: Path, *, directory: bool) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed to it when the block succeeds and removed
    when it fails. ``path`` must not exist (a directory may exist if it is empty)."""
    if path.exists() and not (directory and path.is_dir() and not any(path.iterdir())):
        raise TrackerError(f"{path} exists already: choose a new name (nothing was written)")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise TrackerError(f"{parent} is not a directory")
    if directory:
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=parent))
    else:
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=parent)
        os.close(handle)
        staging = Path(name)
    try:
        yield staging
        _usual_mode(staging)
        staging.replace(path)
    except BaseException:
        if staging.is_dir():
            shutil.rmtree(staging, ignore_errors=True)
        else:
            staging.unlink(missing_ok=True)
        raise


def _usual_mode(path: Path) -> None:
    """Temporary files are private (0600/0700); the result gets the mode of a new file."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


def _require(module: str, what: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise TrackerError(f"{what} needs {module}: pip install 'tracker[export]'")
