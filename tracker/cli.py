"""The ``tracker`` command line.

Heavy modules (SQLAlchemy, httpx, trafilatura) are imported inside the commands that use them,
so ``tracker --help`` and a diff of two text files start fast. Errors meant for the user
(``TrackerError``, bad arguments) and database errors print one clear line and exit 1; nothing
else is caught. ``tracker check`` exits 3 when a check failed (docs/usage.md). Everything
printed that may come from the web goes through ``tracker.terminal``.
"""

from __future__ import annotations

import logging
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from db.states import EventType

if TYPE_CHECKING:
    from tracker.app import App

cli = typer.Typer(
    name="tracker",
    help="Watch developing news stories and report exactly what changed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Click's plain help and usage errors: typer's rich panels import Markdown and syntax
    # highlighting, about half of `tracker --help`'s time (docs/benchmarks.md, start-up).
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Format(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


class ListFormat(StrEnum):
    text = "text"
    json = "json"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


MetricsOption = Annotated[
    str | None,
    typer.Option("--metrics-port", metavar="[HOST:]PORT", help="Serve Prometheus metrics on "
                 "http://HOST:PORT/metrics (host default 127.0.0.1; docs/operations.md).",
                 show_default=False),
]


_state: dict[str, Any] = {}
# Exit statuses (docs/usage.md): 0 success; 1 an error said in one line (bad input, database);
# 2 a command-line usage error (Click's own); 3 tracker check: some checks or polls failed.
EXIT_ERROR = 1
EXIT_CHECKS_FAILED = 3
# tracker diff only, as diff(1): 1 the inputs differ, 2 trouble (also for bad input).
EXIT_DIFFERENT = 1
EXIT_DIFF_TROUBLE = 2

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL: sqlite:///PATH or postgresql://USER@HOST/NAME "
                 "(default: $TRACKER_DATABASE_URL, then a SQLite file in "
                 "~/.local/share/tracker/). A new SQLite file is made only by "
                 "'tracker migrate'.", show_default=False),
]


@cli.callback()
def _main(
    db: DbOption = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True,
                                         help="More log output (-vv for debug).")] = 0,
    log_format: Annotated[LogFormat | None, typer.Option(
        "--log-format", help="Log lines as text, or as JSON objects for log shippers "
        "(default: $TRACKER_LOG_FORMAT, else text).", show_default=False)] = None,
) -> None:
    from tracker import logs

    _state["db"], _state["verbose"] = db, verbose
    if log_format is not None:  # also for the Celery processes a command hands over to
        os.environ["TRACKER_LOG_FORMAT"] = log_format.value
    try:
        logs.configure(max(logging.WARNING - 10 * verbose, logging.DEBUG))
    except ValueError as exc:  # a TRACKER_LOG_FORMAT that is neither
        _fail(str(exc))


def _app(*, create: bool = False) -> App:
    from tracker.app import App
    from tracker.config import load_settings

    try:
        settings = load_settings(database_url=_state.get("db"))
    except ValueError as exc:
        _fail(str(exc))
    # Only the default database is made on first use; another one is made by `tracker migrate`
    # or by a command whose point is to fill a new database (`create`: `tracker import`).
    return App(settings, create_database=create or not settings.database_url)


def _fail(message: str) -> NoReturn:
    from tracker.terminal import printable

    typer.echo(f"tracker: error: {printable(message)}", err=True)
    raise typer.Exit(EXIT_ERROR)


