"""Benchmark of storage: bytes used by 100 versions of one article, each 1–3 paragraphs edited.

Run ``.venv/bin/python benchmarks/bench_storage.py`` (options: ``--versions`` (100),
``--skip-postgres``, ``--postgres-url`` (postgresql://postgres@127.0.0.1:5432/postgres, used
to create and drop its own databases), ``--no-docs``, ``--before DIR``: a source tree of tracker,
e.g. ``git archive COMMIT | tar -x -C DIR``, whose own bench_storage.py runs first, with DIR
on PYTHONPATH, for a table of growth before and after). It prints markdown tables and writes
them to its section of docs/benchmarks.md.

Version 1 is tests/fixtures/story_de/v4.txt; each next version edits 1–3 random paragraphs
(seeded; not the headline, not photo credits) by replacing 1–3 of their words with other words
of the story. The versions are served as article pages by ``tests.articleserver.ArticleServer``
in a thread of this process (nothing is timed here, so sharing the GIL does not matter), and
stored through the real use case: ``tracker.check.check_article`` with an ``App`` on a fresh
database, once per version, each check finding a change.

Reported per database and raw-body setting (``keep_bodies_days`` 0: no raw bodies; 90: the
default, zlib-compressed raw bodies kept, for information):

- database growth: SQLite file size after ``VACUUM`` minus that of an empty migrated database
  (same for PostgreSQL: the sum of ``pg_total_relation_size`` over the tables, after
  ``VACUUM FULL``, minus an empty migrated database's);
- paragraph storage: bytes of paragraph text (UTF-8) plus the versions' paragraph reference
  lists (``db.refs``);
- both divided by the UTF-8 bytes of the article's distinct paragraphs (the union over all
  versions of the extracted paragraphs, what a perfect deduplicating store must keep).
  Target: database growth < 1.5× with raw bodies off.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harness import ROOT, bullet_list, command_line, machine_info, table, write_section

from db import queries
from db.models import Version
from db.session import session_scope
from tracker.app import App
from tracker.articles import add_articles
from tracker.check import check_article
from tracker.config import load_settings
from tracker.normalize import normalize_text

sys.path.insert(0, str(ROOT))
from tests.articleserver import ArticleServer, is_credit, read_lines

SEED = 20240619
SOURCE = ROOT / "tests" / "fixtures" / "story_de" / "v4.txt"
SLUG = "developing-story"
STORY = "story_bench"


def make_versions(count: int, seed: int) -> list[list[str]]:
    """Version 1 is the fixture; every next one edits a few words in 1–3 paragraphs."""
    rng = random.Random(seed)
    first = read_lines(SOURCE)
    vocabulary = sorted({w for line in first for w in line.split() if w.isalpha()})
    editable = [i for i, line in enumerate(first)
                if i > 0 and not is_credit(line) and len(line.split()) >= 6]  # fmt: skip
    versions = [first]
    for _ in range(count - 1):
        lines = list(versions[-1])
        for index in rng.sample(editable, rng.randint(1, 3)):
            lines[index] = _edit_words(lines[index], vocabulary, rng)
        versions.append(lines)
    return versions


def _edit_words(line: str, vocabulary: list[str], rng: random.Random) -> str:
    spans = [m.span() for m in re.finditer(r"\S+", line)]
    for start, end in sorted(rng.sample(spans, rng.randint(1, 3)), reverse=True):
        word = line[start:end]
        replacement = rng.choice([w for w in vocabulary if w != word])
        line = line[:start] + replacement + line[end:]
    return line


class Backend(Protocol):
    name: str
    text_bytes: str  # SQL: UTF-8 bytes of a text column {}
    value_bytes: str  # SQL: bytes of any column's value {} as stored

    def create(self, label: str) -> str: ...

    def sizes(self, url: str) -> dict[str, int]: ...

    def scalar(self, url: str, sql: str) -> int: ...

    def drop(self, url: str) -> None: ...


class SQLite:
    name = "SQLite"
    text_bytes = "length(CAST({} AS BLOB))"  # length() of TEXT counts characters
    value_bytes = text_bytes

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def create(self, label: str) -> str:
        return f"sqlite:///{self.directory / f'{label}.db'}"

    def _path(self, url: str) -> str:
        return url.removeprefix("sqlite:///")

    def sizes(self, url: str) -> dict[str, int]:
        """Bytes per table and per index ("table · index") after a checkpoint and VACUUM."""
        with sqlite3.connect(self._path(url)) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db = sqlite3.connect(self._path(url), isolation_level=None)
        try:
            db.execute("VACUUM")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            rows = db.execute(
                "SELECT CASE WHEN m.type = 'index' THEN m.tbl_name || ' · ' || s.name "
                "ELSE coalesce(m.tbl_name, s.name) END, sum(s.pgsize) FROM dbstat s "
                "LEFT JOIN sqlite_master m ON m.name = s.name GROUP BY 1"
            ).fetchall()
        finally:
            db.close()
        sizes = {name: int(size) for name, size in rows}
        # dbstat leaves out the file header page and free pages; the file is what a user pays
        file_size = os.path.getsize(self._path(url))
        sizes["(file header, free pages)"] = file_size - sum(sizes.values())
        return sizes

    def scalar(self, url: str, sql: str) -> int:
        with sqlite3.connect(self._path(url)) as db:
            return int(db.execute(sql).fetchone()[0])

    def drop(self, url: str) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(self._path(url) + suffix).unlink(missing_ok=True)


class Postgres:
    name = "PostgreSQL"
    text_bytes = "octet_length({})"
    value_bytes = "pg_column_size({})"  # after its own compression of long values

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def _connect(self, url: str, **options: object):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(url, **options)

    def create(self, label: str) -> str:
        name = f"tracker_bench_{label}_{os.getpid()}"
        with self._connect(self.admin_url, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}"')
            db.execute(f'CREATE DATABASE "{name}"')
        return self.admin_url.rsplit("/", 1)[0] + f"/{name}"

    def sizes(self, url: str) -> dict[str, int]:
        with self._connect(url, autocommit=True) as db:
            tables = [row[0] for row in db.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]  # fmt: skip
            for name in tables:
                db.execute(f'VACUUM FULL "{name}"')
            # pg_table_size: the heap with its TOAST, free space and visibility maps
            sizes = {name: int(db.execute("SELECT pg_table_size(%s)",
                                          (f'public."{name}"',)).fetchone()[0])  # type: ignore[index]
                     for name in tables}  # fmt: skip
            for table_name, index_name, size in db.execute(
                "SELECT tablename, indexname, pg_relation_size(format('%I.%I', schemaname, "
                "indexname)::regclass) FROM pg_indexes WHERE schemaname = 'public'"
            ):
                sizes[f"{table_name} · {index_name}"] = int(size)
            return sizes

    def scalar(self, url: str, sql: str) -> int:
        with self._connect(url) as db:
            return int(db.execute(sql).fetchone()[0])  # type: ignore[index]

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self._connect(self.admin_url, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# The text and binary columns whose bytes the report shows (what a version costs, per column).
MEASURED_COLUMNS = {
    # The metadata: on versions before migration 0011_meta, in version_meta since (a column
    # the schema lacks is left out).
    "version_meta": ("title", "byline", "published", "language", "canonical_url", "lead_image",
                     "lead_caption", "extractor"),
    "versions": ("content_hash", "title", "byline", "published", "updated", "language",
                 "canonical_url", "lead_image", "lead_caption", "extractor", "paragraph_refs",
                 "extraction_path", "meta_id"),
    "version_diffs": ("summary", "data"),
    "events": ("uid", "type", "data"),
    "paragraphs": ("kind", "text"),
}


def column_bytes(backend: Backend, url: str) -> dict[str, int]:
    """Bytes of the values of each of ``MEASURED_COLUMNS`` the schema has."""
    found = {}
    for name, columns in MEASURED_COLUMNS.items():
        for column in columns:
            sql = f"SELECT coalesce(sum({backend.value_bytes.format(column)}), 0) FROM {name}"
            try:
                found[f"{name}.{column}"] = backend.scalar(url, sql)
            except Exception:
                continue
    return found


@dataclass(frozen=True, slots=True)
class Measurement:
    backend: str
    keep_bodies_days: int
    versions: int
    paragraph_rows: int
    growth: int
    marginal: int  # growth from version 1 to the last
    paragraph_bytes: int
    by_table: dict[str, int]
    by_column: dict[str, int]  # "table.column": bytes of its values (text as UTF-8)


@contextmanager
def tracker_app(url: str, keep_bodies_days: int) -> Iterator[App]:
    # per_host_rate=0: every version comes from the one local host, as fast as it can.
    settings = load_settings(database_url=url, allow_networks="127.0.0.0/8", allowed_ports="*",
                             keep_bodies_days=keep_bodies_days, per_host_rate=0)  # fmt: skip
    app = App(settings)
    try:
        yield app
    finally:
        app.close()
        app.engine.dispose()  # closes the pooled connections, so VACUUM/DROP can run


def store_versions(
    server: ArticleServer,
    url: str,
    keep_bodies_days: int,
    count: int,
    after_first: Callable[[], None],
) -> int:
    """Check the article once per version, the server moving to the next version in between;
    the number of versions stored. ``after_first`` runs after version 1, with the database
    closed."""
    with tracker_app(url, keep_bodies_days) as app:
        article_url = server.add_article(SLUG, 1, story=STORY)
        add_articles(app, [article_url])
        with session_scope(app.reader) as session:
            row = queries.article_by_url(session, article_url)
            assert row is not None
            article_id = row.id
        outcomes = []
        for number in range(1, count + 1):
            server.set_version(SLUG, number)
            outcomes.append(check_article(app, article_id).outcome)
            if number == 1:
                app.engine.dispose()  # reconnects on next use
                after_first()
        unexpected = [o for o in outcomes[1:] if o != "changed"]
        if outcomes[0] != "first_seen" or unexpected:
            print(f"warning: outcomes {outcomes[0]}, then {set(outcomes[1:])}", file=sys.stderr)
        with session_scope(app.reader) as session:
            return int(queries.count_rows(session, Version, Version.article_id == article_id))


def measure(backend: Backend, server: ArticleServer, keep_bodies_days: int,
            count: int) -> Measurement:  # fmt: skip
    empty_url = backend.create(f"empty{keep_bodies_days}")
    url = backend.create(f"story{keep_bodies_days}")
    try:
        with tracker_app(empty_url, keep_bodies_days) as app:
            assert app.engine is not None  # creating the engine migrates the database
        empty = backend.sizes(empty_url)
        first: dict[str, int] = {}
        stored = store_versions(server, url, keep_bodies_days, count,
                                lambda: first.update(backend.sizes(url)))  # fmt: skip
        sizes = backend.sizes(url)
        text = backend.text_bytes.format("text")
        paragraph_bytes = backend.scalar(
            url, f"SELECT coalesce(sum({text}), 0) FROM paragraphs"
        ) + backend.scalar(url, "SELECT coalesce(sum(length(paragraph_refs)), 0) FROM versions")
        rows = backend.scalar(url, "SELECT count(*) FROM paragraphs")
        by_column = column_bytes(backend, url)
    finally:
        backend.drop(url)
        backend.drop(empty_url)
    by_table = {name: sizes[name] - empty.get(name, 0) for name in sizes}
    growth = sum(sizes.values()) - sum(empty.values())
    marginal = sum(sizes.values()) - sum(first.values())
    return Measurement(backend.name, keep_bodies_days, stored, rows, growth, marginal,
                       paragraph_bytes, by_table, by_column)  # fmt: skip


def distinct_paragraphs(versions: list[list[str]]) -> set[str]:
    """The distinct paragraphs over ``versions``, as tracker stores them: normalised, without
    the headline (it is the title)."""
    distinct = {normalize_text(line) for lines in versions for line in lines[1:]}
    distinct.discard("")
    return distinct


def utf8_bytes(paragraphs: set[str]) -> int:
    return sum(len(p.encode()) for p in paragraphs)


def report(results: list[Measurement], versions: list[list[str]], args: argparse.Namespace) -> str:
    distinct = distinct_paragraphs(versions)
    reference = utf8_bytes(distinct)
    added = utf8_bytes(distinct - distinct_paragraphs(versions[:1]))
    rows = []
    for m in results:
        growth, paragraphs = m.growth / reference, m.paragraph_bytes / reference
        verdict = "—"
        if m.keep_bodies_days == 0:
            verdict = ", ".join(f"{name} {'met' if value < 1.5 else '**not met**'}"
                                for name, value in (("growth", growth),
                                                    ("paragraphs", paragraphs)))  # fmt: skip
        rows.append((m.backend, "kept (90 days)" if m.keep_bodies_days else "off", m.versions,
                     m.paragraph_rows, f"{m.growth:,}", f"{growth:.2f} ×",
                     f"{m.marginal / added:.2f} ×", f"{m.paragraph_bytes:,}",
                     f"{paragraphs:.2f} ×", verdict))  # fmt: skip
    headers = ("database", "raw bodies", "versions", "paragraph rows", "growth bytes",
               "growth ÷ distinct", f"v2…v{len(versions)} growth ÷ their new paragraphs",
               "paragraph storage bytes", "paragraph storage ÷ distinct",
               "target < 1.5× (bodies off)")  # fmt: skip
    tables = sorted({name for m in results for name, size in m.by_table.items() if size})
    columns = [f"{m.backend}, bodies {'kept' if m.keep_bodies_days else 'off'}" for m in results]
    breakdown = table(("table", *columns),
                      [(name, *(f"{m.by_table.get(name, 0):,}" for m in results))
                       for name in tables])  # fmt: skip
    return "\n\n".join([
        f"## Storage of {len(versions)} versions of one article",
        f"Command: `{command_line()}`. {len(versions)} versions of "
        "tests/fixtures/story_de/v4.txt, each next one with 1–3 paragraphs edited by a few "
        f"words (seed {args.seed}), stored through `check_article`. The article's distinct "
        f"paragraphs: {len(distinct)} paragraphs, {reference:,} bytes (UTF-8), of which "
        f"{added:,} bytes are new in versions 2…{len(versions)}. Growth is the database size "
        "after VACUUM (PostgreSQL: VACUUM FULL, sum of pg_total_relation_size) minus an "
        "empty migrated database's; the marginal column compares the growth from version 1 to "
        "the last with the bytes of the paragraphs those versions added (it leaves out the "
        "first page of each table and index, which dominates at this small size, most of all "
        "on PostgreSQL with 8 KiB pages and a page per index). Paragraph storage is the "
        "paragraph text bytes plus the versions' paragraph reference lists.",
        table(headers, rows),
        "Growth by table and by index (bytes; a table's row is its own pages, TOAST included; "
        "its indexes follow it as \"table · index\"; what did not grow is left out):",
        breakdown,
        "Bytes of the values of a few columns, before the row and page overhead (SQLite: text "
        "as UTF-8; PostgreSQL: `pg_column_size`, after its compression of long values):",
        table(("column", *columns),
              [(name, *(f"{m.by_column.get(name, 0):,}" for m in results))
               for name in sorted({n for m in results for n in m.by_column})]),
        *before_table(results, args, reference),
        "Machine:",
        bullet_list(machine_info()),
    ]) + "\n"  # fmt: skip


def before_table(results: list[Measurement], args: argparse.Namespace,
                 reference: int) -> list[str]:  # fmt: skip
    """The growth of ``--before``'s tree against this one's, when it was given."""
    before: dict[tuple[str, str], int] = args.before_growth
    if not before:
        return []
    rows = []
    for m in results:
        bodies = "kept (90 days)" if m.keep_bodies_days else "off"
        if (was := before.get((m.backend, bodies))) is not None:
            rows.append((m.backend, bodies, f"{was:,}", f"{was / reference:.2f} ×",
                         f"{m.growth:,}", f"{m.growth / reference:.2f} ×",
                         f"{m.growth / was:.2f} ×"))  # fmt: skip
    return [
        f"Against `--before {args.before}` (its own bench_storage.py, same versions):",
        table(("database", "raw bodies", "growth before", "÷ distinct", "growth after",
               "÷ distinct", "after ÷ before"), rows),
    ]


def run_before(tree: Path, args: argparse.Namespace) -> dict[tuple[str, str], int]:
    """Growth bytes per (database, raw bodies) of the bench_storage.py in ``tree`` (a source
    tree of tracker, e.g. ``git archive COMMIT | tar -x -C DIR``), run with this venv."""
    command = [sys.executable, str(tree / "benchmarks" / "bench_storage.py"), "--no-docs",
               "--versions", str(args.versions), "--seed", str(args.seed),
               "--postgres-url", args.postgres_url]  # fmt: skip
    if args.skip_postgres:
        command.append("--skip-postgres")
    env = {**os.environ, "PYTHONPATH": str(tree)}
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True,
                            timeout=600).stdout  # fmt: skip
    found = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) > 4 and cells[0] in ("SQLite", "PostgreSQL") and cells[4][:1].isdigit():
            found[(cells[0], cells[1])] = int(cells[4].replace(",", ""))
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    parser.add_argument("--before", type=Path,
                        help="a source tree of tracker to measure too, for a before/after table")
    args = parser.parse_args(argv)
    args.before_growth = {}
    if args.before:
        args.before_growth = run_before(args.before.resolve(), args)
    for name in [k for k in os.environ if k.startswith("TRACKER_")]:
        del os.environ[name]  # the user's settings must not leak into the measurement
    versions = make_versions(args.versions, args.seed)
    with tempfile.TemporaryDirectory(prefix="bench_storage-") as workdir:
        directory = Path(workdir)
        os.environ["TRACKER_CONFIG"] = str(directory / "no-config.toml")
        story = directory / "stories" / STORY
        story.mkdir(parents=True)
        for number, lines in enumerate(versions, 1):
            (story / f"v{number}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        backends: list[Backend] = [SQLite(directory)]
        if not args.skip_postgres:
            backends.append(Postgres(args.postgres_url))
        results = []
        with ArticleServer(directory / "stories") as server:
            for backend in backends:
                for keep in (0, 90):
                    results.append(measure(backend, server, keep, args.versions))
                    print(
                        f"  {backend.name} bodies {keep}: {results[-1].growth:,} bytes",
                        file=sys.stderr,
                    )
    text = report(results, versions, args)
    print(text)
    if not args.no_docs:
        write_section("bench_storage", text)


if __name__ == "__main__":
    main()
