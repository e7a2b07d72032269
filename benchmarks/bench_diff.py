"""Benchmark of tracker.diff on long articles built from the story_de fixtures.

Run ``python benchmarks/bench_diff.py``. It prints two Markdown tables and saves nothing:

1. ``diff_documents`` on a 500-paragraph article with 1–3 edited paragraphs and with 10% of
   its paragraphs edited (every kind of edit), and on two worst cases of 300 old against 300
   all-different new paragraphs: invented story text (many pairs share long runs of words)
   and word salad (same vocabulary, no order). Median and p95 over repeated runs, and the
   ratio of the median to plain ``difflib.SequenceMatcher`` over the same paragraph lists,
   timed in the same run.
2. The paragraph matcher chosen in ``tracker.align`` (patience anchors) against the
   alternative tried (every paragraph of difflib's matching blocks as an anchor), both
   followed by the same gap alignment: exact results on the four fixture pairs and on 140
   known single edits of a 500-paragraph article (modify, insert, delete, move, split,
   merge, and a photo credit moved past an edited paragraph), and the median time of
   ``align`` on those articles.

Body paragraphs are invented from the fixtures' word pairs (a bigram chain), so they read like
the story and are all different; short paragraphs (credits, "CNN", "—") are the fixtures' own
and repeat every seventh paragraph, as credits do in real articles. Everything is seeded.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from difflib import SequenceMatcher
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tracker.align import Link, align  # noqa: E402
from tracker.diff import diff_documents, diff_paragraphs  # noqa: E402
from tracker.normalize import split_lines  # noqa: E402

STORY = ROOT / "tests" / "fixtures" / "story_de"
SEED = 20240619
EDIT_KINDS = ("modify", "insert", "delete", "move", "split", "merge")
Expected = set[tuple[str, tuple[int, ...], tuple[int, ...]]]


def story_versions() -> list[list[str]]:
    """v1..v5, read like the tracker reads stored text (CRLF in v5 kept for split_lines)."""
    return [split_lines(read_verbatim(STORY / f"v{n}.txt")) for n in range(1, 6)]


def read_verbatim(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as file:
        return file.read()


class Writer:
    """Invents paragraphs from the word pairs of the fixture story."""

    def __init__(self, paragraphs: Sequence[str], rng: random.Random) -> None:
        self.rng = rng
        self.follows: defaultdict[str, list[str]] = defaultdict(list)
        self.starts: list[str] = []
        self.lengths: list[int] = []
        self.short: list[str] = []
        for paragraph in dict.fromkeys(paragraphs):
            words = paragraph.split()
            if len(words) <= 5:
                self.short.append(paragraph)
                continue
            self.lengths.append(len(words))
            self.starts.append(words[0])
            for first, second in pairwise(words):
                self.follows[first].append(second)

    def paragraph(self) -> str:
        words = [self.rng.choice(self.starts)]
        while len(words) < self.rng.choice(self.lengths):
            options = self.follows.get(words[-1]) or self.starts
            words.append(self.rng.choice(options))
        return " ".join(words)

    def word_salad(self, size: int) -> list[str]:
        """Paragraphs of the story's words in random order: all different, same vocabulary."""
        words = [word for follows in self.follows.values() for word in follows]
        return [" ".join(self.rng.choices(words, k=self.rng.choice(self.lengths)))
                for _ in range(size)]

    def article(self, size: int) -> list[str]:
        """Mostly invented body text; every seventh paragraph a real credit or dateline."""
        return [self.rng.choice(self.short) if k % 7 == 3 else self.paragraph()
                for k in range(size)]


def reword(rng: random.Random, paragraph: str) -> str:
    """A light edit: one to three words replaced, dropped or added."""
    words = paragraph.split()
    for _ in range(rng.randint(1, 3)):
        k = rng.randrange(len(words))
        action = rng.choice(("replace", "drop", "add"))
        if action == "replace":
            words[k] = rng.choice(("laut", "rund", "etwa", "offiziell", "Donnerstag"))
        elif action == "drop" and len(words) > 8:
            del words[k]
        else:
            words.insert(k, rng.choice(("neu", "erneut", "bereits", "offenbar")))
    return " ".join(words)


def split_text(paragraph: str) -> tuple[str, str]:
    """Cut a paragraph in two at its middle word, rewording the seam as an editor would."""
    words = paragraph.split()
    middle = len(words) // 2
    first = " ".join(words[:middle]).rstrip(",;") + "."
    second = words[middle][:1].upper() + " ".join(words[middle:])[1:]
    return first, second


def edit_once(rng: random.Random, doc: list[str], writer: Writer, kind: str,
              where: int) -> Expected:
    """Apply one edit of ``kind`` at ``where`` in place; return the ops it should produce."""
    if kind == "modify":
        doc[where] = reword(rng, doc[where])
        return {("modify", (where,), (where,))}
    if kind == "insert":
        doc.insert(where, writer.paragraph())
        return {("insert", (), (where,))}
    if kind == "delete":
        del doc[where]
        return {("delete", (where,), ())}
    if kind == "move":
        target = where + rng.choice((-1, 1)) * rng.randint(3, 40)
        target = min(max(target, 0), len(doc) - 1)
        doc.insert(target, doc.pop(where))
        return {("move", (where,), (target,))}
    if kind == "split":
        doc[where : where + 1] = split_text(doc[where])
        return {("split", (where,), (where, where + 1))}
    doc[where : where + 2] = [doc[where] + " " + doc[where + 1]]
    return {("merge", (where, where + 1), (where,))}


