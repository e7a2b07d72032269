"""What tracker would store for a page (docs/extract.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tracker.cli.common import (
    ListFormat,
    call,
    cli,
    emit,
    open_app,
)

if TYPE_CHECKING:
    pass


@cli.command()
def extract(
    source: Annotated[str, typer.Argument(help="An HTML (or .txt) file, or an http(s) URL to "
                                          "fetch as a check would.")],
    selector: Annotated[str | None, typer.Option(help="CSS selector of the article body, as "
                                                 "with add --selector.")] = None,
    ignore: Annotated[list[str] | None, typer.Option(
        "--ignore", help="Regular expression (repeatable) of paragraphs to drop, as with host "
        "set --ignore.")] = None,
    ignore_selector: Annotated[list[str] | None, typer.Option(
        "--ignore-selector", help="CSS selector (repeatable) of elements to remove first.")] =
        None,
    explain: Annotated[bool, typer.Option("--explain", help="Also show what was left out, and "
                                          "which rule left it out.")] = False,
    format: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.text,
) -> None:
    """Show what tracker would store for a page: numbered paragraphs, metadata, lead image.

    The tool for trying a --selector or host rules before setting them. Rules stored for the
    host are not applied: give them as options."""
    from tracker.rules import IgnoreRules, check_pattern, check_selector

    for value in [*(ignore_selector or []), *([selector] if selector else [])]:
        call(check_selector, value, "--ignore-selector" if value != selector else "--selector")
    rules = IgnoreRules(tuple(call(check_pattern, p) for p in ignore or []),
                        tuple(ignore_selector or []))
    url, extraction = call(_extract_source, source, selector, rules)
    emit({"url": url, **_extraction_json(extraction, explain)}, format,
         lambda _: typer.echo(f"{url}\n{_extraction_text(extraction, explain)}", nl=False))


def _extract_source(spec: str, selector: str | None, rules: Any) -> tuple[str, Any]:
    """(URL, extraction) of a file, or of a URL fetched with the same guards as a check."""
    from tracker.extract import explain_page

    path = Path(spec)
    if "://" not in spec:
        if not path.is_file():
            raise ValueError(f"{spec}: no such file (pages on the web are given as http(s) URLs)")
        media_type = "text/plain" if path.suffix.lower() == ".txt" else "text/html"
        url = path.resolve().as_uri()
        return url, explain_page(path.read_bytes(), url=url, media_type=media_type,
                                 selector=selector, ignore=rules or None)
    from tracker.fetch import Fetcher

    settings = open_app().settings
    fetcher = Fetcher(settings)  # no stored host rates: nothing here opens the database
    try:
        page = fetcher.fetch(spec)
    finally:
        fetcher.close()
    return page.url, explain_page(page.body, url=page.url, media_type=page.media_type,
                                  charset=page.charset, selector=selector,
                                  fast=settings.fast_extraction, ignore=rules or None)


def _extraction_json(extraction: Any, explain: bool) -> dict[str, Any]:
    article = extraction.article
    data: dict[str, Any] = {
        "extractor": article.extractor, "source": extraction.source,
        "source_detail": extraction.detail or None, "metadata": article.metadata.to_dict(),
        "paragraphs": [{"number": n, "kind": p.kind, "text": p.text}
                       for n, p in enumerate(article.paragraphs, start=1)],
    }
    if explain:
        data["dropped"] = [{"rule": d.rule, "text": d.text} for d in extraction.dropped]
    return data


def _extraction_text(extraction: Any, explain: bool) -> str:
    article, meta = extraction.article, extraction.article.metadata
    detail = f" ({extraction.detail})" if extraction.detail else ""
    lines = [f"body from: {extraction.source}{detail}", f"extractor: {article.extractor}"]
    fields = [("title", meta.title), ("byline", meta.byline), ("published", meta.published),
              ("updated", meta.updated), ("language", meta.language),
              ("canonical", meta.canonical_url), ("lead image", meta.lead_image),
              ("lead caption", meta.lead_caption)]
    lines += [f"{name}: {value}" for name, value in fields if value]
    lines.append("")
    width = len(str(len(article.paragraphs)))
    lines += [f"¶{n:<{width}} {p.kind:<8} {p.text}"
              for n, p in enumerate(article.paragraphs, start=1)]
    if explain:
        lines += ["", f"left out ({len(extraction.dropped)}):"]
        lines += [f"  {d.rule}: {d.text}" for d in extraction.dropped]
    return "\n".join(lines) + "\n"
