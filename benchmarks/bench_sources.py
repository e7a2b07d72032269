"""Benchmark of discovery: one poll that turns 1,000 listed entries into tracked articles.

Run ``.venv/bin/python benchmarks/bench_sources.py`` (options: ``--entries`` (1000),
``--children`` (10, for the sitemap index), ``--skip-postgres``, ``--postgres-url``
(postgresql://postgres@127.0.0.1:5432/postgres, used to create and drop its own database),
``--no-docs``). It prints a markdown table and writes it to its section of docs/benchmarks.md.

The article server runs in its own process (``benchmarks/harness.Site``) with N articles and
two listings of all of them: one RSS feed of N items, and a sitemap index of ``--children``
news sitemaps of N / children entries each. Each case runs in a fresh child process (a fresh
database too), which measures, with ``tracker.polls.poll_source`` called as the scheduler
calls it:

- the discovery poll: fetch, parse, and store N entries, N articles and N article.discovered
  events in one transaction (the sitemap index: the index and its children fetched too);
- of that, the parse alone (``tracker.feeds.parse_listing`` of the bodies fetched, median of 3);
- a second poll with validators (a 304 for the feed; the index is fetched without validators
  and its children are the same bytes: "same bytes");
- a poll after the server stopped sending validators and the source's digest of its last
  bodies was cleared: everything is read and looked up again, and nothing is stored;
- the process's resident set size before the first poll and its peak after all of them
  (``getrusage``), and, in a second child that runs only the discovery poll under
  ``tracemalloc``, the peak of the Python heap during it.

The times are wall-clock seconds on a shared 2-core machine: compare the rows of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from harness import (
    ROOT,
    Site,
    bullet_list,
    clean_env,
    command_line,
    machine_info,
    package_versions,
    run_measured,
    table,
    write_section,
)

HEADERS = ("source", "database", "entries", "discovery poll s", "ms per entry", "of which parse s",
           "second poll ms", "unchanged, re-read s", "RSS before MiB", "peak RSS MiB",
           "Python heap peak MiB")


def child(args: argparse.Namespace) -> None:
    """In a fresh process: poll one source as the scheduler does, print the figures as JSON."""
    sys.path.insert(0, str(ROOT))
    import urllib.request

    from sqlalchemy import func, select, update

    from db.models import Article, Event, Source
    from db.session import session_scope
    from tracker.app import App
    from tracker.config import load_settings
    from tracker.feeds import parse_listing
    from tracker.polls import poll_source
    from tracker.sources import add_source

    # per_host_rate=0: the index and its child sitemaps are all on the one local host.
    app = App(load_settings(database_url=args.db, allow_networks="127.0.0.0/8", allowed_ports="*",
                            max_source_entries=max(5000, args.expect), per_host_rate=0))
    add_source(app, args.source)
    app.fetcher  # noqa: B018 - the HTTP client is made before the clock starts
    with session_scope(app.reader) as session:  # the database is open and migrated
        session.scalar(select(func.count()).select_from(Article))
    before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start()
    started = time.perf_counter()
    first = poll_source(app, 1)
    discover = time.perf_counter() - started
    figures: dict[str, Any] = {"outcome": first.outcome, "discovered": first.discovered,
                               "discover_s": discover, "rss_before_kb": before_kb}
    if args.tracemalloc:
        figures["heap_peak_bytes"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(json.dumps(figures))
        return
    bodies = [app.fetcher.fetch(args.source, kind="listing")]
    if args.children:
        listing = parse_listing(bodies[0].body, url=args.source)
        bodies += [app.fetcher.fetch(url, kind="listing") for url in listing.sitemaps]
    parse_times = []
    for _ in range(3):
        started = time.perf_counter()
        for page in bodies:
            parse_listing(page.body, url=page.url, max_entries=app.settings.max_source_entries)
        parse_times.append(time.perf_counter() - started)
    started = time.perf_counter()
    second = poll_source(app, 1)
    figures |= {"second_s": time.perf_counter() - started, "second_outcome": second.outcome}
    # Re-read everything: no validators from the server, and no digest of the last bodies
    # (sitemaps are byte-stable and would be "the same bytes").
    off = urllib.request.Request(f"{args.site}/_control/conditional?on=0", data=b"",
                                 method="POST")
    urllib.request.urlopen(off, timeout=10).close()
    with session_scope(app.writer) as session:
        session.execute(update(Source).values(body_digest=None, etag=None, last_modified=None))
    started = time.perf_counter()
    third = poll_source(app, 1)
    figures |= {"reread_s": time.perf_counter() - started, "reread_outcome": third.outcome,
                "reread_new": third.new, "parse_s": statistics.median(parse_times)}
    with session_scope(app.reader) as session:
        figures["articles"] = session.scalar(select(func.count()).select_from(Article))
        figures["events"] = session.scalar(select(func.count()).select_from(Event))
    figures["rss_peak_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    app.close()
    print(json.dumps(figures))


def run_case(site: Site, source: str, database: str, *, children: int, expect: int,
             tracemalloc: bool = False) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--db", database,
               "--source", source, "--site", site.base_url, "--children", str(children),
               "--expect", str(expect)]
    if tracemalloc:
        command.append("--tracemalloc")
    with tempfile.TemporaryDirectory() as home:
        usage = run_measured(command, env=clean_env(Path(home)), timeout=600)
    site.control("conditional", on=1)
    return dict(json.loads(usage.stdout.decode().strip().splitlines()[-1]))


class Databases:
    """A fresh SQLite file or PostgreSQL database for every child."""

    def __init__(self, postgres_url: str | None, directory: Path) -> None:
        self.postgres_url = postgres_url
        self.directory = directory
        self.made: list[str] = []

    def fresh(self, kind: str) -> str:
        name = f"bench_sources_{uuid.uuid4().hex[:10]}"
        if kind == "sqlite":
            return f"sqlite:///{self.directory / name}.db"
        assert self.postgres_url is not None
        self._admin(f'CREATE DATABASE "{name}"')
        self.made.append(name)
        return self.postgres_url.rsplit("/", 1)[0] + f"/{name}"

    def drop(self) -> None:
        for name in self.made:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin(self, statement: str) -> None:
        from sqlalchemy import create_engine, text

        assert self.postgres_url is not None
        url = self.postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(statement))
        finally:
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--children", type=int, default=10)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-docs", action="store_true")
    # the child process's own options
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--site", help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    info = machine_info()
    kinds = ["sqlite"] if args.skip_postgres else ["sqlite", "postgres"]
    rows = []
    with Site(args.entries) as site, tempfile.TemporaryDirectory() as scratch:
        databases = Databases(None if args.skip_postgres else args.postgres_url, Path(scratch))
        site.control("listing", name="feed", kind="rss", all=1)
        per_child = -(-args.entries // args.children)
        names = []
        for number in range(args.children):
            part = site.slugs[number * per_child : (number + 1) * per_child]
            names.append(f"part-{number}")
            site.control("listing", name=names[-1], kind="sitemap", slugs=",".join(part))
        site.control("listing", name="index", kind="sitemapindex", slugs=",".join(names))
        cases = [(f"RSS feed of {args.entries} items", f"{site.base_url}/feeds/feed", 0),
                 (f"sitemap index of {args.children} × {per_child}",
                  f"{site.base_url}/feeds/index", args.children)]
        try:
            for label, source, children in cases:
                for kind in kinds:
                    figures = run_case(site, source, databases.fresh(kind), children=children,
                                       expect=args.entries)
                    heap = run_case(site, source, databases.fresh(kind), children=children,
                                    expect=args.entries, tracemalloc=True)
                    check(figures, heap, args.entries)
                    rows.append(row(label, kind, args.entries, figures, heap))
                    print(" | ".join(str(cell) for cell in rows[-1]), flush=True)
        finally:
            databases.drop()
    text = report(rows, info, started, args)
    print(text)
    if not args.no_docs:
        write_section("bench_sources", text)


def check(figures: dict[str, Any], heap: dict[str, Any], entries: int) -> None:
    """The poll must have done what is measured, or the figures mean nothing."""
    expected = {"outcome": "polled", "discovered": entries, "articles": entries,
                "events": entries, "reread_outcome": "polled", "reread_new": 0}
    wrong = {k: figures.get(k) for k, v in expected.items() if figures.get(k) != v}
    if wrong or heap["discovered"] != entries:
        raise SystemExit(f"the poll did not do what is measured: {wrong or heap}")
    if figures["second_outcome"] not in {"not_modified", "same_bytes"}:
        raise SystemExit(f"second poll: {figures['second_outcome']}")


def row(label: str, kind: str, entries: int, figures: dict[str, Any],
        heap: dict[str, Any]) -> list[str]:
    mib = 1024
    second = f"{figures['second_s'] * 1000:.1f} ({figures['second_outcome']})"
    return [label, "SQLite" if kind == "sqlite" else "PostgreSQL", f"{entries:,}",
            f"{figures['discover_s']:.2f}", f"{figures['discover_s'] * 1000 / entries:.2f}",
            f"{figures['parse_s']:.2f}", second, f"{figures['reread_s']:.2f}",
            f"{figures['rss_before_kb'] / mib:.0f}", f"{figures['rss_peak_kb'] / mib:.0f}",
            f"{heap['heap_peak_bytes'] / mib / mib:.1f}"]


def report(rows: list[list[str]], info: dict[str, str], started: str,
           args: argparse.Namespace) -> str:
    versions = package_versions(["feedparser", "lxml", "SQLAlchemy", "psycopg"])
    return "\n\n".join([
        f"## Discovery: {args.entries:,} entries in one poll",
        f"Command: `{command_line()}` (started {started}). One child process per row and a "
        "fresh database each; the article server in its own process on 127.0.0.1. See the "
        "docstring of `benchmarks/bench_sources.py` for what each column measures. The second "
        "poll is a 304 for the feed; a sitemap index is fetched without validators with its "
        "children, which are the same bytes. \"Unchanged, re-read\": no validators and no "
        "digest of the last bodies, so every entry is read and looked up again, and nothing "
        "is stored.",
        table(HEADERS, rows),
        bullet_list({**info, **versions}),
    ])


if __name__ == "__main__":
    if os.environ.get("PYTHONPATH") is None:
        sys.path.insert(0, str(ROOT))
    main()
