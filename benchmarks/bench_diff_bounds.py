"""Peak memory and time of the diff on the worst inputs we can build within the body cap.

Run ``.venv/bin/python benchmarks/bench_diff_bounds.py`` (about a minute); it writes its
section of docs/benchmarks.md. ``--case NAME`` runs one case in this process and prints its
figures as JSON; ``--no-write`` only prints the table; ``--limit-mib`` and ``--timeout`` bound
each child (a case that exceeds them is reported so, as the code before the bound did).

Each case runs ``diff_documents(old, new)`` in a child process of its own, so that its peak
RSS is its own: the table shows the peak RSS of the child, the part of it added by the diff
(peak minus the RSS after building the inputs) and the wall and CPU time of the diff alone.
Every input holds at most ``max_body_bytes`` (10 MiB) of text per version, the most an
extraction of one capped response can yield; everything is seeded.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.harness import (  # noqa: E402
    bullet_list,
    command_line,
    machine_info,
    table,
    write_section,
)

CAP = 10 * 1024 * 1024  # tracker.config's max_body_bytes default
Inputs = tuple[list[str], list[str]]


def distinct_words(rng: random.Random, size: int) -> list[str]:
    """Words of 3–9 letters, nearly all distinct, ``size`` bytes (UTF-8) with their spaces."""
    words, used = [], 0
    while True:
        word = "".join(rng.choices("abcdefghijklmnopqrstuvwxyzäöüß", k=rng.randint(3, 9)))
        used += len(word.encode()) + 1
        if used > size:
            return words
        words.append(word)


def edited_once(rng: random.Random, words: list[str]) -> list[str]:
    """The same words with three replaced in the middle third (a live blog's small edit)."""
    new = list(words)
    for _ in range(3):
        new[rng.randrange(len(new) // 3, 2 * len(new) // 3)] = "geändert"
    return new


def one_paragraph_edited(size: int) -> Callable[[random.Random], Inputs]:
    def build(rng: random.Random) -> Inputs:
        words = distinct_words(rng, size)
        return [" ".join(words)], [" ".join(edited_once(rng, words))]
    return build


def one_paragraph_edited_everywhere(rng: random.Random) -> Inputs:
    """One 10 MiB paragraph with a word replaced every 1,000: no long common head or tail."""
    words = distinct_words(rng, CAP - 64 * 1024)
    new = list(words)
    for k in range(0, len(new), 1000):
        new[k] = "geändert"
    return [" ".join(words)], [" ".join(new)]


def one_paragraph_shuffled(rng: random.Random) -> Inputs:
    """The same 1 MiB paragraph with its words in another order: as similar as can be by bag."""
    words = distinct_words(rng, 1024 * 1024)
    shuffled = list(words)
    rng.shuffle(shuffled)
    return [" ".join(words)], [" ".join(shuffled)]


def one_paragraph_two_letter_words(rng: random.Random) -> Inputs:
    """10 MiB of two-letter tokens: the most words a capped paragraph can hold, few distinct."""
    tokens = [rng.choice(["ab", "cd", "ef", "gh"]) for _ in range((CAP - 1024) // 3)]
    new = list(tokens)
    for k in range(0, len(new), 5000):
        new[k] = "xy"
    return [" ".join(tokens)], [" ".join(new)]


def many_long_similar_paragraphs(rng: random.Random) -> Inputs:
    """1,000 paragraphs of 1,100 words drawn from one 3,000-word vocabulary on each side:
    every pair shares most words, no pair is an edit (word salad, 9 MiB)."""
    vocabulary = distinct_words(rng, 24_000)[:3000]

    def salad() -> list[str]:
        return [" ".join(rng.choices(vocabulary, k=1100)) for _ in range(1000)]

    return salad(), salad()


def salad_in_words(rng: random.Random) -> Inputs:
    """Just under 1 MB a side (still compared word by word): 130 paragraphs of 1,000 words
    from one 2,000-word vocabulary, so that every paragraph shares every word."""
    vocabulary = distinct_words(rng, 16_000)[:2000]

    def salad() -> list[str]:
        return [" ".join(rng.choices(vocabulary, k=1000)) for _ in range(130)]

    return salad(), salad()


def paragraphs_one_word(identical: bool) -> Callable[[random.Random], Inputs]:
    def build(rng: random.Random) -> Inputs:
        if identical:
            # Alternating so that neither end lines up: no anchors, one gap of 50,000 each.
            return ["ja", "nein"] * 25_000, ["nein", "ja"] * 25_000
        words = distinct_words(rng, 600_000)[:50_000]
        new = list(words)
        rng.shuffle(new)
        return words, new
    return build


def repeated_paragraphs_shifted(rng: random.Random) -> Inputs:
    """2,000 copies of three 40-word paragraphs in turn, shifted by one: no anchor at all."""
    texts = [" ".join(distinct_words(rng, 300)[:40]) for _ in range(3)]
    old = [texts[k % 3] for k in range(6000)]
    return old, old[1:] + old[:1]


def neighbours_swapped(rng: random.Random) -> Inputs:
    """20,000 distinct words, then each pair of neighbours swapped: difflib's word matching
    recurses 10,000 deep and rescans the rest each time (quadratic)."""
    words = list(dict.fromkeys(distinct_words(rng, 240_000)))[:20_000]
    swapped = [words[k ^ 1] for k in range(len(words))]
    return [" ".join(words)], [" ".join(swapped)]


CASES: dict[str, Callable[[random.Random], Inputs]] = {
    "1 paragraph, 0.3 MiB, 3 words edited": one_paragraph_edited(300 * 1024),
    "1 paragraph, 1.2 MiB, 3 words edited": one_paragraph_edited(1200 * 1024),
    "1 paragraph, 10 MiB, 3 words edited": one_paragraph_edited(CAP - 1024),
    "1 paragraph, 10 MiB, a word in 1,000 edited": one_paragraph_edited_everywhere,
    "1 paragraph, 1 MiB, words shuffled": one_paragraph_shuffled,
    "1 paragraph, 10 MiB of 2-letter words": one_paragraph_two_letter_words,
    "1,000 × 1,100-word paragraphs, word salad": many_long_similar_paragraphs,
    "130 × 1,000-word paragraphs, word salad under 1 MB": salad_in_words,
    "50,000 one-word paragraphs, distinct, shuffled": paragraphs_one_word(identical=False),
    "50,000 one-word paragraphs, two texts alternating": paragraphs_one_word(identical=True),
    "6,000 paragraphs, 3 texts repeated, shifted": repeated_paragraphs_shifted,
    "1 paragraph of 20,000 words, neighbours swapped": neighbours_swapped,
}


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as file:
        return int(file.read().split()[1]) * resource.getpagesize() / 2**20


def run_case(name: str) -> dict[str, float]:
    from tracker.diff import diff_documents

    old, new = CASES[name](random.Random(name))
    assert max(sum(len(p.encode()) + 1 for p in side) for side in (old, new)) <= CAP, name
    diff_documents(["warm up"], ["warm up imports"])
    inputs = current_rss_mib()
    wall, cpu = time.perf_counter(), time.process_time()
    diff = diff_documents(old, new)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"peak": rss_mib(), "added": rss_mib() - inputs, "wall": wall, "cpu": cpu,
            "ops": len(diff.ops)}


def measure(name: str, limit_mib: int, timeout: float) -> dict[str, float] | str:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_mib * 2**20, limit_mib * 2**20))

    command = [sys.executable, __file__, "--case", name]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                preexec_fn=limit, check=False)
    except subprocess.TimeoutExpired:
        return f"over {timeout:.0f} s"
    if result.returncode != 0:
        return "MemoryError" if "MemoryError" in result.stderr else result.stderr[-300:]
    figures: dict[str, float] = json.loads(result.stdout)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case")
    parser.add_argument("--limit-mib", type=int, default=4096)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--only", default="", help="the cases whose name contains this")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case)))
        return
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = []
    for name in [name for name in CASES if args.only in name]:
        figures = measure(name, args.limit_mib, args.timeout)
        if isinstance(figures, str):
            rows.append([name, f"**{figures}**", "", "", "", ""])
        else:
            rows.append([name, f"{figures['peak']:.0f}", f"{figures['added']:.0f}",
                         f"{figures['wall']:.2f}", f"{figures['cpu']:.2f}",
                         f"{figures['ops']:.0f}"])
        print(" | ".join(str(cell) for cell in rows[-1]), flush=True)
    text = "\n\n".join([
        "## Diff on hostile input: peak memory and time within the body cap",
        f"Command: `{command_line()}`, started {started}. Each case in a child process "
        f"limited to {args.limit_mib} MiB of address space and {args.timeout:.0f} s; see the "
        "docstring of `benchmarks/bench_diff_bounds.py` for the inputs.",
        table(["case", "peak RSS MiB", "added by the diff MiB", "wall s", "CPU s", "ops"],
              rows),
        "Machine:\n" + bullet_list(machine_info()),
    ])
    print(text)
    if not args.no_write:
        write_section("bench_diff_bounds", text)


if __name__ == "__main__":
    main()
