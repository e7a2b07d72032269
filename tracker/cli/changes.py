"""What changed: the changes report, and the diff of two files or stored versions."""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tracker.cli.common import (
    EXIT_DIFF_TROUBLE,
    EXIT_DIFFERENT,
    Format,
    call,
    cli,
    color,
    open_app,
    print_json,
)

if TYPE_CHECKING:
    from tracker.app import App


class ChangesFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"
    atom = "atom"
    html = "html"


@cli.command()
def changes(
    since: Annotated[str, typer.Option(help="A duration back from now (30m, 24h, 7d) or an "
                                       "ISO time.")] = "24h",
    article: Annotated[str | None, typer.Option(help="Only this article URL.")] = None,
    format: Annotated[ChangesFormat, typer.Option("--format", "-f", help="atom: a feed; html: "
                                                  "a self-contained page to mail or archive."
                                                  )] = ChangesFormat.text,
    base_url: Annotated[str | None, typer.Option(help="Where `tracker serve` is reached (e.g. "
                                                 "http://127.0.0.1:8080): Atom entries link to "
                                                 "its diff pages instead of the articles."
                                                 )] = None,
) -> None:
    """The changes report: what changed in each article, paragraph by paragraph."""
    from tracker import report
    from tracker.clock import display_zone
    from tracker.reading import parse_since

    start = call(parse_since, since, zone=display_zone())  # a naive time is in TZ
    if format in (ChangesFormat.atom, ChangesFormat.html):
        typer.echo(call(_changes_document, open_app(), start, article, format, base_url), nl=False)
        return
    if format is ChangesFormat.json:
        print_json(call(report.changes_json, open_app(), start, article))
        return
    entries = call(report.changes, open_app(), start, article)
    if format is ChangesFormat.markdown:
        typer.echo(report.render_markdown(entries), nl=False)
    else:
        typer.echo(report.render_text(entries, color=color()))


def _changes_document(
    tracker_app: App, since: Any, article: str | None, format: ChangesFormat,
    base_url: str | None,
) -> str:
    """``tracker changes --format atom|html``, rendered like the web view's feeds."""
    from tracker.web import atom

    article_id = None
    if article:
        from tracker.articles import tracked_id

        article_id = tracked_id(tracker_app, article)
    items = atom.cli_changes(tracker_app, since, article_id)
    if format is ChangesFormat.atom:
        if base_url:
            from tracker.netguard import check_scheme

            check_scheme(base_url)
        return atom.cli_atom(items, since, base_url)
    from tracker.clock import display_zone

    return atom.render_report(items, since, display_zone())


@cli.command()
def diff(
    old: Annotated[str, typer.Argument(help="A file (.html/.htm extracted, otherwise one "
                                       "paragraph per line) or a stored version URL@N.")],
    new: Annotated[str, typer.Argument(help="Same, for the newer side.")],
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.text,
) -> None:
    """Paragraph-level diff of two files or two stored versions.

    Exit status, as diff(1): 0 no differences, 1 differences found, 2 an error."""
    try:  # any failure to read or compare exits 2, as diff(1): 1 means "they differ"
        view, result = _diff_inputs(old, new)
    except typer.Exit as exc:  # an error meant for users: its line is printed
        raise typer.Exit(EXIT_DIFF_TROUBLE) from exc
    except Exception as exc:
        logging.getLogger("tracker").exception("tracker diff failed")
        raise typer.Exit(EXIT_DIFF_TROUBLE) from exc
    from tracker.render import differs

    if format is Format.json:
        print_json(result.to_json())
    elif format is Format.markdown:
        from tracker.render import render_markdown

        typer.echo(render_markdown(view, heading="###"), nl=False)
    else:
        from tracker.render import render_text

        typer.echo(render_text(view, color=color()), nl=False)
    raise typer.Exit(EXIT_DIFFERENT if differs(view) else 0)


def _diff_inputs(old: str, new: str) -> tuple[Any, Any]:
    """The change view and the typed diff of two ``tracker diff`` inputs. Two versions of one
    stored article are read as every reader of a stored change reads them (the stored diff,
    the stored paragraph kinds); anything else is diffed here."""
    old_ref, new_ref = call(_stored_ref, old), call(_stored_ref, new)
    if old_ref is not None and new_ref is not None and old_ref[0] == new_ref[0]:
        from tracker.reading import stored_change

        view, stored = call(stored_change, open_app(), old_ref[0], old_ref[1], new_ref[1])
        return view, stored
    from tracker.diff import diff_documents
    from tracker.render import change_view

    (old_texts, old_meta), (new_texts, new_meta) = call(_diff_side, old), call(_diff_side, new)
    result = diff_documents(old_texts, new_texts, old_meta, new_meta)
    return change_view(result, old_texts, new_texts), result


def _stored_ref(spec: str) -> tuple[str, int | None] | None:
    """(URL, version number or None for the latest) when ``spec`` names a stored version."""
    if Path(spec).is_file():
        return None
    url, at, number = spec.rpartition("@")
    if at and number.isascii() and number.isdigit() and "://" in url:
        if not (len(number) <= 10 and 1 <= int(number) < 2**31):  # @0: "latest" is URL alone
            raise ValueError(f"{spec}: versions are numbered from 1 (URL alone: the latest)")
        return url, int(number)
    return (spec, None) if "://" in spec else None


def _diff_side(spec: str) -> tuple[list[str], dict[str, Any] | None]:
    ref = _stored_ref(spec)
    if ref is not None:
        from tracker.reading import stored_paragraphs

        return stored_paragraphs(open_app(), *ref)
    path = Path(spec)
    if path.is_file():
        return _file_paragraphs(path)
    raise ValueError(f"{spec}: no such file (stored versions are written URL@N)")


def _file_paragraphs(path: Path) -> tuple[list[str], dict[str, Any] | None]:
    if path.suffix.lower() in {".html", ".htm", ".xhtml"}:
        from tracker.extract import extract_page

        article = extract_page(path.read_bytes(), url=path.resolve().as_uri())
        return article.texts, article.metadata.to_dict()
    from tracker.normalize import split_lines

    try:
        with path.open(encoding="utf-8", errors="replace", newline="") as handle:
            return split_lines(handle.read()), None
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from exc
