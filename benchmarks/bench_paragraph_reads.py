"""What reading paragraph texts costs when most are stored as edits or deflated (``db.edits``),
against a tree that stores them whole: CPU time of the read commands' paths over the corpus of
``bench_storage`` (50 articles x 20 versions, stored through ``check_article``).

    .venv/bin/python benchmarks/bench_paragraph_reads.py --before DIR [--rounds 3] [--repeat 5]

``DIR`` is a source tree (``git archive main | tar -x -C DIR``). Each tree stores the corpus
into its own SQLite file through its own code (the stored forms differ), in a process of its
own with the tree first on PYTHONPATH; then, ``--rounds`` times, the two trees' processes
alternate (the order swapped every round), each timing ``--repeat`` times after one warm-up:

- ``show``: every version's paragraphs through ``db.reads.paragraphs_of`` on the stdlib
  driver, one call per version (what ``tracker show URL --version N`` reads);
- ``changes``: ``tracker.reading.changes_since`` over every stored change (the read path of
  ``tracker changes``: both versions' paragraphs of each change, the stored diffs);
- ``orm``: every version's paragraphs through ``db.queries.paragraphs_of`` (the web view's and
  the exporter's path).

Process CPU time (``time.process_time``), median per round and the median of the rounds; both
trees' texts are compared (a SHA-256 of every text read). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def build(directory: Path) -> dict[str, Any]:
    """The corpus stored into ``directory``/corpus.db by the tree on the path: its URL, and
    the CPU time of the checks that stored it (once: for information, not a benchmark of the
    write path)."""
    sys.path.insert(0, str(HERE))
    import bench_storage as storage

    for name in [k for k in os.environ if k.startswith("TRACKER_")]:
        del os.environ[name]
    os.environ["TRACKER_CONFIG"] = str(directory / "no-config.toml")
    args = argparse.Namespace(versions=2, corpus="50x20", seed=storage.SEED)
    corpus = storage.make_corpora(args)[1]
    for (_, story), texts in zip(corpus.articles, corpus.texts, strict=True):
        storage.write_story(directory / "stories" / story, texts)
    url = f"sqlite:///{directory / 'corpus.db'}"
    with storage.ArticleServer(directory / "stories") as server:
        start = time.process_time()
        storage.store_versions(server, url, 0, corpus, lambda: None)
        return {"url": url, "store": time.process_time() - start}


def measure(url: str, repeat: int) -> dict[str, Any]:
    import datetime as dt

    from db import queries, reads
    from db.session import session_scope
    from tracker.app import App
    from tracker.config import load_settings
    from tracker.reading import changes_since

    app = App(load_settings(database_url=url))
    digest = hashlib.sha256()

    def show() -> None:
        with reads.sqlite_reader(url) as reader:
            assert reader is not None
            for article in reads.list_articles(reader, limit=None, offset=0):
                for version in reads.versions_of(reader, article.id):
                    for _, text in reads.paragraphs_of(reader, version)[0]:
                        digest.update(text.encode())

    def changes() -> None:
        for change in changes_since(app, dt.datetime(2000, 1, 1, tzinfo=dt.UTC)):
            digest.update(json.dumps(change.diff.to_json()).encode())

    def orm() -> None:
        with session_scope(app.reader) as session:
            for article_id in queries.all_article_ids(session):
                for version in queries.versions_of(session, article_id):
                    for _, text in queries.paragraphs_of(session, version):
                        digest.update(text.encode())

    found: dict[str, Any] = {}
    for name, run in (("show", show), ("changes", changes), ("orm", orm)):
        run()  # warm-up, and the texts' digest once
        found[f"{name} digest"] = digest.hexdigest()
        times = []
        for _ in range(repeat):
            start = time.process_time()
            run()
            times.append(time.process_time() - start)
        found[name] = statistics.median(times)
    app.close()
    return found


def child(tree: Path, *arguments: str) -> Any:
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{HERE}"}
    done = subprocess.run([sys.executable, __file__, *arguments], env=env, check=True,
                          capture_output=True, text=True, timeout=1800)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--before", type=Path, required=False)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        print(json.dumps(build(args.build)))
        return
    if args.measure:
        print(json.dumps(measure(args.measure, args.repeat)))
        return
    trees = {"after": HERE.parent}
    if args.before:
        trees = {"before": args.before.resolve(), **trees}
    with tempfile.TemporaryDirectory(prefix="bench_paragraph_reads-") as workdir:
        urls, stores = {}, {}
        for label, tree in trees.items():
            directory = Path(workdir) / label
            directory.mkdir()
            built = child(tree, "--build", str(directory))
            urls[label], stores[label] = built["url"], built["store"]
        rounds: dict[str, list[dict[str, Any]]] = {label: [] for label in trees}
        order = list(trees)
        for _ in range(args.rounds):
            for label in order:
                rounds[label].append(child(trees[label], "--measure", urls[label],
                                           "--repeat", str(args.repeat)))  # fmt: skip
            order.reverse()
    rows = []
    for name in ("show", "changes", "orm"):
        medians = {label: statistics.median(r[name] for r in found)
                   for label, found in rounds.items()}  # fmt: skip
        same = len({found[0][f"{name} digest"] for found in rounds.values()}) == 1
        ratio = (f"{medians['after'] / medians['before']:.2f} ×" if "before" in medians else "—")
        rows.append(f"| {name} | " + " | ".join(f"{medians[label] * 1000:,.1f} ms"
                                                for label in trees)
                    + f" | {ratio} | {'same' if same else '**differ**'} |")  # fmt: skip
    print("| read | " + " | ".join(f"CPU {label}" for label in trees)
          + " | after ÷ before | texts |")
    print("|---|" + "---:|" * len(trees) + "---:|---|")
    print("\n".join(rows))
    print("\nCPU of storing the corpus through check_article (once, the server's thread "
          "included): " + ", ".join(f"{label} {stores[label]:.2f} s" for label in trees))
    print(f"\nrounds {args.rounds}, repeat {args.repeat}; per round: "
          + "; ".join(f"{label} " + ", ".join(f"{r['show'] * 1000:.0f}/{r['changes'] * 1000:.0f}"
                                              f"/{r['orm'] * 1000:.0f}" for r in found)
                      for label, found in rounds.items()) + " ms (show/changes/orm)")


if __name__ == "__main__":
    main()