def _run(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a use case, turning the errors meant for users, and database errors, into one
    clear line (exit status 1)."""
    from tracker.errors import TrackerError

    try:
        return function(*args, **kwargs)
    except (TrackerError, ValueError) as exc:
        _fail(str(exc))
    except Exception as exc:
        problem = _database_problem(exc)
        if problem is None:
            raise
        logging.getLogger("tracker").debug("database error", exc_info=True)
        _fail(problem)


def _database_problem(exc: Exception) -> str | None:
    """One line for a database error, None for anything else. Looked up in sys.modules: a
    command that never touched the database has not imported SQLAlchemy, and need not."""
    session = sys.modules.get("db.session")
    errors = sys.modules.get("sqlalchemy.exc")
    if session is None or not (isinstance(exc, session.DatabaseProblem) or (
            errors is not None and isinstance(exc, errors.SQLAlchemyError))):
        return None
    return str(session.explain(exc))


def _print_json(data: Any) -> None:
    from tracker.terminal import json_text

    typer.echo(json_text(data))


def _echo(text: str) -> None:
    """One line that may hold text from the web or a user: printed with controls escaped."""
    from tracker.terminal import printable

    typer.echo(printable(text))


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, emoji=False)


# --- articles -------------------------------------------------------------------------------


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
    interval = _run(parse_interval, every) if every else None
    added = _run(add_articles, _app(), urls, interval=interval, selector=selector, tags=tag)
    for url, created in added:
        _echo(f"{'added' if created else 'updated'}: {url}")


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

    for url, counts in _run(remove_articles, _app(), urls, keep_history=keep_history):
        if keep_history:
            _echo(f"paused: {url} (history kept)")
            continue
        deleted = ", ".join(f"{counts[kind]} {kind}" for kind in
                            ("versions", "checks", "events", "deliveries") if counts.get(kind))
        _echo(f"removed: {url}" + (f" ({deleted} deleted)" if deleted else ""))


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
    from tracker.articles import list_articles

    data = _run(list_articles, _app(), limit=limit, offset=offset)
    if format is ListFormat.json:
        _print_json(data)
        return
    from tracker.views import articles_table

    console = _console()
    if not sys.stdout.isatty():  # piped: one line per article, whatever its width
        console.width = 100_000
    console.print(articles_table(data["articles"]))


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
    from tracker.views import check_and_notify

    if format is Format.markdown and not report_:
        raise typer.BadParameter("markdown is the format of a report: add --report",
                                 param_hint="--format")
    if not _state.get("verbose"):  # each failure is in the summary: not in a log line as well
        for name in ("tracker.check", "tracker.polls"):
            logging.getLogger(name).setLevel(logging.ERROR)
    tracker_app = _app()
    try:
        started = _run(_pass_start)
        results, deliveries, polls = _run(
            check_and_notify, tracker_app, urls or [], all_=all_, concurrency=concurrency,
            progress=format is Format.text and not report_ and sys.stderr.isatty(),
        )
        entries = _run(_pass_changes, tracker_app, started, results) if report_ else None
    finally:
        tracker_app.close()
    _print_check(format, results, deliveries, polls, entries)
    if any(not r.ok for r in results) or any(p.outcome == "failed" for p in polls):
        raise typer.Exit(EXIT_CHECKS_FAILED)


def _pass_start() -> Any:
    from tracker.clock import utcnow

    return utcnow()


def _pass_changes(tracker_app: App, started: Any, results: Any) -> list[Any]:
    """The change entries of the versions this pass stored (``tracker check --report``)."""
    from tracker import report

    stored = {(r.article_id, r.version) for r in results
              if r.outcome in {"changed", "minor"} and r.version is not None}  # fmt: skip
    return report.changes(tracker_app, started, only=stored)


def _print_check(
    format: Format, results: Any, deliveries: Any, polls: Any,
    entries: list[Any] | None,
) -> None:
    """The pass's summary, or with --report its changes (failures then go to stderr)."""
    if format is Format.json:
        from tracker import report
        from tracker.views import check_results_json

        data = check_results_json(results, deliveries, polls)
        _print_json(data if entries is None else data | report.to_json(entries))
        return
    if entries is None:
        from tracker.views import print_check_summary

        print_check_summary(_console(), results, deliveries, polls)
        return
    from tracker.views import print_failures

    print_failures(_console(stderr=True), results, polls)
    if entries:
        from tracker import report

        text = (report.render_markdown(entries) if format is Format.markdown
                else report.render_text(entries, color=_color()))  # fmt: skip
        typer.echo(text, nl=format is not Format.markdown)


@cli.command()
def history(
    url: Annotated[str, typer.Argument(help="A tracked article URL.")],
    format: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.text,
) -> None:
    """Versions of an article and its recent checks."""
    from tracker.articles import history as history_of

    data = _run(history_of, _app(), url)
    if format is ListFormat.json:
        _print_json(data)
        return
    from tracker.views import print_history

    print_history(_console(), data)


@cli.command()
def show(
    url: Annotated[str, typer.Argument(help="A tracked article URL.")],
    version: Annotated[int | None, typer.Option("--version", "-n", min=1, max=2**31 - 1,
                                                help="Version number (default: latest).")] = None,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.text,
) -> None:
    """Print a stored version of an article."""
    from tracker.articles import show as show_version

    data = _run(show_version, _app(), url, version)
    if format is Format.json:
        _print_json(data)
        return
    from tracker.views import render_version

    typer.echo(render_version(data, markdown=format is Format.markdown))


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
    from tracker.articles import parse_since
    from tracker.clock import display_zone

    start = _run(parse_since, since, zone=display_zone())  # a naive time is in TZ
    if format in (ChangesFormat.atom, ChangesFormat.html):
        typer.echo(_run(_changes_document, _app(), start, article, format, base_url), nl=False)
        return
    entries = _run(report.changes, _app(), start, article)
    if format is ChangesFormat.json:
        _print_json(report.to_json(entries))
    elif format is ChangesFormat.markdown:
        typer.echo(report.render_markdown(entries), nl=False)
    else:
        typer.echo(report.render_text(entries, color=_color()))


def _changes_document(
    tracker_app: App, since: Any, article: str | None, format: ChangesFormat,
    base_url: str | None,
) -> str:
    """``tracker changes --format atom|html``, rendered like the web view's feeds."""
    from tracker.web import atom

    article_id = None
    if article:
        from db.session import session_scope
        from tracker.articles import find_article
        from tracker.identity import clean_url

        with session_scope(tracker_app.reader) as session:
            article_id = find_article(session, clean_url(article)).id
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
        _print_json(result.to_json())
    elif format is Format.markdown:
        from tracker.render import render_markdown

        typer.echo(render_markdown(view, heading="###"), nl=False)
    else:
        from tracker.render import render_text

        typer.echo(render_text(view, color=_color()), nl=False)
    raise typer.Exit(EXIT_DIFFERENT if differs(view) else 0)


def _diff_inputs(old: str, new: str) -> tuple[Any, Any]:
    """The change view and the typed diff of two ``tracker diff`` inputs. Two versions of one
    stored article are read as every reader of a stored change reads them (the stored diff,
    the stored paragraph kinds); anything else is diffed here."""
    old_ref, new_ref = _run(_stored_ref, old), _run(_stored_ref, new)
    if old_ref is not None and new_ref is not None and old_ref[0] == new_ref[0]:
        from tracker.report import stored_change

        view, stored = _run(stored_change, _app(), old_ref[0], old_ref[1], new_ref[1])
        return view, stored
    from tracker.diff import diff_documents
    from tracker.render import change_view

    (old_texts, old_meta), (new_texts, new_meta) = _run(_diff_side, old), _run(_diff_side, new)
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
        from tracker.articles import stored_paragraphs

        return stored_paragraphs(_app(), *ref)
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


def _color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


# --- what tracker would store for a page (docs/extract.md) ----------------------------------


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
        _run(check_selector, value, "--ignore-selector" if value != selector else "--selector")
    rules = IgnoreRules(tuple(_run(check_pattern, p) for p in ignore or []),
                        tuple(ignore_selector or []))
    url, extraction = _run(_extract_source, source, selector, rules)
    if format is ListFormat.json:
        _print_json({"url": url, **_extraction_json(extraction, explain)})
        return
    typer.echo(f"{url}\n{_extraction_text(extraction, explain)}", nl=False)


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

    settings = _app().settings
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


# --- per-host rules -------------------------------------------------------------------------

host_cli = typer.Typer(help="Rules for one site: body selector, what to ignore, rate, threshold.",
                       no_args_is_help=True)
cli.add_typer(host_cli, name="host")


@host_cli.command("set")
def host_set(
    host: Annotated[str, typer.Argument(help="Host name (www.example.com) or a URL on it.")],
    selector: Annotated[str | None, typer.Option(help="CSS selector of the article body on "
                                                 "this host (an article's own wins); '' "
                                                 "removes it.")] = None,
    ignore: Annotated[list[str] | None, typer.Option(
        "--ignore", help="Regular expression (repeatable): paragraphs it matches anywhere are "
        "not article text; anchor with ^…$ for whole paragraphs.")] = None,
    ignore_selector: Annotated[list[str] | None, typer.Option(
        "--ignore-selector", help="CSS selector (repeatable) of elements removed before the "
        "text is extracted.")] = None,
    rate: Annotated[float | None, typer.Option(help="Requests per minute to this host.")] = None,
    notify_threshold: Annotated[int | None, typer.Option(
        help="Changes of fewer words than this are stored but not notified (0: all are).")] =
        None,
    clear: Annotated[bool, typer.Option("--clear", help="Drop the host's rules first; alone, "
                                        "remove them.")] = False,
) -> None:
    """Set rules for a host; new ignore rules add to the old ones (use --clear to replace)."""
    from tracker.hosts import set_host

    rules = _run(set_host, _app(), host, selector=selector, ignore=ignore or [],
                 ignore_selectors=ignore_selector or [], rate=rate,
                 notify_threshold=notify_threshold, clear=clear)
    if rules is None:
        typer.echo(f"cleared: {host}")
        return
    from tracker.views import rules_text

    _echo(f"{rules['host']}: {rules_text(rules)}")
    done = rules.get("rebaselined")
    if done is None:
        typer.echo("saved")
        return
    typer.echo(f"re-baselined {done['now']} article(s) from their stored pages"
               + (f"; {done['later']} more at their next check" if done["later"] else ""))


@host_cli.command("show")
def host_show(
    host: Annotated[str, typer.Argument(help="Host name (www.example.com) or a URL on it.")],
    format: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.text,
) -> None:
    """A host's rules and its learned article template."""
    from tracker.hosts import show_host

    data = _run(show_host, _app(), host)
    if format is ListFormat.json:
        _print_json(data)
        return
    from tracker.views import rules_text, template_text

    template = data["template"]
    lines = [data["host"], f"articles: {data['articles']}", f"rules: {rules_text(data)}",
             f"template: {template_text(template)}"]
    lines += [f"  paragraphs: {path}" for path in (template or {}).get("paragraphs", [])]
    for line in lines:
        _echo(line)


@cli.command()
def hosts(
    format: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.text,
) -> None:
    """Hosts with rules or tracked articles, and their rules."""
    from tracker.hosts import list_hosts

    data = _run(list_hosts, _app())
    if format is ListFormat.json:
        _print_json(data)
        return
    from tracker.views import hosts_table

    _console().print(hosts_table(data["hosts"]))


# --- sources: feeds and sitemaps -----------------------------------------------------------

source_cli = typer.Typer(help="Follow feeds and sitemaps: what they list is tracked.",
                         no_args_is_help=True)
cli.add_typer(source_cli, name="source")


@source_cli.command("add")
def source_add(
    url: Annotated[str, typer.Argument(help="An RSS or Atom feed, a news sitemap or a sitemap "
                                       "index.")],
    match: Annotated[str | None, typer.Option(help="Only entries whose URL matches this "
                                              "regular expression ('' removes it).")] = None,
    keyword: Annotated[list[str] | None, typer.Option(help="Only entries with this word in "
                                                      "their title or summary (repeatable: "
                                                      "any of them; case-insensitive; '' "
                                                      "removes them).")] = None,
    every: Annotated[str | None, typer.Option(help="Poll interval (default 5m).")] = None,
    article_every: Annotated[str | None, typer.Option(help="Check interval of the articles it "
                                                      "finds (default 10m).")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="A tag given to the articles it finds "
                                                  "(repeatable).")] = None,
) -> None:
    """Follow a feed or sitemap: each new entry becomes a tracked article.

    Adding a followed source again changes only what is given: --match, --keyword,
    --every and --article-every replace its own, --tag adds to its tags."""
    from tracker.intervals import parse_interval
    from tracker.sources import add_source

    interval = _run(parse_interval, every) if every else None
    article_interval = _run(parse_interval, article_every) if article_every else None
    added, created = _run(add_source, _app(), url, match=match, keywords=keyword,
                          tags=tag or [], interval=interval, article_interval=article_interval)
    _echo(f"{'added' if created else 'updated'} source: {added}")


