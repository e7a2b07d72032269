"""Benchmark of storage: bytes used by 100 versions of one article, each 1–3 paragraphs edited,
and by a corpus of many articles with fewer versions each.

Run ``.venv/bin/python benchmarks/bench_storage.py`` (options: ``--versions`` (100),
``--corpus ARTICLESxVERSIONS`` (50x20; ``0x0`` leaves it out), ``--skip-postgres``,
``--postgres-url`` (postgresql://postgres@127.0.0.1:5432/postgres, used to create and drop its
own databases), ``--no-docs``, ``--before DIR``: a source tree of tracker, e.g. ``git archive
COMMIT | tar -x -C DIR``, measured first by this very script run with DIR first on PYTHONPATH
(so both trees store the same versions through their own code), for tables of growth before and
after). It prints markdown tables and writes them to its section of docs/benchmarks.md.

The single article is dominated by page floors: each table and index grows by whole pages
(SQLite 4 KiB, PostgreSQL 8 KiB), so the first version of a table costs a page however small
its rows. The corpus measures what a stored version costs once those floors are shared: article
k's version 1 is the fixture with a few words of every paragraph (and of the headline) replaced
(seed + k), so no two articles share their text but for the short lines (photo credits) real
sites share too; its next versions are edited as the single article's are. Every version of
every article is stored through ``check_article``, a pass over all articles per version
number.

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
- paragraph storage: bytes of paragraph text (UTF-8), of the paragraphs stored as edits or
  deflated (``db.edits``: script or deflated text, 8 bytes of base id), plus the versions'
  paragraph reference lists (``db.refs``);
- both divided by the UTF-8 bytes of the article's distinct paragraphs (the union over all
  versions of the extracted paragraphs, what a perfect deduplicating store must keep).
  Target: database growth < 1.5× with raw bodies off.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
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


def make_versions(count: int, seed: int, *, distinct: bool = False) -> list[list[str]]:
    """Version 1 is the fixture (``distinct``: with a few words of its headline and of every
    paragraph replaced); every next one edits a few words in 1–3 paragraphs."""
    rng = random.Random(seed)
    first = read_lines(SOURCE)
    vocabulary = sorted({w for line in first for w in line.split() if w.isalpha()})
    editable = [i for i, line in enumerate(first)
                if i > 0 and not is_credit(line) and len(line.split()) >= 6]  # fmt: skip
    if distinct:
        first = [_edit_words(line, vocabulary, rng) if i in editable or i == 0 else line
                 for i, line in enumerate(first)]  # fmt: skip
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
    "paragraphs": ("kind", "text", "base_id", "delta"),
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
class Corpus:
    """What is stored: articles (slug, story directory) with ``versions`` versions each."""

    label: str  # "1 article" or "50 × 20"
    articles: list[tuple[str, str]]
    versions: int
    texts: list[list[list[str]]]  # per article, per version, its lines


@dataclass(frozen=True, slots=True)
class Measurement:
    backend: str
    corpus: str
    keep_bodies_days: int
    versions: int
    paragraph_rows: int
    growth: int
    marginal: int  # growth from the end of the first pass (every version 1) to the last
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
    corpus: Corpus,
    after_first: Callable[[], None],
) -> int:
    """Check every article once per version number, the server moving each to that version
    first; the number of versions stored. ``after_first`` runs after the pass over every
    version 1, with the database closed."""
    with tracker_app(url, keep_bodies_days) as app:
        urls = [server.add_article(slug, 1, story=story) for slug, story in corpus.articles]
        add_articles(app, urls)
        with session_scope(app.reader) as session:
            ids = [row.id for row in map(partial(queries.article_by_url, session), urls) if row]
        assert len(ids) == len(urls)
        outcomes: Counter[str] = Counter()
        for number in range(1, corpus.versions + 1):
            for (slug, _), article_id in zip(corpus.articles, ids, strict=True):
                server.set_version(slug, number)
                outcome = check_article(app, article_id).outcome
                outcomes[outcome if number > 1 else f"v1 {outcome}"] += 1
            if number == 1:
                app.engine.dispose()  # reconnects on next use
                after_first()
        if set(outcomes) != {"v1 first_seen", "changed"}:
            print(f"warning: outcomes {dict(outcomes)}", file=sys.stderr)
        with session_scope(app.reader) as session:
            return queries.count_rows(session, Version)


def measure(backend: Backend, server: ArticleServer, keep_bodies_days: int,
            corpus: Corpus) -> Measurement:  # fmt: skip
    # a name per corpus too: a process migrates a database URL once
    label = f"{keep_bodies_days}_{len(corpus.articles)}"
    empty_url, url = backend.create(f"empty{label}"), backend.create(f"story{label}")
    try:
        with tracker_app(empty_url, keep_bodies_days) as app:
            assert app.engine is not None  # creating the engine migrates the database
        empty = backend.sizes(empty_url)
        first: dict[str, int] = {}
        stored = store_versions(server, url, keep_bodies_days, corpus,
                                lambda: first.update(backend.sizes(url)))  # fmt: skip
        sizes = backend.sizes(url)
        text = backend.text_bytes.format("text")
        paragraph_bytes = backend.scalar(
            url, f"SELECT coalesce(sum({text}), 0) FROM paragraphs"
        ) + backend.scalar(url, "SELECT coalesce(sum(length(paragraph_refs)), 0) FROM versions")
        paragraph_bytes += edit_bytes(backend, url)
        rows = backend.scalar(url, "SELECT count(*) FROM paragraphs")
        by_column = column_bytes(backend, url)
    finally:
        backend.drop(url)
        backend.drop(empty_url)
    by_table = {name: sizes[name] - empty.get(name, 0) for name in sizes}
    growth = sum(sizes.values()) - sum(empty.values())
    marginal = sum(sizes.values()) - sum(first.values())
    return Measurement(backend.name, corpus.label, keep_bodies_days, stored, rows, growth,
                       marginal, paragraph_bytes, by_table, by_column)  # fmt: skip


def edit_bytes(backend: Backend, url: str) -> int:
    """Bytes of the paragraphs stored as edits or deflated (``db.edits``: the script or the
    deflated text, and 8 for an edit's base id); 0 for a schema without them."""
    try:
        return backend.scalar(url, "SELECT coalesce(sum(length(delta)), 0) + 8 * count(base_id) "
                                   "FROM paragraphs")  # fmt: skip
    except Exception:
        return 0


def distinct_paragraphs(versions: list[list[str]]) -> set[str]:
    """The distinct paragraphs over ``versions``, as tracker stores them: normalised, without
    the headline (it is the title)."""
    distinct = {normalize_text(line) for lines in versions for line in lines[1:]}
    distinct.discard("")
    return distinct


def utf8_bytes(paragraphs: set[str]) -> int:
    return sum(len(p.encode()) for p in paragraphs)


@dataclass(frozen=True, slots=True)
class Reference:
    """The corpus's distinct paragraphs: all of them, and those new after version 1."""

    count: int
    total: int  # UTF-8 bytes
    added: int

    @classmethod
    def of(cls, corpus: Corpus) -> Reference:
        everything = set().union(*(distinct_paragraphs(texts) for texts in corpus.texts))
        firsts = set().union(*(distinct_paragraphs(texts[:1]) for texts in corpus.texts))
        return cls(len(everything), utf8_bytes(everything), utf8_bytes(everything - firsts))


def bodies(m: Measurement) -> str:
    return "kept (90 days)" if m.keep_bodies_days else "off"


def report(results: list[Measurement], corpora: list[Corpus], args: argparse.Namespace) -> str:
    sections = []
    for corpus in corpora:
        found = [m for m in results if m.corpus == corpus.label]
        before = [m for m in args.before_results if m.corpus == corpus.label]
        sections.append(corpus_report(corpus, found, before, args))
    return "\n\n".join([*sections, "Machine:", bullet_list(machine_info())]) + "\n"


def corpus_report(corpus: Corpus, results: list[Measurement], before: list[Measurement],
                  args: argparse.Namespace) -> str:  # fmt: skip
    reference = Reference.of(corpus)
    rows = []
    for m in results:
        growth, paragraphs = m.growth / reference.total, m.paragraph_bytes / reference.total
        verdict = "—"
        if m.keep_bodies_days == 0:
            verdict = ", ".join(f"{name} {'met' if value <= 1.5 else '**not met**'}"
                                for name, value in (("growth", growth),
                                                    ("paragraphs", paragraphs)))  # fmt: skip
        rows.append((m.backend, bodies(m), m.versions, m.paragraph_rows, f"{m.growth:,}",
                     f"{growth:.2f} ×", f"{m.growth / m.versions:,.0f}",
                     f"{m.marginal / reference.added:.2f} ×", f"{m.paragraph_bytes:,}",
                     f"{paragraphs:.2f} ×", verdict))  # fmt: skip
    headers = ("database", "raw bodies", "versions", "paragraph rows", "growth bytes",
               "growth ÷ distinct", "growth bytes per version",
               "growth after pass 1 ÷ the new paragraphs", "paragraph storage bytes",
               "paragraph storage ÷ distinct", "target ≤ 1.5× (bodies off)")  # fmt: skip
    columns = [f"{m.backend}, bodies {'kept' if m.keep_bodies_days else 'off'}" for m in results]
    count = len(corpus.articles)
    what = ("one article: tests/fixtures/story_de/v4.txt, each next version with 1–3 paragraphs "
            "edited by a few words" if count == 1 else
            f"{count} articles, each the fixture story with a few words of its headline and of "
            "every paragraph replaced, each next version with 1–3 paragraphs edited by a few "
            "words")  # fmt: skip
    return "\n\n".join([
        f"## Storage of {corpus.label} ({corpus.versions} versions of {count} "
        f"article{'s' if count > 1 else ''})",
        f"Command: `{command_line()}`. {what} (seed {args.seed}), stored through "
        f"`check_article`, a pass over every article per version number. The distinct "
        f"paragraphs: {reference.count:,} paragraphs, {reference.total:,} bytes (UTF-8), of "
        f"which {reference.added:,} bytes are new after the versions 1. Growth is the database "
        "size after VACUUM (PostgreSQL: VACUUM FULL, the sum of each table's and index's "
        "size) minus an empty migrated database's; the column after it compares the growth "
        "after the first pass with the bytes of the paragraphs the later versions added (it "
        "leaves out the first page of each table and index, which dominates one article, "
        "most of all on PostgreSQL with 8 KiB pages and a page per index). Paragraph storage "
        "is the paragraph text bytes (as text, as an edit's script and base id, or deflated: "
        "db.edits) plus the versions' paragraph reference lists.",
        table(headers, rows),
        "Growth by table and by index (bytes; a table's row is its own pages, TOAST included; "
        "its indexes follow it as \"table · index\"; what did not grow is left out):",
        breakdown(results, columns),
        "Bytes of the values of a few columns, before the row and page overhead (SQLite: text "
        "as UTF-8; PostgreSQL: `pg_column_size`, after its compression of long values):",
        table(("column", *columns),
              [(name, *(f"{m.by_column.get(name, 0):,}" for m in results))
               for name in sorted({n for m in results for n in m.by_column})]),
        *before_tables(results, before, args, reference),
    ])  # fmt: skip


def breakdown(results: list[Measurement], columns: list[str]) -> str:
    tables = sorted({name for m in results for name, size in m.by_table.items() if size})
    return table(("table", *columns),
                 [(name, *(f"{m.by_table.get(name, 0):,}" for m in results))
                  for name in tables])  # fmt: skip


def before_tables(results: list[Measurement], before: list[Measurement],
                  args: argparse.Namespace, reference: Reference) -> list[str]:  # fmt: skip
    """The growth of ``--before``'s tree against this one's, when it was given: in all, and
    by table with raw bodies off."""
    was = {(m.backend, m.keep_bodies_days): m for m in before}
    pairs = [(was[m.backend, m.keep_bodies_days], m) for m in results
             if (m.backend, m.keep_bodies_days) in was]  # fmt: skip
    if not pairs:
        return []
    rows = [(m.backend, bodies(m), f"{b.growth:,}", f"{b.growth / reference.total:.2f} ×",
             f"{b.growth / b.versions:,.0f}", f"{m.growth:,}",
             f"{m.growth / reference.total:.2f} ×", f"{m.growth / m.versions:,.0f}",
             f"{m.growth / b.growth:.2f} ×") for b, m in pairs]  # fmt: skip
    off = [(b, m) for b, m in pairs if m.keep_bodies_days == 0]
    tables = sorted({n for b, m in off for n in (*b.by_table, *m.by_table)
                     if b.by_table.get(n) or m.by_table.get(n)})  # fmt: skip
    by_table = [(name, *(f"{b.by_table.get(name, 0):,} → {m.by_table.get(name, 0):,}"
                         for b, m in off)) for name in tables]  # fmt: skip
    return [
        f"Against `--before {args.before}` (measured by this script in the same run, that "
        "tree's code storing the same versions):",
        table(("database", "raw bodies", "growth before", "÷ distinct", "per version",
               "growth after", "÷ distinct", "per version", "after ÷ before"), rows),
        "By table, raw bodies off (bytes, before → after):",
        table(("table", *(m.backend for _, m in off)), by_table),
    ]


def run_before(tree: Path, args: argparse.Namespace) -> list[Measurement]:
    """The measurements of the source tree ``tree`` (e.g. ``git archive COMMIT | tar -x -C
    DIR``): this script run with ``tree`` first on PYTHONPATH, so its code stores the
    versions."""
    with tempfile.TemporaryDirectory(prefix="bench_storage-before-") as workdir:
        found = Path(workdir) / "before.json"
        command = [sys.executable, __file__, "--no-docs", "--versions", str(args.versions),
                   "--corpus", args.corpus, "--seed", str(args.seed),
                   "--postgres-url", args.postgres_url, "--json", str(found)]  # fmt: skip
        if args.skip_postgres:
            command.append("--skip-postgres")
        env = {**os.environ, "PYTHONPATH": str(tree)}
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, timeout=1800)
        return [Measurement(**item) for item in json.loads(found.read_text())]


