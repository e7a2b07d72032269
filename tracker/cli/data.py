"""The database itself: migrate, and the evidence: export, backup, import."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tracker.cli.common import (
    call,
    cli,
    open_app,
)

if TYPE_CHECKING:
    pass


@cli.command()
def migrate() -> None:
    """Create the database, or upgrade its schema (done on first use too).

    The only command that creates a new SQLite file given with --db or TRACKER_DATABASE_URL;
    the default database (~/.local/share/tracker/tracker.db) is created by any command."""
    from db.session import HEAD_REVISION, current_revision, make_engine, upgrade

    def migrate_database(url: str) -> str | None:
        engine = make_engine(url, create=True)  # the one command that makes a new database
        try:
            before = current_revision(engine)
            upgrade(engine)
        finally:
            engine.dispose()
        return before

    before = call(migrate_database, open_app().settings.resolved_database_url)
    typer.echo(f"schema at revision {HEAD_REVISION} (was {before or 'empty'})")





class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"
    warc = "warc"


@cli.command()
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="A new directory (jsonl, csv, "
                                         "parquet) or a new FILE.warc.gz (warc).")],
    format: Annotated[ExportFormat, typer.Option("--format", "-f")] = ExportFormat.jsonl,
    since: Annotated[str | None, typer.Option(help="Only versions fetched since: a duration "
                                              "(7d) or an ISO time.")] = None,
    article: Annotated[list[str] | None, typer.Option(help="Only this article (repeatable).")] =
        None,
    tag: Annotated[list[str] | None, typer.Option(help="Only articles with this tag "
                                                  "(repeatable: any of them).")] = None,
) -> None:
    """Export versions and changes as a dataset, or the kept raw responses as a WARC file."""
    from tracker.articles import parse_since
    from tracker.clock import display_zone
    from tracker.export import select

    tracker_app = open_app()
    start = call(parse_since, since, zone=display_zone()) if since else None
    selection = call(select, tracker_app, article or [], tag or [], start)
    if format is ExportFormat.warc:
        from tracker.export.warc import export_warc

        result = call(export_warc, tracker_app, output, selection)
        for line in result.skipped_lines():
            typer.echo(line, err=True)
        if result.skipped:
            typer.echo(f"skipped {len(result.skipped)} version(s): raw body not kept or "
                       "unreadable (see keep_bodies_days)", err=True)
        typer.echo(f"wrote {result.responses} version(s) as {result.records} record(s) to "
                   f"{output}")
        return
    from tracker.export import export_dataset

    summary = call(export_dataset, tracker_app, output, format.value, selection)
    counts = ", ".join(f"{n} {name}" for name, n in summary.counts.items())
    typer.echo(f"wrote {counts} to {output}")


@cli.command()
def backup(
    path: Annotated[Path, typer.Argument(help="A new file: the copy (SQLite) or the dump "
                                         "(PostgreSQL).")],
) -> None:
    """Copy the live database consistently (SQLite online backup; pg_dump for PostgreSQL)."""
    from tracker.export.backup import backup as copy_database

    result = call(copy_database, open_app(), path)
    typer.echo(f"backed up to {result.path} ({result.size:,} bytes, {result.how})")


@cli.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="A directory written by tracker export "
                                         "--format jsonl.")],
) -> None:
    """Load a JSONL export into an empty database (another machine, SQLite ↔ PostgreSQL); a
    new SQLite file named by --db is created."""
    from tracker.export.importer import import_dataset

    summary = call(import_dataset, open_app(create=True), path)
    typer.echo(f"imported {summary.articles} article(s), {summary.versions} version(s), "
               f"{summary.paragraphs} distinct paragraph(s)")