@source_cli.command("remove")
def source_remove(
    urls: Annotated[list[str], typer.Argument(help="Source URLs.")],
) -> None:
    """Stop following sources (the articles they found stay tracked)."""
    from tracker.sources import remove_source

    count = _run(remove_source, _app(), urls)
    typer.echo(f"removed {count} source(s)")


@cli.command()
def sources(
    format: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.text,
) -> None:
    """List followed feeds and sitemaps: filters, entries, articles found, schedule, errors."""
    from tracker.sources import list_sources

    data = _run(list_sources, _app())
    if format is ListFormat.json:
        _print_json(data)
        return
    from tracker.views import sources_table

    _console().print(sources_table(data["sources"]))


# --- the embedded service -------------------------------------------------------------------


@cli.command()
def run(
    concurrency: Annotated[int | None, typer.Option(min=1, max=256,
                                                    help="Checks at a time.")] = None,
    serve: Annotated[str | None, typer.Option("--serve", metavar="[HOST:]PORT", help="Also "
                                              "serve the web view on this address (host "
                                              "default 127.0.0.1), in the same process.")] = None,
    metrics_port: MetricsOption = None,
) -> None:
    """Check due articles on their schedules until stopped (Ctrl-C or SIGTERM).

    The embedded service: no broker, no workers. A stop lets the checks in progress finish."""
    from tracker.views import serve_forever

    tracker_app = _app()
    if metrics_port:
        from tracker import metrics

        address = _metrics_address(metrics_port)
        _run(metrics.serve, address.port, tracker_app, host=address.host)
    web = _run(_start_web, tracker_app, serve) if serve else None
    try:
        _run(serve_forever, tracker_app, concurrency=concurrency)
    finally:
        if web is not None:
            web.stop()


