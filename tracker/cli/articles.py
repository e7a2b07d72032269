"""Commands on tracked articles: add, remove, list, check, history, show."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tracker.cli.common import (
    EXIT_CHECKS_FAILED,
    Format,
    ListFormat,
    call,
    cli,
    color,
    console,
    echo,
    emit,
    open_app,
    print_json,
    state,
)

if TYPE_CHECKING:
    from tracker.app import App


@cli.command()
def add(
    urls: Annotated[list[str], typer.Argument(help="Article URLs; '-' reads one per line from "
                                              "standard input.")],
    every: Annotated[str | None, typer.Option(help="Check interval: 30s, 10m, 2h, 1d "
                                              "(default 10m; 10s to 365d).")] = None,
    selector: Annotated[str | None, typer.Option(help="CSS selector of the article body, for "
                                                 "pages the generic extractor gets wrong "
                                                 "('' removes it).")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="A tag (repeatable), for subscribers' "
                                                  "--tag filters.")] = None,
) -> None:
    """Start tracking articles.

    Adding a tracked article again changes only what is given: --every and --selector
    replace its own, --tag adds to its tags; its history is kept. A paused or settled
    article is checked again from now on."""
    from tracker.articles import add_articles
    from tracker.intervals import parse_interval

    if urls == ["-"]:
        urls = [line.strip() for line in sys.stdin if line.strip() and not line.startswith("#")]
    interval = call(parse_interval, every) if every else None
    added = call(add_articles, open_app(), urls, interval=interval, selector=selector, tags=tag)
    for url, created in added:
        echo(f"{'added' if created else 'updated'}: {url}")


@cli.command()
def remove(
    urls: Annotated[list[str], typer.Argument(help="Tracked article URLs.")],
    keep_history: Annotated[bool, typer.Option(
        "--keep-history", help="Only stop checking: keep versions, checks and events (shown "
        "as 'paused'; 'tracker add URL' resumes).")] = False,
) -> None:
    """Stop tracking articles and delete everything stored about them.

    Deleted: versions and raw pages, checks, other URLs of the story, events and their
    webhook deliveries (pending ones are not sent). Sources that listed an article keep
    their entry, so it is not tracked again by them. Nothing is deleted when one URL is
    not tracked. No confirmation is asked: use --keep-history to keep the history."""
    from tracker.articles import remove_articles

    for url, counts in call(remove_articles, open_app(), urls, keep_history=keep_history):
        if keep_history:
            echo(f"paused: {url} (history kept)")
            continue
        deleted = ", ".join(f"{counts[kind]} {kind}" for kind in
                            ("versions", "checks", "events", "deliveries") if counts.get(kind))
        echo(f"removed: {url}" + (f" ({deleted} deleted)" if deleted else ""))


@cli.command("list")
def list_(
    format: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.text,
    limit: Annotated[int | None, typer.Option(min=1, max=100_000, help="At most this many "
                                              "(json: next_offset says where the next page "
                                              "starts).")] = None,
    offset: Annotated[int, typer.Option(min=0, max=2**31 - 1, help="Skip this many first "
                                        "(in the order they were added).")] = 0,
) -> None:
    """List tracked articles with their schedule and state."""
    from tracker.reading import list_articles

    data = call(list_articles, open_app(), limit=limit, offset=offset)
    if format is ListFormat.json:
        print_json(data)
        return
    output = _output()
    plain = output.plain_articles(data["articles"])  # piped: drawn without rich's renderables
    if plain is not None:
        typer.echo(plain, nl=False)
        return
    output.print_articles(console(), data["articles"])


@cli.command()
def check(
    urls: Annotated[list[str] | None, typer.Argument(help="Articles to check now "
                                                     "(default: the ones that are due).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Check every tracked article (after "
                                       "polling every source).")] = False,
    concurrency: Annotated[int | None, typer.Option(min=1, max=256, help="Checks at a time "
                                                    "(default 8).")] = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="markdown: with --report "
                                           "only.")] = Format.text,
    report_: Annotated[bool, typer.Option("--report", help="Print the changes this pass "
                                          "found, as `tracker changes` does (text or "
                                          "markdown: nothing when nothing changed; json: "
                                          "under \"changes\"); failed checks go to "
                                          "standard error.")] = False,
) -> None:
    """One pass over the due (or the named, or all) articles; sources are polled first.

    Exit status: 0 every check and poll went through (changed or not), 3 at least one
    failed (failed, no_content, shrunk, gone), 1 an error stopped the pass (bad input, database), 2
    a command-line usage error. A failed check is printed once, in the summary."""
    from tracker.passes import check_and_notify

    if format is Format.markdown and not report_:
        raise typer.BadParameter("markdown is the format of a report: add --report",
                                 param_hint="--format")
    if not state.get("verbose"):  # each failure is in the summary: not in a log line as well
        for name in ("tracker.check", "tracker.polls"):
            logging.getLogger(name).setLevel(logging.ERROR)
    tracker_app = open_app()
    try:
        started = call(_pass_start)
        watch = _progress_bar() if format is Format.text and not report_ else None
        results, deliveries, polls = call(
            check_and_notify, tracker_app, urls or [], all_=all_, concurrency=concurrency,
            watch=watch,
        )
        entries = (call(_pass_changes, tracker_app, started, results, format)
                   if report_ else None)
    finally:
        tracker_app.close()
    _print_check(format, results, deliveries, polls, entries)
    if any(not r.ok for r in results) or any(p.outcome == "failed" for p in polls):
        raise typer.Exit(EXIT_CHECKS_FAILED)


def _progress_bar() -> Any:
    """The progress bar of a check pass, when standard error is a terminal."""
    if not sys.stderr.isatty():
        return None
    from tracker.cli.output import progress_bar

    return progress_bar


def _pass_start() -> Any:
    from tracker.clock import utcnow

    return utcnow()


def _pass_changes(tracker_app: App, started: Any, results: Any, format: Format) -> list[Any]:
    """The change entries of the versions this pass stored (``tracker check --report``), for
    JSON already in their JSON form. A pass that stored none (all unchanged, or all first
    seen: a first version is no change) reads nothing back and does not load the report's
    machinery."""
    stored = {(r.article_id, r.version) for r in results
              if r.outcome in {"changed", "minor"} and r.version is not None}  # fmt: skip
    if not stored:
        return []
    from tracker import report

    if format is Format.json:
        return list(report.changes_json(tracker_app, started, only=stored)["changes"])
    return report.changes(tracker_app, started, only=stored)


def _print_check(
    format: Format, results: Any, deliveries: Any, polls: Any,
    entries: list[Any] | None,
) -> None:
    """The pass's summary, or with --report its changes (failures then go to stderr)."""
    if format is Format.json:
        from tracker.cli.output import check_results_json

        data = check_results_json(results, deliveries, polls)
        if entries is not None:  # already in their JSON form
            data["changes"] = entries
        print_json(data)
        return
    if entries is None:
        from tracker.cli.output import print_check_summary

        print_check_summary(console(), results, deliveries, polls)
        return
    if any(not r.ok for r in (*results, *polls)):  # rich is loaded for failures only
        from tracker.cli.output import print_failures

        print_failures(console(stderr=True), results, polls)
    if entries:
        from tracker import report

        text = (report.render_markdown(entries) if format is Format.markdown
                else report.render_text(entries, color=color()))  # fmt: skip
        typer.echo(text, nl=format is not Format.markdown)


@cli.command()
def history(
    url: Annotated[str, typer.Argument(help="A tracked article URL.")],
    format: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.text,
) -> None:
    """Versions of an article and its recent checks."""
    from tracker.reading import history as history_of

    data = call(history_of, open_app(), url)
    emit(data, format, lambda console: _output().print_history(console, data))


@cli.command()
def show(
    url: Annotated[str, typer.Argument(help="A tracked article URL.")],
    version: Annotated[int | None, typer.Option("--version", "-n", min=1, max=2**31 - 1,
                                                help="Version number (default: latest).")] = None,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.text,
) -> None:
    """Print a stored version of an article."""
    from tracker.reading import show as show_version

    data = call(show_version, open_app(), url, version)
    if format is Format.json:
        print_json(data)
        return
    # plain text, no console: rich is not imported
    typer.echo(_output().render_version(data, markdown=format is Format.markdown))


def _output() -> Any:
    """The renderers for people (tracker.cli.output), imported only when text is printed."""
    from tracker.cli import output

    return output
