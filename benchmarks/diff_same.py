"""Same diffs, byte for byte, from this tree and an older one; and the CPU each takes.

Run ``.venv/bin/python benchmarks/diff_same.py --before <commit>``. It builds a seeded corpus of
version pairs (the story fixtures' pairs both ways, and articles of 3 to 500 paragraphs invented
by ``bench_diff.Writer`` with 1 edit to every paragraph reworded, all different, word salad, case
and punctuation edits, blank and unnormalised paragraphs, with string metadata that changes
now and then), writes it to a scratch file, and runs ``diff_documents(...).to_json()`` on every
pair in a child process per tree (``PYTHONPATH`` = that tree), rounds alternating between the
trees. It prints how many pairs differ (the first few in full) and the median CPU of one
round per tree. ``--hostile`` adds the inputs of ``bench_diff_bounds.py`` (about a minute a
tree). Saves nothing; exits 1 if any output differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

SEED = 20261206
SIZES = (3, 8, 13, 26, 60, 150, 500)
Pair = dict[str, Any]

_CHILD = """
import hashlib, json, sys, time
from tracker.diff import diff_documents
pairs = json.load(open(sys.argv[1], encoding="utf-8"))
rounds, out = int(sys.argv[2]), sys.argv[3]
times = []
for _ in range(rounds):
    start = time.process_time()
    texts = [json.dumps(diff_documents(p["old"], p["new"], p["old_meta"], p["new_meta"]).to_json(),
                        ensure_ascii=False, sort_keys=False) for p in pairs]
    times.append(time.process_time() - start)
with open(out, "w", encoding="utf-8") as file:
    json.dump({"times": times, "texts": texts}, file, ensure_ascii=False)
"""


def corpus(hostile: bool) -> list[Pair]:
    from bench_diff import Writer, edited, reword, story_versions

    rng = random.Random(SEED)
    story = story_versions()
    writer = Writer([p for version in story for p in version], rng)
    pairs = [_pair(a, b) for a in story for b in story]
    for size in SIZES:
        for _ in range(3 if size >= 150 else 12):
            article = writer.article(size)
            for count in sorted({1, 2, 3, max(size // 10, 1), max(size // 3, 1)}):
                pairs.append(_pair(article, edited(rng, article, writer, count), rng))
            pairs.append(_pair(article, [reword(rng, p) if len(p.split()) > 5 else p
                                         for p in article], rng))
            pairs.append(_pair(article, writer.article(size), rng))
            pairs.append(_pair(article, _cosmetic(rng, article), rng))
            if size <= 150:
                pairs.append(_pair(writer.word_salad(size), writer.word_salad(size), rng))
    if hostile:
        pairs += _hostile()
    return pairs


def _pair(old: list[str], new: list[str], rng: random.Random | None = None) -> Pair:
    old_meta = {"title": "Putin trifft Kim", "byline": "CNN", "modified": "2024-06-19T10:00"}
    new_meta = dict(old_meta)
    if rng is not None and rng.random() < 0.5:
        new_meta["modified"] = "2024-06-19T11:00"
    if rng is not None and rng.random() < 0.2:
        new_meta["title"] = "Putin\u00a0trifft Kim "
    return {"old": old, "new": new, "old_meta": old_meta, "new_meta": new_meta}


def _cosmetic(rng: random.Random, article: list[str]) -> list[str]:
    """Case, punctuation, spacing and invisible characters changed; a blank paragraph added."""
    new = []
    for paragraph in article:
        kind = rng.randrange(6)
        if kind == 0:
            paragraph = paragraph.upper()
        elif kind == 1:
            paragraph = paragraph.replace(",", "").replace(".", "!")
        elif kind == 2:
            paragraph = " " + paragraph.replace(" ", "\u00a0 ", 2) + "\u200b"
        new.append(paragraph)
    new.insert(rng.randrange(len(new) + 1), "")
    return new


def _hostile() -> list[Pair]:
    import bench_diff_bounds

    pairs = []
    for name, build in bench_diff_bounds.CASES.items():
        old, new = build(random.Random(name))
        pairs.append(_pair(old, new))
    return pairs


def run_tree(tree: Path, data: Path, rounds: int, out: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run([sys.executable, "-c", _CHILD, str(data), str(rounds), str(out)], env=env,
                   check=True, cwd=tempfile.gettempdir())  # fmt: skip
    return dict(json.loads(out.read_text(encoding="utf-8")))


def source_tree(before: str, into: Path) -> Path:
    if Path(before).is_dir():
        return Path(before)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", before], check=True,
                             capture_output=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="a commit or a source tree")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per tree, alternating")
    parser.add_argument("--hostile", action="store_true", help="add bench_diff_bounds' inputs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        (work / "before").mkdir()
        before = source_tree(args.before, work / "before")
        pairs = corpus(args.hostile)
        data = work / "pairs.json"
        data.write_text(json.dumps(pairs, ensure_ascii=False), encoding="utf-8")
        times: dict[str, list[float]] = {"before": [], "after": []}
        texts: dict[str, list[str]] = {}
        for k in range(args.rounds):
            for name, tree in (("before", before), ("after", ROOT))[:: 1 if k % 2 == 0 else -1]:
                result = run_tree(tree, data, 1, work / f"{name}.json")
                times[name] += result["times"]
                texts[name] = result["texts"]
    report(pairs, texts, times)
    sys.exit(1 if texts["before"] != texts["after"] else 0)


def report(pairs: list[Pair], texts: dict[str, list[str]], times: dict[str, list[float]]) -> None:
    differ = [k for k, (a, b) in enumerate(zip(texts["before"], texts["after"], strict=True))
              if a != b]
    digest = hashlib.sha256("\n".join(texts["after"]).encode()).hexdigest()[:16]
    paragraphs = sum(len(p["old"]) + len(p["new"]) for p in pairs)
    print(f"{len(pairs)} pairs ({paragraphs} paragraphs), {len(differ)} differ; "
          f"output sha256 {digest}…, load {os.getloadavg()[0]:.1f}, {time.strftime('%H:%M')}")
    for k in differ[:3]:
        print(f"pair {k}:\n  before {texts['before'][k][:600]}\n  after  {texts['after'][k][:600]}")
    before, after = statistics.median(times["before"]), statistics.median(times["after"])
    print(f"CPU per round, median of {len(times['after'])}: before {before:.3f} s, "
          f"after {after:.3f} s, after/before {after / before:.2f}×")


if __name__ == "__main__":
    main()