# --- the web view ---------------------------------------------------------------------------


def _metrics_address(text: str) -> Any:
    from tracker.service import metrics_address

    return _run(metrics_address, text)


def _start_web(tracker_app: App, address: str) -> Any:
    from tracker.web.server import BackgroundServer, parse_address

    web = BackgroundServer(tracker_app, parse_address(address)).start()
    _announce_web(web.address)
    return web


def _announce_web(address: Any) -> None:
    typer.echo(f"web view: {address.url}")
    if address.host not in ("127.0.0.1", "::1", "localhost"):
        typer.echo(f"note: listening on {address.host}: whoever reaches this machine can read "
                   "the tracked articles", err=True)
    sys.stdout.flush()


@cli.command("serve")
def serve_web(
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine "
                                      "only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = 8080,
) -> None:
    """Serve the web view, JSON API and Atom feeds of the database (read-only) until stopped."""
    from tracker.web.server import Address, serve_foreground

    _run(serve_foreground, _app(), Address(host, port), on_ready=_announce_web)


# --- notifications --------------------------------------------------------------------------


@cli.command()
def subscribe(
    url: Annotated[str, typer.Argument(help="The subscriber's webhook URL (https://…).")],
    events: Annotated[str | None, typer.Option(help="Comma-separated event types (default: "
                                               f"all): {', '.join(EventType)}.")] = None,
    article: Annotated[str | None, typer.Option(help="Only this article.")] = None,
    host: Annotated[str | None, typer.Option(help="Only articles on this host.")] = None,
    tag: Annotated[str | None, typer.Option(help="Only articles with this tag.")] = None,
) -> None:
    """Send signed webhooks to URL when tracked articles change; prints the secret once."""
    from tracker.subscriptions import subscribe as add_subscriber

    chosen = [e.strip() for e in events.split(",") if e.strip()] if events else None
    created = _run(add_subscriber, _app(), url, events=chosen, article=article, host=host,
                   tag=tag)
    _echo(f"subscriber {created.endpoint_id}: {created.url}")
    typer.echo(f"signing secret (shown once, keep it safe): {created.secret}")
    _warn_plain(created.encrypted)