def make_corpora(args: argparse.Namespace) -> list[Corpus]:
    single = Corpus("1 article", [(SLUG, STORY)], args.versions,
                    [make_versions(args.versions, args.seed)])  # fmt: skip
    articles, versions = (int(n) for n in args.corpus.lower().split("x"))
    if not articles or not versions:
        return [single]
    names = [f"corpus-{k}" for k in range(articles)]
    texts = [make_versions(versions, args.seed + 1 + k, distinct=True) for k in range(articles)]
    return [single, Corpus(f"{articles} × {versions}", [(n, n) for n in names], versions, texts)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--corpus", default="50x20", help="ARTICLESxVERSIONS (0x0: none)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    parser.add_argument("--before", type=Path,
                        help="a source tree of tracker to measure too, for a before/after table")
    args = parser.parse_args(argv)
    args.before_results = run_before(args.before.resolve(), args) if args.before else []
    for name in [k for k in os.environ if k.startswith("TRACKER_")]:
        del os.environ[name]  # the user's settings must not leak into the measurement
    corpora = make_corpora(args)
    with tempfile.TemporaryDirectory(prefix="bench_storage-") as workdir:
        directory = Path(workdir)
        os.environ["TRACKER_CONFIG"] = str(directory / "no-config.toml")
        for corpus in corpora:
            for (_, story), texts in zip(corpus.articles, corpus.texts, strict=True):
                write_story(directory / "stories" / story, texts)
        backends: list[Backend] = [SQLite(directory)]
        if not args.skip_postgres:
            backends.append(Postgres(args.postgres_url))
        results = []
        with ArticleServer(directory / "stories") as server:
            for corpus in corpora:
                for backend in backends:
                    # the corpus is measured with raw bodies off only: the target's setting
                    for keep in (0, 90) if len(corpus.articles) == 1 else (0,):
                        results.append(measure(backend, server, keep, corpus))
                        print(f"  {corpus.label}, {backend.name} bodies {keep}: "
                              f"{results[-1].growth:,} bytes", file=sys.stderr)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps([asdict(m) for m in results]))
    text = report(results, corpora, args)
    print(text)
    if not args.no_docs:
        write_section("bench_storage", text)


def write_story(directory: Path, versions: list[list[str]]) -> None:
    directory.mkdir(parents=True)
    for number, lines in enumerate(versions, 1):
        (directory / f"v{number}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
