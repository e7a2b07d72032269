"""Extraction quality and speed on the corpus of page structures, tracker beside trafilatura.

Run ``.venv/bin/python benchmarks/bench_extract.py [--rounds 15]``. For every page in
``tests/fixtures/pages`` (the layouts of BBC, Guardian, CNN, Reuters, AP, Spiegel, Zeit,
tagesschau, FAZ, SZ pages, live blogs, AMP, ``<br>`` and table layouts, paywalled teasers, a
consent wall; each with the paragraphs a reader sees, written by hand) it compares what each
extractor returns with the expected paragraphs, and times both in this process. It writes its
section of docs/benchmarks.md.

- **tracker**: ``tracker.extract.extract_page`` with default options (every paragraph: text,
  headings, items, quotes, captions, credits, live-blog time stamps).
- **trafilatura**: plain ``trafilatura.extract(html, url=…)`` with its defaults, one paragraph
  per output line (a list's "- " marker taken off). Also timed with ``fast=True`` beside
  tracker's ``fast=True``, which is what ``tracker check`` runs by default.

Scores, summed over all pages (micro averages):

- *paragraphs*: a returned paragraph counts when it is exactly an expected one (normalised
  text); precision = matched / returned, recall = matched / expected. A paragraph run together
  with the next, or cut in two, counts as wrong: boundaries are the point of this score.
- *words*: the same over the bags of lower-case words, which forgives boundaries (closer to the
  published article-extraction benchmarks).

The headline is metadata for tracker, so an output line equal to the page's title is left out
of both tools' outputs before scoring. A page without an article (the consent wall) expects
nothing: whatever a tool returns there counts against its precision. Time per page: the median
over the rounds of each page's wall time, summed over the corpus; rounds interleave the tools
so that the machine's noise falls on both alike.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.harness import (  # noqa: E402
    bullet_list,
    command_line,
    machine_info,
    package_versions,
    table,
    write_section,
)
from tracker.errors import ExtractionError  # noqa: E402
from tracker.extract import explain_page, extract_page  # noqa: E402
from tracker.normalize import normalize_text  # noqa: E402

PAGES = ROOT / "tests" / "fixtures" / "pages"
_WORD = re.compile(r"\w+")
_BULLET = re.compile(r"^[-*•]\s+")


@dataclass(frozen=True, slots=True)
class Page:
    name: str
    url: str
    body: bytes
    title: str | None
    expected: tuple[str, ...]


@dataclass(slots=True)
class Score:
    returned: int = 0
    expected: int = 0
    matched: int = 0

    def add(self, returned: Sequence[str], expected: Sequence[str]) -> None:
        self.returned += len(returned)
        self.expected += len(expected)
        self.matched += sum((Counter(returned) & Counter(expected)).values())

    @property
    def precision(self) -> float:
        return self.matched / self.returned if self.returned else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.expected if self.expected else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(slots=True)
class Result:
    paragraphs: Score = field(default_factory=Score)
    words: Score = field(default_factory=Score)
    per_page: dict[str, float] = field(default_factory=dict)


def load_pages() -> list[Page]:
    pages = []
    for path in sorted(PAGES.glob("*.html")):
        data: dict[str, Any] = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        expected = tuple(text for _, text in data.get("paragraphs", []))
        pages.append(Page(path.stem, data["url"], path.read_bytes(), data.get("title"), expected))
    return pages


def tracker_paragraphs(page: Page, *, fast: bool = False) -> list[str]:
    try:
        return extract_page(page.body, url=page.url, fast=fast).texts
    except ExtractionError:
        return []


def trafilatura_paragraphs(page: Page, *, fast: bool = False) -> list[str]:
    import trafilatura

    text = trafilatura.extract(page.body, url=page.url, fast=fast) or ""
    lines = (normalize_text(_BULLET.sub("", line)) for line in text.splitlines())
    return [line for line in lines if line]


def without_title(paragraphs: list[str], title: str | None) -> list[str]:
    return [p for p in paragraphs if p != title]


def words(paragraphs: Sequence[str]) -> list[str]:
    return [word.lower() for paragraph in paragraphs for word in _WORD.findall(paragraph)]


def score(pages: Sequence[Page], extract: Callable[[Page], list[str]]) -> Result:
    result = Result()
    for page in pages:
        returned = without_title(extract(page), page.title)
        result.paragraphs.add(returned, page.expected)
        result.words.add(words(returned), words(page.expected))
        one = Score()
        one.add(returned, page.expected)
        result.per_page[page.name] = one.f1
    return result


def timings(
    pages: Sequence[Page], tools: dict[str, Callable[[Page], object]], rounds: int
) -> dict[tuple[str, str], float]:
    """Seconds per (tool, page): the median of ``rounds`` runs; tools interleaved page by page
    so that a noisy moment hits all of them."""
    samples: dict[tuple[str, str], list[float]] = {}
    for tool in tools.values():  # first calls load modules and caches: not per-page cost
        for page in pages:
            tool(page)
    for _ in range(rounds):
        for page in pages:
            for name, tool in tools.items():
                started = time.perf_counter()
                tool(page)
                samples.setdefault((name, page.name), []).append(time.perf_counter() - started)
    return {key: statistics.median(values) for key, values in samples.items()}


def sources(pages: Sequence[Page]) -> dict[str, str]:
    found = {}
    for page in pages:
        try:
            found[page.name] = explain_page(page.body, url=page.url).source
        except ExtractionError:
            found[page.name] = "refused"
    return found


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def report(pages: Sequence[Page], rounds: int) -> str:
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    ours, theirs = score(pages, tracker_paragraphs), score(pages, trafilatura_paragraphs)
    tools: dict[str, Callable[[Page], object]] = {
        "tracker": tracker_paragraphs,
        "trafilatura": trafilatura_paragraphs,
        "tracker fast": lambda page: tracker_paragraphs(page, fast=True),
        "trafilatura fast": lambda page: trafilatura_paragraphs(page, fast=True),
    }
    each = timings(pages, tools, rounds)
    won = sources(pages)
    generic = [page for page in pages if won[page.name] == "trafilatura"]
    declared = [page for page in pages if won[page.name] != "trafilatura"]

    def total(tool: str, subset: Sequence[Page] = pages) -> float:
        return sum(each[(tool, page.name)] for page in subset)

    seconds = {name: total(name) for name in tools}
    per_page = {name: 1000 * value / len(pages) for name, value in seconds.items()}
    ratio = seconds["tracker"] / seconds["trafilatura"]
    ratio_fast = seconds["tracker fast"] / seconds["trafilatura fast"]
    quality = table(
        ("extractor", "paragraph P", "paragraph R", "paragraph F1", "word P", "word R",
         "word F1", "ms per page", "time ÷ trafilatura"),
        [
            ("tracker", _pct(ours.paragraphs.precision), _pct(ours.paragraphs.recall),
             _pct(ours.paragraphs.f1), _pct(ours.words.precision), _pct(ours.words.recall),
             _pct(ours.words.f1), f"{per_page['tracker']:.2f}", f"{ratio:.2f} ×"),
            ("trafilatura (plain)", _pct(theirs.paragraphs.precision),
             _pct(theirs.paragraphs.recall), _pct(theirs.paragraphs.f1),
             _pct(theirs.words.precision), _pct(theirs.words.recall), _pct(theirs.words.f1),
             f"{per_page['trafilatura']:.2f}", "1.00 ×"),
        ],
    )
    fast = table(
        ("fast=True (what `tracker check` runs)", "ms per page", "÷ trafilatura fast"),
        [("tracker", f"{per_page['tracker fast']:.2f}", f"{ratio_fast:.2f} ×"),
         ("trafilatura", f"{per_page['trafilatura fast']:.2f}", "1.00 ×")],
    )
    split = table(
        ("pages", "count", "tracker ÷ trafilatura", "fast: tracker ÷ trafilatura"),
        [(label, len(subset),
          f"{total('tracker', subset) / total('trafilatura', subset):.2f} ×",
          f"{total('tracker fast', subset) / total('trafilatura fast', subset):.2f} ×")
         for label, subset in (("body found by trafilatura (tracker runs it too)", generic),
                               ("body declared (no trafilatura run)", declared)) if subset],
    )
    pages_table = table(
        ("page", "expected paragraphs", "tracker: body from", "tracker F1", "trafilatura F1"),
        [(page.name, len(page.expected), won[page.name], _pct(ours.per_page[page.name]),
          _pct(theirs.per_page[page.name])) for page in pages],
    )
    met = ours.paragraphs.f1 > theirs.paragraphs.f1
    targets = table(
        ("target", "measured", "verdict"),
        [
            ("tracker's F1 above plain trafilatura's",
             f"{_pct(ours.paragraphs.f1)} against {_pct(theirs.paragraphs.f1)} (paragraphs); "
             f"{_pct(ours.words.f1)} against {_pct(theirs.words.f1)} (words)",
             "met" if met and ours.words.f1 > theirs.words.f1 else "**not met**"),
            ("every expected paragraph exactly (no run-together, cut-apart or furniture line)",
             f"{ours.paragraphs.matched} of {ours.paragraphs.expected} expected, "
             f"{ours.paragraphs.returned - ours.paragraphs.matched} returned that are none",
             "met" if ours.paragraphs.matched == ours.paragraphs.expected
             == ours.paragraphs.returned else "**not met**"),
            ("time per page ≤ 1.3 × trafilatura's", f"{ratio:.2f} × (fast: {ratio_fast:.2f} ×)",
             "met" if ratio <= 1.3 else "**not met**"),
        ],
    )
    info = machine_info()
    versions = package_versions(["trafilatura", "lxml", "charset-normalizer"])
    return "\n\n".join([
        "## Extraction on the corpus of page structures",
        f"Command: `{command_line()}` (started {started}). {len(pages)} pages from "
        "`tests/fixtures/pages` (see `tests/fixtures/pages/README.md`), "
        f"{sum(len(p.expected) for p in pages)} expected paragraphs; time per page is the "
        f"median of {rounds} rounds, in this process. See the docstring of "
        "`benchmarks/bench_extract.py` for how each figure is made.",
        quality, fast, "Time by where the body came from:", split,
        "Targets (issue 13):", targets, "Per page (paragraph F1):", pages_table,
        "Machine and versions:", bullet_list({**info, **versions}),
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="timing rounds per page")
    parser.add_argument("--no-write", action="store_true", help="print, do not write the docs")
    args = parser.parse_args(argv)
    text = report(load_pages(), args.rounds)
    print(text)
    if not args.no_write:
        write_section("bench_extract", text)


if __name__ == "__main__":
    main()