def _warn_plain(encrypted: bool, what: str = "secret") -> None:
    if not encrypted:
        typer.echo(f"tracker: warning: the {what} is stored unencrypted: set secret_key "
                   "(TRACKER_SECRET_KEY, from 'tracker secrets generate-key') on every process "
                   "using this database, then run 'tracker secrets encrypt'", err=True)


@cli.command()
def subscribers(
    format: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.text,
) -> None:
    """List webhook subscribers, their filters and health."""
    from tracker.subscriptions import subscribers as list_subscribers

    data = _run(list_subscribers, _app())
    if format is ListFormat.json:
        _print_json(data)
        return
    from tracker.views import print_subscribers

    print_subscribers(_console(), data["subscribers"])


@cli.command()
def unsubscribe(
    endpoint: Annotated[str, typer.Argument(help="Subscriber id or URL.")],
) -> None:
    """Remove a webhook subscriber."""
    from tracker.subscriptions import unsubscribe as remove_subscriber

    _echo(f"removed: {_run(remove_subscriber, _app(), endpoint)}")


@cli.command("enable-subscriber")
def enable_subscriber(
    endpoint: Annotated[str, typer.Argument(help="Subscriber id or URL.")],
) -> None:
    """Enable a disabled subscriber again (one disabled after 410 Gone or days of failures).

    Deliveries cancelled while it was disabled are not sent by themselves: queue them with
    'tracker redeliver --failed'."""
    from tracker.subscriptions import enable

    url, gave_up = _run(enable, _app(), endpoint)
    _echo(f"enabled: {url}")
    if gave_up:
        typer.echo(f"{gave_up} delivery(ies) failed or were cancelled meanwhile: "
                   "tracker redeliver --failed sends them again")


@cli.command("rotate-secret")
def rotate_secret(
    endpoint: Annotated[str, typer.Argument(help="Subscriber id or URL.")],
    grace: Annotated[str, typer.Option(help="How long the old secret keeps signing too.")] =
        "24h",
) -> None:
    """Give a subscriber a new signing secret; old and new both sign during the grace period."""
    import datetime as dt

    from tracker.intervals import parse_duration
    from tracker.subscriptions import rotate_secret as rotate

    seconds = _run(parse_duration, grace)
    created = _run(rotate, _app(), endpoint, grace=dt.timedelta(seconds=seconds))
    _echo(f"subscriber {created.endpoint_id}: {created.url}")
    typer.echo(f"new signing secret (shown once): {created.secret}")
    _warn_plain(created.encrypted)


notify_cli = typer.Typer(help="Notification channels (chat, push, e-mail) through Apprise "
                         "URLs: ntfy://, mailto://, slack://, discord:// and 100+ more.",
                         no_args_is_help=True)
cli.add_typer(notify_cli, name="notify")


