"""Pinned diff cases as data: known single edits, and a multi-edit corpus with approved output.

Files in ``tests/fixtures/diff_snapshot/``:

- ``single_edits.json``: the 140 known single edits of ``benchmarks/bench_diff.py`` (a
  500-paragraph article; modify, insert, delete, move, split, merge, and a photo credit moved
  past an edited paragraph), each with the paragraph ops it must produce.
- ``corpus.json``: base documents (the story fixtures and two invented articles) and seeded
  edited versions of them, several edits each, plus the story's own version pairs.
- ``approved.json``: ``diff_documents`` of every corpus case, reviewed by hand once. The tests
  compare against it on every run; a change of the diff's output shows up as a failing case.

A new version is stored as spans over the old one: ``[a, b]`` stands for old paragraphs a..b-1,
a string for a paragraph of its own.

Regenerate on purpose, then review the differences before committing them::

    .venv/bin/python -m tests.diff_snapshot            # rewrites approved.json only
    .venv/bin/python -m tests.diff_snapshot --cases    # also redraws the cases (new seed data)
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent / "fixtures" / "diff_snapshot"
SINGLE_EDITS = HERE / "single_edits.json"
CORPUS = HERE / "corpus.json"
APPROVED = HERE / "approved.json"
SEED = 20241203
Span = list[int] | str


def encode(old: Sequence[str], new: Sequence[str]) -> list[Span]:
    """``new`` as runs of consecutive old paragraphs and literal paragraphs."""
    where = {text: k for k, text in enumerate(old)}
    spans: list[Span] = []
    for text in new:
        k = where.get(text)
        last = spans[-1] if spans else None
        if k is None:
            spans.append(text)
        elif isinstance(last, list) and last[1] < len(old) and old[last[1]] == text:
            last[1] += 1
        else:
            spans.append([k, k + 1])
    return spans


def decode(old: Sequence[str], spans: Sequence[Span]) -> list[str]:
    new: list[str] = []
    for span in spans:
        if isinstance(span, str):
            new.append(span)
        else:
            new.extend(old[span[0] : span[1]])
    return new


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def single_edit_cases() -> list[tuple[str, list[str], list[str], set[tuple[str, tuple[int, ...],
                                                                             tuple[int, ...]]]]]:
    data = load(SINGLE_EDITS)
    article = data["article"]
    return [(case["name"], article, decode(article, case["new"]),
             {(op, tuple(old), tuple(new)) for op, old, new in case["expected"]})
            for case in data["cases"]]


def corpus_cases() -> list[tuple[str, list[str], list[str]]]:
    data = load(CORPUS)
    documents = data["documents"]
    return [(case["name"], documents[case["old"]], decode(documents[case["old"]], case["new"]))
            for case in data["cases"]]


# --- regeneration (not used by the tests) ---------------------------------------------------


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, ensure_ascii=False, indent=1)
    path.write_text(text + "\n", encoding="utf-8")


def _draw_cases() -> None:
    from benchmarks.bench_diff import (
        Writer,
        edited,
        single_edit_trials,
        story_versions,
    )

    rng = random.Random(SEED)
    versions = story_versions()
    writer = Writer([p for version in versions for p in version], rng)
    trials = single_edit_trials(writer, rng, 140)
    article = trials[0][0]
    kinds = ["modify", "insert", "delete", "move", "split", "merge", "credit moved"]
    _write(SINGLE_EDITS, {
        "about": "bench_diff's 140 known single edits; see tests/diff_snapshot.py",
        "article": article,
        "cases": [{"name": f"{n:03d} {kinds[n % 7]}", "new": encode(article, new),
                   "expected": sorted([op, list(old), list(new_)] for op, old, new_ in want)}
                  for n, (_, new, want) in enumerate(trials)],
    })
    documents = {f"story v{n + 1}": version for n, version in enumerate(versions[:4])}
    documents["invented 60"] = writer.article(60)
    documents["invented 200"] = writer.article(200)
    cases = [{"name": f"story v{n + 1} to v{n + 2}", "old": f"story v{n + 1}",
              "new": encode(versions[n], versions[n + 1])} for n in range(4)]
    for n in range(80):
        name = rng.choice(sorted(documents))
        edits = rng.randint(2, 10)
        new = edited(rng, documents[name], writer, edits)
        cases.append({"name": f"{n:02d} {name}, {edits} edits", "old": name,
                      "new": encode(documents[name], new)})
    _write(CORPUS, {"about": "multi-edit corpus; see tests/diff_snapshot.py",
                    "documents": documents, "cases": cases})


def approve() -> None:
    """Write approved.json with one op per line, so that a review reads like a diff."""
    from tracker.diff import diff_documents

    lines = ["{"]
    cases = corpus_cases()
    for n, (name, old, new) in enumerate(cases):
        diff = diff_documents(old, new).to_json()
        lines.append(f" {_compact(name)}: {{")
        for key in ("old", "new", "metadata", "summary"):
            lines.append(f"  {_compact(key)}: {_compact(diff[key])},")
        lines.append('  "ops": [')
        lines += [f"   {_compact(op)}," for op in diff["ops"]]
        lines[-1] = lines[-1].rstrip(",")
        lines.append("  ]")
        lines.append(" }," if n + 1 < len(cases) else " }")
    lines.append("}")
    APPROVED.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


if __name__ == "__main__":
    if "--cases" in sys.argv[1:]:
        _draw_cases()
    approve()