def edited(rng: random.Random, doc: Sequence[str], writer: Writer, count: int) -> list[str]:
    """A copy of ``doc`` with ``count`` random edits of every kind."""
    new = list(doc)
    for _ in range(count):
        edit_once(rng, new, writer, rng.choice(EDIT_KINDS), rng.randrange(len(new) - 1))
    return new


def timings(run: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return samples


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def difflib_lines(old: Sequence[str], new: Sequence[str]) -> object:
    return SequenceMatcher(None, old, new, autojunk=False).get_opcodes()


def time_table(writer: Writer, rng: random.Random) -> None:
    article = writer.article(500)
    scenarios = [
        ("500 ¶, 1–3 edits", article, edited(rng, article, writer, rng.randint(1, 3)), 50),
        ("500 ¶, 10% edited", article, edited(rng, article, writer, 50), 30),
        ("300 ¶ vs 300 different, invented", writer.article(300), writer.article(300), 10),
        ("300 ¶ vs 300 different, word salad", writer.word_salad(300),
         writer.word_salad(300), 10),
    ]
    print("| case | diff_documents median | p95 | difflib median | ratio |")
    print("|---|---|---|---|---|")
    for name, old, new, repeat in scenarios:
        ours = timings(lambda old=old, new=new: diff_documents(old, new), repeat)
        plain = timings(lambda old=old, new=new: difflib_lines(old, new), repeat)
        median, base = statistics.median(ours), statistics.median(plain)
        print(f"| {name} | {median * 1e3:.1f} ms | {p95(ours) * 1e3:.1f} ms "
              f"| {base * 1e3:.2f} ms | {median / base:.0f}× |")


def matching_block_anchors(old: Sequence[str], new: Sequence[str]) -> list[tuple[int, int]]:
    """The alternative: every paragraph of difflib's matching blocks is an anchor."""
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    return [(block.a + k, block.b + k) for block in matcher.get_matching_blocks()
            for k in range(block.size)]


def changes(links: list[Link]) -> Expected:
    return {(link.op, link.old, link.new) for link in links if link.op != "equal"}


def story_hits(anchors: Callable[..., list[tuple[int, int]]] | None) -> int:
    versions = story_versions()
    expected = json.loads((STORY / "expected_ops.json").read_text(encoding="utf-8"))
    hits = 0
    for n in range(4):
        want = {(o["op"], tuple(o["old"]), tuple(o["new"])) for o in expected[f"v{n+1}_v{n+2}"]}
        hits += changes(align(versions[n], versions[n + 1], anchors)) == want
    return hits


def single_edit_trials(writer: Writer, rng: random.Random,
                       trials: int) -> list[tuple[list[str], list[str], Expected]]:
    """Known single edits of unique body paragraphs in a 500-paragraph article.

    Every seventh trial moves a photo credit (a repeated short paragraph) past the body
    paragraph after it and edits that paragraph: the body text kept its order, so the
    expected reading is "paragraph modified, credit moved".
    """
    article = writer.article(500)
    counts = Counter(article)
    body = [k for k in range(len(article) - 1)
            if counts[article[k]] == 1 and counts[article[k + 1]] == 1]
    credits = [k for k in range(len(article) - 1)
               if counts[article[k]] > 1 and counts[article[k + 1]] == 1]
    cases = []
    for trial in range(trials):
        new = list(article)
        if trial % 7 == 6:
            k = rng.choice(credits)
            new[k : k + 2] = [reword(rng, article[k + 1]), article[k]]
            expected = {("modify", (k + 1,), (k,)), ("move", (k,), (k + 1,))}
        else:
            expected = edit_once(rng, new, writer, EDIT_KINDS[trial % 7], rng.choice(body))
        cases.append((article, new, expected))
    return cases


def matcher_table(writer: Writer, rng: random.Random) -> None:
    cases = single_edit_trials(writer, rng, 140)
    variants = [("patience anchors + gap chain (chosen)", None),
                ("difflib matching blocks + gap chain", matching_block_anchors)]
    print("| matcher | story pairs exact | single edits exact | median align, 500 ¶ |")
    print("|---|---|---|---|")
    for name, anchors in variants:
        exact = sum(changes(align(old, new, anchors)) == want for old, new, want in cases)
        samples = [timings(lambda o=old, n=new, a=anchors: align(o, n, a), 1)[0]
                   for old, new, _ in cases]
        print(f"| {name} | {story_hits(anchors)}/4 | {exact}/{len(cases)} "
              f"| {statistics.median(samples) * 1e3:.2f} ms |")


def main() -> None:
    rng = random.Random(SEED)
    versions = story_versions()
    writer = Writer([p for version in versions for p in version], rng)
    diff_paragraphs(versions[0], versions[1])  # warm up imports and caches
    time_table(writer, rng)
    print()
    matcher_table(writer, rng)


if __name__ == "__main__":
    main()