@notify_cli.command("add")
def notify_add(
    url: Annotated[str, typer.Argument(help="An Apprise URL: ntfy://host/topic, "
                                       "mailto://user:pass@example.com?to=…, slack://… "
                                       "(see docs/notify.md).")],
    name: Annotated[str | None, typer.Option(help="The channel's name (default: from the "
                                             "URL's scheme).")] = None,
    events: Annotated[str | None, typer.Option(help="Comma-separated event types (default: "
                                               "all).")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Only articles with this tag "
                                                  "(repeatable: any of them).")] = None,
    host: Annotated[list[str] | None, typer.Option(help="Only articles on this host "
                                                   "(repeatable).")] = None,
    article: Annotated[list[str] | None, typer.Option(help="Only this article "
                                                      "(repeatable).")] = None,
    min_words: Annotated[int | None, typer.Option(help="Only changes of at least this many "
                                                  "changed words.")] = None,
    digest: Annotated[str | None, typer.Option(help="One message per period (e.g. 1h) "
                                               "instead of one per event.")] = None,
) -> None:
    """Send readable change messages to a chat, push or e-mail channel."""
    from tracker.channels import add_channel

    chosen = [e.strip() for e in events.split(",") if e.strip()] if events else None
    created = _run(add_channel, _app(), url, name=name, events=chosen, tags=tag, hosts=host,
                   articles=article, min_words=min_words, digest=digest)
    _echo(f"channel {created.name}: {created.masked_url}")
    _warn_plain(created.encrypted, "channel URL")


@notify_cli.command("list")
def notify_list(
    format: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.text,
) -> None:
    """List channels (URLs masked), their filters and health."""
    from tracker.channels import channels

    data = _run(channels, _app())
    if format is ListFormat.json:
        _print_json(data)
        return
    from tracker.views import print_channels

    print_channels(_console(), data["channels"])


@notify_cli.command("remove")
def notify_remove(name: Annotated[str, typer.Argument(help="Channel name or id.")]) -> None:
    """Remove a channel (its pending messages are not sent)."""
    from tracker.channels import remove_channel

    _echo(f"removed: {_run(remove_channel, _app(), name)}")


@notify_cli.command("pause")
def notify_pause(name: Annotated[str, typer.Argument(help="Channel name or id.")]) -> None:
    """Mute a channel: nothing is sent to it until it is resumed (events meanwhile are
    not queued for it)."""
    from tracker.channels import pause

    _run(pause, _app(), name)
    _echo(f"paused: {name}")


@notify_cli.command("resume")
def notify_resume(name: Annotated[str, typer.Argument(help="Channel name or id.")]) -> None:
    """Send to a paused channel again, or to one disabled after days of failures."""
    from tracker.channels import resume

    gave_up = _run(resume, _app(), name)
    _echo(f"resumed: {name}")
    if gave_up:
        typer.echo(f"{gave_up} message(s) failed or were cancelled meanwhile: "
                   "tracker redeliver --failed sends them again")


@notify_cli.command("test")
def notify_test(name: Annotated[str, typer.Argument(help="Channel name or id.")]) -> None:
    """Send a test message to a channel now."""
    from tracker.channels import send_test

    sent = _run(send_test, _app(), name)
    if not sent.ok:
        _fail(f"channel {name}: not sent: {sent.error}")
    _echo(f"sent a test message to {name} ({sent.latency_ms} ms)")


secrets_cli = typer.Typer(help="Webhook signing secrets at rest: encrypt them, make and "
                          "rotate keys.", no_args_is_help=True)
cli.add_typer(secrets_cli, name="secrets")


@secrets_cli.command("encrypt")
def secrets_encrypt() -> None:
    """Encrypt every stored signing secret under the current key (the first one).

    Run it once a key is set, to encrypt secrets stored plain before, and after putting a new
    key first in secret_key, to re-encrypt under it (then drop the old key). With a SQLite
    database and no secret_key, the key file (~/.local/share/tracker/secret.key) is made if
    needed, and the database file is made readable by its owner only."""
    from db.sqlite import restrict_sqlite_file
    from tracker.subscriptions import encrypt_secrets

    tracker_app = _app()
    done = _run(encrypt_secrets, tracker_app)
    typer.echo(f"encrypted {done.changed} of {done.secrets} stored secret(s) "
               "(the others were encrypted under the current key already)")
    for path in restrict_sqlite_file(tracker_app.settings.resolved_database_url):
        _echo(f"made {path} readable by its owner only")


@secrets_cli.command("generate-key")
def secrets_generate_key() -> None:
    """Print a new key for secret_key (TRACKER_SECRET_KEY); nothing is stored."""
    from tracker.webhooks.secrets import generate_key

    typer.echo(generate_key())


@secrets_cli.command("rotate-key")
def secrets_rotate_key() -> None:
    """Replace the key file's key: every secret is re-encrypted under a new key, then the old
    key is dropped (for keys given in secret_key: put the new one first, run 'tracker secrets
    encrypt', then drop the old one)."""
    from tracker.subscriptions import rotate_key_file

    done = _run(rotate_key_file, _app())
    typer.echo(f"new key in place; {done.changed} secret(s) re-encrypted under it")


