"""Benchmark of learned article templates (tracker.templates): extraction CPU, corpus quality,
and first sight against urlwatch with template learning on and off.

Run ``.venv/bin/python benchmarks/bench_template.py [--articles 500] [--repeat 2]
[--skip-urlwatch] [--no-docs]``. It writes its section of docs/benchmarks.md.

1. **Extraction CPU per page**, in this process (``time.process_time``): the full extractor
   (``explain_page``) against the same page read by a trusted template learned from another
   page of the site, alternating page by page over ``--rounds`` rounds, on a sample of the
   article server's pages in both its designs. "classic" declares its body
   (``itemprop=articleBody``), so trafilatura never runs there and no template is learned:
   both columns are the same path. "redesign" declares nothing: the generic path
   (trafilatura) is what the template stands in for.
2. **Corpus quality**: the extraction corpus (tests/fixtures/pages, bench_extract's scoring)
   read by the full extractor, and read by a template learned from the page itself wherever
   one is learned (the full extractor elsewhere).
3. **First sight**: one ``tracker check --all --report`` over N new articles (bench_check's
   set-up: the article server in its own process, 8 parallel fetches, fresh SQLite database)
   with ``TRACKER_TEMPLATE_LEARNING`` 1 and 0, and urlwatch 2.29 on the same pages
   (bench_check's urlwatch set-up), alternating, each on a fresh database and cache, in both
   site designs. Wall time and CPU (user+sys of the process and its children) from ``wait4``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_check import Tracker, Urlwatch  # noqa: E402
from bench_extract import load_pages, score, tracker_paragraphs  # noqa: E402
from harness import (  # noqa: E402
    Site,
    bullet_list,
    command_line,
    machine_info,
    median,
    package_versions,
    table,
    write_section,
)

from tracker.errors import ExtractionError  # noqa: E402
from tracker.extract import explain_page  # noqa: E402
from tracker.extract.pipeline import TemplateUse  # noqa: E402

SEED = 20261206
DESIGNS = ("redesign", "classic")


def _sample(site: Site, count: int) -> list[tuple[str, bytes]]:
    """Pages of several story versions: advance a seeded share of the articles a few times."""
    for step in range(3):
        site.control("advance", fraction=0.5, seed=SEED + step)
    slugs = random.Random(SEED).sample(site.slugs, min(count, len(site.slugs)))
    return [(site.url(slug), site.fetch(slug)) for slug in slugs]


def extraction_cpu(design: str, count: int, rounds: int) -> dict[str, float]:
    """CPU seconds per page, full extractor and trusted template, and pages read by it."""
    with Site(count + 1, template=design) as site:
        teacher = (site.url(site.slugs[-1]), site.fetch(site.slugs[-1]))
        pages = _sample(site, count)
    learned = explain_page(teacher[1], url=teacher[0], learning=TemplateUse())
    template = learned.learning.learned if learned.learning else None
    use = TemplateUse(template, trusted=True) if template else TemplateUse()
    samples: dict[str, list[float]] = defaultdict(list)
    by_template = 0
    for url, body in pages:  # first calls load modules and caches: not per-page cost
        explain_page(body, url=url)
        by_template += explain_page(body, url=url, learning=use).path == "template"
    for _ in range(rounds):
        full = templ = 0.0
        for url, body in pages:
            start = time.process_time()
            explain_page(body, url=url)
            middle = time.process_time()
            explain_page(body, url=url, learning=use)
            full += middle - start
            templ += time.process_time() - middle
        samples["full"].append(full / len(pages))
        samples["template"].append(templ / len(pages))
    return {"full": median(samples["full"]), "template": median(samples["template"]),
            "by_template": by_template, "pages": len(pages)}


def corpus_quality() -> dict[str, object]:
    pages = load_pages()
    used = 0

    def templated(page: object) -> list[str]:
        nonlocal used
        url, body = page.url, page.body  # type: ignore[attr-defined]
        try:
            first = explain_page(body, url=url, learning=TemplateUse())
            template = first.learning.learned if first.learning else None
            if template is None:
                return first.article.texts
            again = explain_page(body, url=url, learning=TemplateUse(template, trusted=True))
        except ExtractionError:
            return []
        used += again.path == "template"
        return again.article.texts

    full, learned = score(pages, tracker_paragraphs), score(pages, templated)
    return {"pages": len(pages), "used": used, "full": full, "learned": learned}


def first_sight(args: argparse.Namespace, design: str, repeat: int, workdir: Path
                ) -> dict[str, tuple[float, float]]:
    timeout = max(180.0, 0.6 * args.articles)
    found: dict[str, tuple[float, float]] = {}
    with Site(args.articles, template=design) as site:
        on = Tracker(workdir / "on", 8)
        off = Tracker(workdir / "off", 8)
        on.env["TRACKER_TEMPLATE_LEARNING"] = "1"
        off.env["TRACKER_TEMPLATE_LEARNING"] = "0"
        tools: list[tuple[str, object]] = [("tracker, learning on", on),
                                           ("tracker, learning off", off)]
        if not args.skip_urlwatch:
            tools.append(("urlwatch", Urlwatch(workdir / "urlwatch", 8)))
        for _, tool in tools:
            tool.prepare(site.urls())  # type: ignore[attr-defined]
        order = tools if repeat % 2 == 0 else tools[::-1]
        for name, tool in order:
            site.control("reset")
            usage = tool.run("all_new", timeout)  # type: ignore[attr-defined]
            found[name] = (usage.wall, usage.cpu)
            print(f"  {design} repeat {repeat + 1} {name:<22} {usage.wall:6.2f} s wall "
                  f"{usage.cpu:6.2f} s CPU", file=sys.stderr)
    return found


def report(args: argparse.Namespace, cpu: dict[str, dict[str, float]],
           quality: dict[str, object], sight: dict[str, dict[str, list[tuple[float, float]]]],
           loads: list[float], started: str) -> str:
    lines = [
        "## Learned article templates (issue 15, target 1)", "",
        f"Run {started} with `{command_line()}`; load average (1 min) during the run "
        f"{min(loads):.1f}–{max(loads):.1f} on {machine_info().get('nproc', '?')} cores "
        "shared with other work: read ratios, not absolute times.", "",
        bullet_list(package_versions(["trafilatura", "lxml", "urlwatch"])), "",
        "### Extraction CPU per page (in process, alternating page by page)", "",
        table(["site design", "body rule", "full ms", "template ms", "ratio",
               "pages by template"],
              [(design, "trafilatura" if design == "redesign" else "itemprop (declared)",
                f"{1000 * c['full']:.2f}", f"{1000 * c['template']:.2f}",
                f"{c['template'] / c['full']:.2f}×", f"{c['by_template']:.0f}/{c['pages']:.0f}")
               for design, c in cpu.items()]),
        "",
        "### Extraction corpus (bench_extract's scores)", "",
    ]
    full, learned = quality["full"], quality["learned"]
    lines.append(table(
        ["reading", "paragraph P", "paragraph R", "paragraph F1", "word F1"],
        [(name, f"{100 * r.paragraphs.precision:.1f}", f"{100 * r.paragraphs.recall:.1f}",  # type: ignore[attr-defined]
          f"{100 * r.paragraphs.f1:.1f}", f"{100 * r.words.f1:.1f}")  # type: ignore[attr-defined]
         for name, r in (("full extractor", full), ("learned template where one is learned",
                                                   learned))]))
    lines += ["", f"{quality['used']} of {quality['pages']} corpus pages teach a template that "
              "reads them alone; each gives the full extractor's very article.", "",
              f"### First sight: `tracker check --all --report` over {args.articles} new "
              f"articles (median of {args.repeat})", ""]
    rows = []
    for design, tools in sight.items():
        base = median(w for w, _ in tools["urlwatch"]) if "urlwatch" in tools else None
        for name, values in tools.items():
            wall, cpu_s = median(w for w, _ in values), median(c for _, c in values)
            ratio = f"{wall / base:.2f}×" if base else "–"
            rows.append((design, name, f"{wall:.2f}", f"{cpu_s:.2f}", ratio))
    lines.append(table(["site design", "tool", "wall s", "CPU s", "wall vs urlwatch"], rows))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--sample", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-urlwatch", action="store_true")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    loads = [os.getloadavg()[0]]
    cpu = {design: extraction_cpu(design, args.sample, args.rounds) for design in DESIGNS}
    loads.append(os.getloadavg()[0])
    quality = corpus_quality()
    sight: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for design in DESIGNS:
        sight[design] = defaultdict(list)
        for repeat in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="bench_template-") as workdir:
                for name, value in first_sight(args, design, repeat, Path(workdir)).items():
                    sight[design][name].append(value)
            loads.append(os.getloadavg()[0])
    text = report(args, cpu, quality, sight, loads, started)
    print(text)
    if not args.no_docs:
        write_section("bench_template", text)


if __name__ == "__main__":
    main()
