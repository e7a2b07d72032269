"""Benchmark of ``tracker export``: throughput (versions per second) and peak RSS of the export
process for 100,000 versions, against 10,000 versions in the same run (constant memory means
the two peaks are about equal).

Run ``.venv/bin/python benchmarks/bench_export.py`` (options: ``--articles`` (1000),
``--versions`` (100 per article), ``--paragraphs`` (20 per version), ``--formats``
(jsonl,parquet), ``--no-docs``). It prints a markdown table and writes it to its section of
docs/benchmarks.md.

The histories are bulk-inserted into fresh SQLite databases (paragraphs stored once, versions
as ``db.refs`` reference lists, as the check stores them): each version edits one paragraph
(a few words), and one version in five also inserts a paragraph, so every version has a real
diff. Then ``tracker export --format F -o DIR`` runs as a child process, measured from outside
(wall time, CPU, peak RSS by ``wait4``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
from pathlib import Path

from harness import (
    BIN,
    bullet_list,
    clean_env,
    command_line,
    machine_info,
    package_versions,
    run_measured,
    table,
    write_section,
)
from sqlalchemy import insert

from db import meta, refs
from db.models import Article, Paragraph
from db.session import make_engine, upgrade

WORDS = ("Regierung", "Sprecher", "bestätigte", "am", "Abend", "dass", "die", "Verhandlungen",
         "fortgesetzt", "werden", "sollen", "Opposition", "kritisierte", "den", "Plan",
         "scharf", "Zahl", "der", "Opfer", "stieg", "weiter", "Polizei", "meldete")  # fmt: skip


def sentence(rng: random.Random, words: int = 45) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)) + "."


def build(path: Path, articles: int, versions: int, paragraphs: int, seed: int = 1) -> int:
    """A SQLite database holding ``articles`` × ``versions`` versions; their number."""
    engine = make_engine(f"sqlite:///{path}", create=True)
    upgrade(engine)
    rng = random.Random(seed)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    total = 0
    with engine.begin() as connection:
        for a in range(1, articles + 1):
            connection.execute(insert(Article), [{
                "id": a, "url": f"https://news.example/{a}", "host": "news.example",
                "state": "active", "base_interval": 600, "interval": 600,
                "next_check_at": start, "created_at": start, "tags": ["bench"],
                "failure_count": 0, "version_count": versions, "event_seq": 0,
                "developing": False,
            }])
            texts = [sentence(rng) for _ in range(paragraphs)]
            previous: list[int] | None = None
            stored: dict[int, tuple[str, str]] = {}
            rows = []
            for number in range(1, versions + 1):
                if number > 1:
                    _edit(rng, texts, number)
                ids = [refs.paragraph_id("text", t) for t in texts]
                stored.update((i, ("text", t)) for i, t in zip(ids, texts, strict=True))
                rows.append({
                    "article_id": a, "number": number,
                    "fetched_at": start + dt.timedelta(minutes=number),
                    "content_hash": f"{a:016x}{number:016x}", "title": f"Meldung {a}",
                    "extractor": "bench", "rebaseline": False, "paragraph_count": len(ids),
                    "paragraph_refs": refs.encode(ids, previous, number),
                })
                previous = ids
            connection.execute(insert(Paragraph), [
                {"id": i, "kind": k, "text": t} for i, (k, t) in stored.items()
            ])
            meta.insert_versions(connection, rows)
            total += len(rows)
    engine.dispose()
    return total


def _edit(rng: random.Random, texts: list[str], number: int) -> None:
    position = rng.randrange(len(texts))
    words = texts[position].split()
    for _ in range(3):
        words[rng.randrange(len(words))] = rng.choice(WORDS)
    texts[position] = " ".join(words) + f" ({number})"
    if number % 5 == 0:
        texts.insert(rng.randrange(len(texts)), sentence(rng, 30))


def export(database: Path, fmt: str, home: Path) -> tuple[float, float, int]:
    out = home / f"export-{database.stem}-{fmt}"
    env = clean_env(home, TRACKER_DATABASE_URL=f"sqlite:///{database}")
    usage = run_measured([str(BIN / "tracker"), "export", "--format", fmt, "-o", str(out)],
                         env=env, timeout=3600)
    return usage.wall, usage.cpu, usage.max_rss_kb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--paragraphs", type=int, default=20)
    parser.add_argument("--formats", default="jsonl,parquet")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    machine = machine_info()
    started = dt.datetime.now(dt.UTC)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        home = Path(tmp)
        sizes = {"small": max(1, args.articles // 10), "full": args.articles}
        databases = {}
        for name, articles in sizes.items():
            databases[name] = (home / f"{name}.db",
                               build(home / f"{name}.db", articles, args.versions,
                                     args.paragraphs))
            print(f"built {name}: {databases[name][1]:,} versions", file=sys.stderr)
        for fmt in args.formats.split(","):
            for name in ("small", "full"):
                path, count = databases[name]
                wall, cpu, rss = export(path, fmt, home)
                results.append((fmt, count, wall, cpu, rss))
                print(f"{fmt} {count:,}: {wall:.1f} s, {count / wall:,.0f}/s, "
                      f"{rss / 1024:,.0f} MiB", file=sys.stderr)
    rows = []
    for fmt, count, wall, cpu, rss in results:
        small = next(r for r in results if r[0] == fmt)
        rows.append((fmt, f"{count:,}", f"{wall:.1f}", f"{cpu:.1f}", f"{count / wall:,.0f}",
                     f"{count / cpu:,.0f}", f"{rss / 1024:,.0f}", f"{rss / small[4]:.2f}"))
    text = "\n\n".join([
        "## Export: throughput and peak memory",
        f"{args.articles:,} articles × {args.versions} versions ({args.paragraphs} paragraphs "
        "of ~45 words; each version edits one paragraph, every fifth also inserts one), bulk-"
        "inserted into SQLite; `tracker export --format F -o DIR` measured from outside as a "
        "child process (peak RSS by wait4). The 10× smaller database in the same run shows "
        "whether memory grows with the number of versions.",
        table(["format", "versions", "wall s", "cpu s", "versions/s", "versions/cpu s",
               "peak RSS MiB", "RSS ÷ RSS at 1/10 the versions"], rows),
        "versions/s is over wall time, versions/cpu s over the export's own CPU time (user + "
        "system): on a shared machine the difference is time spent waiting for a core.",
        f"Command: `{command_line()}`, started {started:%Y-%m-%d %H:%M:%S} UTC.",
        "Machine:\n" + bullet_list(machine),
        "Versions:\n" + bullet_list(package_versions(["SQLAlchemy", "pyarrow"])),
    ])
    print(text)
    if not args.no_docs:
        write_section("bench_export", text)


if __name__ == "__main__":
    main()