@cli.command()
def deliveries(
    failed: Annotated[bool, typer.Option("--failed", help="Only deliveries that gave up.")] =
        False,
    endpoint: Annotated[str | None, typer.Option(help="Only this subscriber (id or URL, or a "
                                                 "channel's name).")] =
        None,
    format: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.text,
) -> None:
    """Webhook deliveries and every attempt made (status, latency, response)."""
    from tracker.delivery import list_deliveries

    data = _run(list_deliveries, _app(), failed=failed, endpoint=endpoint)
    if format is ListFormat.json:
        _print_json(data)
        return
    from tracker.views import print_deliveries

    print_deliveries(_console(), data["deliveries"])


@cli.command()
def redeliver(
    event: Annotated[str | None, typer.Argument(help="An event id (evt_…).")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Every delivery that gave up "
                                         "(failed, or cancelled by a disabled subscriber).")] =
        False,
) -> None:
    """Queue deliveries again: those of one event, or all that gave up (failed or cancelled).

    Deliveries to disabled subscribers are left alone (they could not be sent): enable the
    subscriber first with 'tracker enable-subscriber ID'."""
    from tracker.delivery import redeliver as queue_again

    if (event is None) == (not failed):
        _fail("name an event id, or use --failed")
    done = _run(queue_again, _app(), event_uid=event, failed=failed)
    typer.echo(f"queued {done.queued} delivery(ies) again")
    if done.disabled:
        ids = ", ".join(map(str, done.disabled))
        typer.echo(f"not queued: those to disabled subscriber(s) {ids} (enable them first: "
                   f"tracker enable-subscriber ID)")


# --- the background service ----------------------------------------------------------------


@cli.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(min=1, max=256, help="Worker processes "
                                                    "(default: the CPUs this container or "
                                                    "machine may use).")] = None,
    queues: Annotated[str, typer.Option(help="Comma-separated queues to consume.")] =
        "fetch,deliver,housekeeping",
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    name: Annotated[str | None, typer.Option("--name", "-n", help="Node name, unique per "
                                             "worker (default celery@HOSTNAME; %h is the host "
                                             "name), e.g. fetch1@%h.")] = None,
    metrics_port: MetricsOption = None,
) -> None:
    """Start a Celery worker of the background service (needs the 'worker' extra).

    The same as: celery -A workers worker -Q fetch,deliver,housekeeping"""
    from tracker.service import available_cpus

    args = ["worker", "-Q", queues, "-l", loglevel, "--without-gossip", "--without-mingle",
            "--concurrency", str(concurrency or available_cpus())]
    if name:
        args += ["--hostname", name]
    _metrics_environment(metrics_port, multiprocess=True)
    _exec_celery(args)


@cli.command()
def beat(
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    check: Annotated[bool, typer.Option("--check", help="Do not start: exit 0 while this "
                                        "host's beat ticks (its last tick younger than 3 "
                                        "ticks), 1 otherwise (a health check).")] = False,
    metrics_port: MetricsOption = None,
) -> None:
    """Start the Celery beat scheduler, which runs the tick that claims due articles.

    The same as: celery -A workers beat. Running two is safe (claims never overlap)."""
    from tracker.config import data_home

    if check:
        from tracker.health import beat_health

        healthy, why = beat_health(_app().settings)
        typer.echo(why)
        raise typer.Exit(0 if healthy else 1)

    data_home().mkdir(parents=True, exist_ok=True)
    schedule = os.environ.get("TRACKER_BEAT_SCHEDULE") or str(data_home() / "celerybeat-schedule")
    _metrics_environment(metrics_port, multiprocess=False)
    _exec_celery(["beat", "-l", loglevel, "--schedule", schedule])


def _metrics_environment(metrics_port: str | None, *, multiprocess: bool) -> None:
    """Tell the Celery process this one becomes where to serve metrics (workers/observe.py);
    a worker's pool processes share a fresh prometheus-client directory."""
    from tracker.service import METRICS_ENV, MULTIPROC_ENV, multiprocess_directory

    if not metrics_port:
        os.environ.pop(METRICS_ENV, None)
        return
    address = _metrics_address(metrics_port)
    os.environ[METRICS_ENV] = f"[{address.host}]:{address.port}"
    if multiprocess:
        os.environ[MULTIPROC_ENV] = multiprocess_directory()


# Started by _exec_celery. The project's packages are imported first, while the current
# directory is not on sys.path (python -P): Celery puts it there to find the app, and a folder
# holding a `tracker/`, `workers/` or `db/` directory must not stand in for the installed ones.
_CELERY_BOOTSTRAP = "import db, tracker, workers\nfrom celery.__main__ import main\nmain()"


