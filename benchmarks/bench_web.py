"""The web view's server time per page, p50 and p95, on SQLite and PostgreSQL; and whether
``tracker serve`` reading and ``tracker run`` writing the same SQLite file (WAL) stall each other.

Pages, each requested ``--repeat`` times after one cold request (reported apart: the first
request of an article reads its stored diffs, or with ``--without-stored-diffs`` computes
them, and keeps them in memory):

- the articles page with 10,000 and 100,000 articles (rows bulk-inserted: one version each,
  30 % changed, 50 hosts, a tag on one in ten), first page, a page 20 pages deep, a tag filter
  and a title/URL search;
- an article with 200 versions (the fixture story, one paragraph edited per version);
- the diff of a 500-paragraph article with 10 % of its paragraphs edited;
- the Atom feed of the latest 100 changes (100 articles, the story's version 2 → 3 each).

Server time is the ``Server-Timing`` header the application sets (from the request's arrival in
the application to its response headers), read over real HTTP from uvicorn on 127.0.0.1.

    .venv/bin/python benchmarks/bench_web.py [--sizes 10000,100000] [--repeat 30] [--no-wal]

Versions are stored as a check stores them, each with its diff against the one before
(``tracker.diffstore.record_diff``); ``--without-stored-diffs`` leaves the diffs out, as
before issue 10 (and as after ``tracker import``): every diff is then computed on first read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import create_engine, insert, text  # noqa: E402

from benchmarks.harness import (  # noqa: E402
    BIN,
    Site,
    bullet_list,
    clean_env,
    command_line,
    machine_info,
    table,
    write_section,
)
from db import meta, queries, refs  # noqa: E402
from db.models import Article  # noqa: E402
from db.session import session_scope  # noqa: E402
from tracker.app import App  # noqa: E402
from tracker.config import load_settings  # noqa: E402
from tracker.diffstore import record_diff  # noqa: E402
from tracker.normalize import split_lines  # noqa: E402
from tracker.web.server import Address, BackgroundServer  # noqa: E402

STORY = ROOT / "tests" / "fixtures" / "story_de"
POSTGRES = os.environ.get("TRACKER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NOW = dt.datetime.now(dt.UTC)
STORE_DIFFS = True  # --without-stored-diffs: False


def story(number: int) -> list[str]:
    return split_lines((STORY / f"v{number}.txt").read_text(encoding="utf-8"))


# --- data ---------------------------------------------------------------------------------------


def bulk_articles(app: App, start: int, count: int) -> None:
    """``count`` articles with one version each, inserted in batches of 5,000 rows."""
    lines = story(2)
    paragraph = ("text", lines[1])
    pid = refs.paragraph_id(*paragraph)
    with session_scope(app.writer) as session:
        queries._insert_paragraphs(session, {pid: paragraph})
    keyframe = refs.encode([pid], None, 1)
    rng = random.Random(start)
    for first in range(start, start + count, 5_000):
        numbers = range(first, min(first + 5_000, start + count))
        articles, versions = [], []
        for n in numbers:
            created = NOW - dt.timedelta(days=30, seconds=n)
            changed = created + dt.timedelta(hours=rng.randint(1, 600)) if n % 10 < 3 else None
            articles.append({
                "id": n + 1, "url": f"https://site{n % 50}.example/news/story-{n}",
                "host": f"site{n % 50}.example", "state": "active", "base_interval": 600,
                "interval": 600, "next_check_at": NOW + dt.timedelta(seconds=n % 600),
                "last_checked_at": NOW, "last_changed_at": changed, "created_at": created,
                "failure_count": 0, "version_count": 1, "event_seq": 0, "developing": False,
                "tags": ["politik"] if n % 10 == 0 else [],
            })
            versions.append({
                "article_id": n + 1, "number": 1, "fetched_at": created,
                "content_hash": f"{n:032x}", "title": f"Schlagzeile Nummer {n}: {lines[0][:60]}",
                "extractor": "bench", "rebaseline": False, "paragraph_count": 1,
                "paragraph_refs": keyframe,
            })
        with app.engine.begin() as connection:
            connection.execute(insert(Article), articles)
            meta.insert_versions(connection, versions)
    if app.engine.dialect.name == "postgresql":  # explicit ids: move the sequences on
        with app.engine.begin() as connection:
            for table_name in ("articles", "versions"):
                connection.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table_name}', 'id'), "
                    f"(SELECT max(id) FROM {table_name}))"))
            connection.execute(text("ANALYZE"))


def article_with_versions(
    app: App, url: str, texts: list[list[str]], titles: list[str], start: dt.datetime
) -> int:
    """An article whose versions have the given paragraph texts, one minute apart."""
    with session_scope(app.writer) as session:
        article, _ = queries.add_article(session, url=url, host=url.split("/")[2], interval=600,
                                         now=start)
        previous = None
        for number, (paragraphs, title) in enumerate(zip(texts, titles, strict=True)):
            when = start + dt.timedelta(minutes=number)
            fields = {"title": title, "content_hash": uuid.uuid4().hex, "extractor": "bench",
                      "rebaseline": False}
            version = queries.store_version(
                session, article, paragraphs=[("text", t) for t in paragraphs], fields=fields,
                previous=previous, now=when)
            if STORE_DIFFS:
                record_diff(session, previous, version)
            previous = version
        article.last_changed_at = start + dt.timedelta(minutes=len(texts) - 1)
        return article.id


def long_history(app: App) -> int:
    base = story(2)
    texts, titles = [], []
    body = base[1:]
    for number in range(200):
        body = list(body)
        body[number % len(body)] += f" (Aktualisierung {number})"
        texts.append(body)
        titles.append(f"{base[0]} – Stand {number + 1}")
    return article_with_versions(app, "https://long.example/news/200-versions", texts, titles,
                                 NOW - dt.timedelta(days=2))


def big_article(app: App) -> int:
    rng = random.Random(500)
    words = " ".join(story(2)[1:]).split()
    old = [" ".join(rng.choice(words) for _ in range(rng.randint(25, 60))) for _ in range(500)]
    new = list(old)
    for index in rng.sample(range(500), 50):  # 10 % edited: a word or three replaced
        tokens = new[index].split()
        for _ in range(rng.randint(1, 3)):
            tokens[rng.randrange(len(tokens))] = rng.choice(words)
        new[index] = " ".join(tokens)
    return article_with_versions(app, "https://big.example/news/500-paragraphs", [old, new],
                                 ["Fünfhundert Absätze", "Fünfhundert Absätze"],
                                 NOW - dt.timedelta(days=1))


def hundred_changes(app: App) -> None:
    v2, v3 = story(2), story(3)
    for n in range(100):
        article_with_versions(app, f"https://feed{n % 5}.example/news/story-{n}",
                              [v2[1:], v3[1:]], [v2[0], v3[0]],
                              NOW - dt.timedelta(hours=3, minutes=-n))


# --- measuring ----------------------------------------------------------------------------------

_TIMING = re.compile(r"app;dur=([\d.]+)")


def measure(client: httpx.Client, path: str, repeat: int) -> dict[str, float]:
    def once() -> float:
        response = client.get(path)
        response.raise_for_status()
        found = _TIMING.search(response.headers.get("server-timing", ""))
        assert found, response.headers
        return float(found[1])

    cold = once()
    times = sorted(once() for _ in range(repeat))
    return {"cold": cold, "p50": statistics.median(times),
            "p95": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
            "max": times[-1]}


def deep_cursor(client: httpx.Client, pages: int) -> str:
    cursor = None
    for _ in range(pages):
        cursor = client.get("/api/v1/articles", params={"cursor": cursor, "limit": 50}
                            ).json()["next"]
    assert cursor
    return str(cursor)


def bench_database(name: str, url: str, sizes: list[int], repeat: int) -> list[list[str]]:
    rows: list[list[str]] = []
    app = App(load_settings(database_url=url))
    long_id = long_history(app)
    big_id = big_article(app)
    hundred_changes(app)
    server = BackgroundServer(app, Address("127.0.0.1", 0)).start()
    loaded = 0
    try:
        with httpx.Client(base_url=server.address.url.rstrip("/"), timeout=120) as client:
            def row(what: str, path: str, target: str) -> None:
                found = measure(client, path, repeat)
                rows.append([name, what, f"{found['p50']:.1f}", f"{found['p95']:.1f}",
                             f"{found['max']:.1f}", f"{found['cold']:.1f}", target])
                print(rows[-1], flush=True)

            for size in sizes:
                bulk_articles(app, loaded + 1000, size - loaded)
                loaded = size
                label = f"{size:,} articles"
                row(f"articles page, {label}", "/", "< 50")
                row(f"articles page 21, {label}", f"/?cursor={deep_cursor(client, 20)}", "< 50")
                row(f"articles tagged, {label}", "/?tag=politik", "< 50")
                row(f"articles search, {label}", "/?q=story-4242", "—")
                row(f"API articles, {label}", "/api/v1/articles", "< 50")
            row("article with 200 versions", f"/articles/{long_id}", "< 50")
            row("diff, 500 paragraphs (10 % edited)", f"/articles/{big_id}/diff/1..2", "< 100")
            row("diff side by side, 500 paragraphs",
                f"/articles/{big_id}/diff/1..2?mode=side", "< 100")
            row("Atom feed, latest 100 changes", "/feeds/changes.atom?limit=100", "< 100")
            row("recent changes page (50)", "/changes", "< 50")
    finally:
        server.stop()
        app.close()
    return rows


def postgres_database() -> tuple[str, Callable[[], None]]:
    admin = create_engine(POSTGRES.replace("postgresql://", "postgresql+psycopg://", 1),
                          isolation_level="AUTOCOMMIT")
    name = f"tracker_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        from db.session import _engines

        for key in list(_engines):
            if key.endswith(f"/{name}"):
                _engines.pop(key).dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return POSTGRES.rsplit("/", 1)[0] + f"/{name}", drop


# --- serve and run on one SQLite file -----------------------------------------------------------


def wal_contention(articles: int, seconds: float) -> dict[str, str]:
    """``tracker run`` checks ``articles`` articles every 10 s while a fifth of them change
    every few seconds; ``tracker serve`` on the same file is read by a client as fast as it
    answers. Each alone, then both."""
    with tempfile.TemporaryDirectory() as folder, Site(articles) as site:
        database = f"sqlite:///{folder}/tracker.db"
        env = clean_env(Path(folder), TRACKER_DATABASE_URL=database,
                        TRACKER_ALLOW_NETWORKS="127.0.0.0/8", TRACKER_ALLOWED_PORTS="*",
                        TRACKER_PER_HOST_RATE="0")
        tracker = [str(BIN / "tracker")]
        subprocess.run([*tracker, "migrate"], env=env, check=True, capture_output=True)
        subprocess.run([*tracker, "add", "-", "--every", "10s"], input="\n".join(site.urls()),
                       text=True, env=env, check=True, capture_output=True)
        subprocess.run([*tracker, "check", "--all"], env=env, check=True, capture_output=True)
        results: dict[str, str] = {}

        def checks() -> int:
            engine = create_engine(database)
            with engine.connect() as connection:
                found = int(connection.execute(text("SELECT count(*) FROM checks")).scalar() or 0)
            engine.dispose()
            return found

        def run_alone_or_with(reader: bool) -> tuple[float, list[float]]:
            serve = subprocess.Popen([*tracker, "serve", "--port", "0"], env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            assert serve.stdout is not None
            base = serve.stdout.readline().split()[-1].rstrip("/")
            run = subprocess.Popen([*tracker, "run"], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            latencies: list[float] = []
            stop = threading.Event()

            def advance() -> None:
                while not stop.wait(2.0):
                    site.control("advance", fraction="0.2", seed=str(time.time_ns()))

            def read() -> None:
                with httpx.Client(base_url=base, timeout=60) as client:
                    paths = ["/", "/changes", "/api/v1/articles", "/feeds/changes.atom"]
                    while not stop.is_set():
                        for path in paths:
                            started = time.perf_counter()
                            client.get(path).raise_for_status()
                            latencies.append((time.perf_counter() - started) * 1000)

            threads = [threading.Thread(target=advance)]
            if reader:
                threads.append(threading.Thread(target=read))
            before = checks()
            for thread in threads:
                thread.start()
            time.sleep(seconds)
            stop.set()
            for thread in threads:
                thread.join()
            done = checks() - before
            for process in (run, serve):
                process.send_signal(signal.SIGTERM)
                process.wait(60)
            return done / seconds, latencies

        alone, _ = run_alone_or_with(False)
        both, latencies = run_alone_or_with(True)
        latencies.sort()
        results["checks per second, tracker run alone"] = f"{alone:.1f}"
        results["checks per second, while tracker serve is read without pause"] = f"{both:.1f}"
        results["pages read meanwhile"] = f"{len(latencies):,}"
        if latencies:
            p95 = latencies[round(0.95 * (len(latencies) - 1))]
            results["page latency meanwhile, p50 / p95 / max (client side, ms)"] = (
                f"{statistics.median(latencies):.1f} / {p95:.1f} / {latencies[-1]:.1f}")
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--no-wal", action="store_true")
    parser.add_argument("--wal-articles", type=int, default=300)
    parser.add_argument("--wal-seconds", type=float, default=30)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--without-stored-diffs", action="store_true",
                        help="store versions without their diffs (as before issue 10)")
    args = parser.parse_args()
    os.environ["TZ"] = "UTC"
    global STORE_DIFFS
    STORE_DIFFS = not args.without_stored_diffs
    sizes = [int(s) for s in args.sizes.split(",")]
    info = machine_info()
    rows: list[list[str]] = []
    for name in args.databases.split(","):
        if name == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                rows += bench_database("SQLite", f"sqlite:///{folder}/web.db", sizes, args.repeat)
        else:
            url, drop = postgres_database()
            try:
                rows += bench_database("PostgreSQL", url, sizes, args.repeat)
            finally:
                drop()
    wal = {} if args.no_wal else wal_contention(args.wal_articles, args.wal_seconds)
    text_ = "\n\n".join(filter(None, [
        "## Web view: server time per page (issue 11)",
        f"`{command_line()}`, {dt.date.today().isoformat()}. Server time is the application's "
        "`Server-Timing` (request in → response headers out), read over HTTP from uvicorn on "
        f"127.0.0.1; {args.repeat} requests per page after one cold request. \"cold\" is that "
        "first request: an article's diffs are read (stored with each version, issue 10"
        + ("; here left out, so computed" if not STORE_DIFFS else "")
        + ") on first use and kept in memory (`tracker/diffstore.py`).",
        table(["database", "page", "p50 ms", "p95 ms", "max ms", "cold ms", "target p95 ms"],
              rows),
        "### `tracker serve` reading while `tracker run` writes the same SQLite file (WAL)"
        if wal else "",
        (f"{args.wal_articles} articles checked every 10 s by `tracker run`, a fifth of them "
         f"changed every 2 s, for {args.wal_seconds:.0f} s; a client reads four pages of "
         "`tracker serve` in a loop.\n\n" + bullet_list(wal)) if wal else "",
        "Machine:\n\n" + bullet_list(info),
    ]))
    print(text_)
    if not args.no_write:
        write_section("bench_web", text_)


if __name__ == "__main__":
    main()