def _exec_celery(args: list[str]) -> None:
    """Hand the process over to Celery with the project's app (tracker never imports it)."""
    import importlib.util

    if importlib.util.find_spec("celery") is None:
        _fail("Celery is not installed: pip install 'tracker[worker]'")
    if _state.get("db"):
        os.environ["TRACKER_DATABASE_URL"] = _state["db"]
    sys.stdout.flush()
    command = [sys.executable, "-P", "-c", _CELERY_BOOTSTRAP, "-A", "workers", *args]
    os.execv(sys.executable, command)  # noqa: S606 - a fixed argument list


@cli.command()
def status(
    format: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.text,
) -> None:
    """Is tracker keeping up? Articles due, overdue, in progress, stranded; checks per second
    and lag; deliveries waiting per endpoint; Redis, PostgreSQL, the beat's tick.

    Exit status: 0 healthy, 1 degraded, 2 down (docs/operations.md)."""
    from tracker.status import Health
    from tracker.status import status as read_status

    data = _run(read_status, _app())
    if format is ListFormat.json:
        _print_json(data)
    else:
        from tracker.views import print_status

        print_status(_console(), data)
    raise typer.Exit(Health[data["health"]].value)


@cli.command()
def migrate() -> None:
    """Create the database, or upgrade its schema (done on first use too).

    The only command that creates a new SQLite file given with --db or TRACKER_DATABASE_URL;
    the default database (~/.local/share/tracker/tracker.db) is created by any command."""
    from db.session import HEAD_REVISION, current_revision, make_engine, upgrade

    def migrate_database(url: str) -> str | None:
        engine = make_engine(url, create=True)  # the one command that makes a new database
        try:
            before = current_revision(engine)
            upgrade(engine)
        finally:
            engine.dispose()
        return before

    before = _run(migrate_database, _app().settings.resolved_database_url)
    typer.echo(f"schema at revision {HEAD_REVISION} (was {before or 'empty'})")


# --- evidence: export, backup, import ------------------------------------------------------


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"
    warc = "warc"


@cli.command()
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="A new directory (jsonl, csv, "
                                         "parquet) or a new FILE.warc.gz (warc).")],
    format: Annotated[ExportFormat, typer.Option("--format", "-f")] = ExportFormat.jsonl,
    since: Annotated[str | None, typer.Option(help="Only versions fetched since: a duration "
                                              "(7d) or an ISO time.")] = None,
    article: Annotated[list[str] | None, typer.Option(help="Only this article (repeatable).")] =
        None,
    tag: Annotated[list[str] | None, typer.Option(help="Only articles with this tag "
                                                  "(repeatable: any of them).")] = None,
) -> None:
    """Export versions and changes as a dataset, or the kept raw responses as a WARC file."""
    from tracker.articles import parse_since
    from tracker.clock import display_zone
    from tracker.export import select

    tracker_app = _app()
    start = _run(parse_since, since, zone=display_zone()) if since else None
    selection = _run(select, tracker_app, article or [], tag or [], start)
    if format is ExportFormat.warc:
        from tracker.export.warc import export_warc

        result = _run(export_warc, tracker_app, output, selection)
        for line in result.skipped_lines():
            typer.echo(line, err=True)
        if result.skipped:
            typer.echo(f"skipped {len(result.skipped)} version(s): raw body not kept or "
                       "unreadable (see keep_bodies_days)", err=True)
        typer.echo(f"wrote {result.responses} version(s) as {result.records} record(s) to "
                   f"{output}")
        return
    from tracker.export import export_dataset

    summary = _run(export_dataset, tracker_app, output, format.value, selection)
    counts = ", ".join(f"{n} {name}" for name, n in summary.counts.items())
    typer.echo(f"wrote {counts} to {output}")


@cli.command()
def backup(
    path: Annotated[Path, typer.Argument(help="A new file: the copy (SQLite) or the dump "
                                         "(PostgreSQL).")],
) -> None:
    """Copy the live database consistently (SQLite online backup; pg_dump for PostgreSQL)."""
    from tracker.export.backup import backup as copy_database

    result = _run(copy_database, _app(), path)
    typer.echo(f"backed up to {result.path} ({result.size:,} bytes, {result.how})")


@cli.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="A directory written by tracker export "
                                         "--format jsonl.")],
) -> None:
    """Load a JSONL export into an empty database (another machine, SQLite ↔ PostgreSQL); a
    new SQLite file named by --db is created."""
    from tracker.export.importer import import_dataset

    summary = _run(import_dataset, _app(create=True), path)
    typer.echo(f"imported {summary.articles} article(s), {summary.versions} version(s), "
               f"{summary.paragraphs} distinct paragraph(s)")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
