"""Rendering for the command line: tables, the check progress bar and summaries, the log line
of ``tracker run``. No use case, no database: the CLI hands it what the use cases returned.
Only the CLI imports this module (it was ``tracker/views.py``)."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from db.states import CHANGE_OUTCOMES, CheckOutcome
from tracker.clock import local_time
from tracker.intervals import format_duration
from tracker.terminal import cell, printable, printable_data

if TYPE_CHECKING:  # rich is imported where something is printed for people: not for JSON
    from rich.console import Console
    from rich.table import Table

    # the checking machinery is imported where a check runs: not by a listing
    from tracker.check import CheckResult
    from tracker.delivery import DeliveryResult
    from tracker.polls import PollResult

# Everything below prints text from the web or from users: cells go through ``cell`` (a
# printable rich Text, never markup) and text inside markup through ``_safe``.

log = logging.getLogger("tracker")


# Cells that hold text of any length (a title, the last error) are cut to one line: the full
# text is in `tracker history` and --format json.
TITLE_CHARS = 60
ERROR_CHARS = 60


def print_articles(console: Console, articles: Sequence[dict[str, Any]]) -> None:
    """``tracker list``: piped (not a terminal), one line per article whatever its width."""
    if not sys.stdout.isatty():
        console.width = 100_000
    console.print(articles_table(articles))


ARTICLE_COLUMNS = ("title", "URL", "state", "versions", "every", "last checked", "next check")


def articles_table(articles: Sequence[dict[str, Any]]) -> Table:
    from rich.table import Table

    table = Table(title=_articles_title(articles), title_justify="left")
    for column in ARTICLE_COLUMNS:
        cut = column in ("title", "state")
        table.add_column(column, overflow="ellipsis" if cut else "fold",
                         no_wrap=column != "URL")
    for article in articles:
        title, url, state, *rest = _article_row(article)
        table.add_row(cell(title), cell(url), cell(state), *rest)
    return table


def _articles_title(articles: Sequence[dict[str, Any]]) -> str:
    return f"{len(articles)} tracked article(s)"


def _article_row(article: dict[str, Any]) -> list[str]:
    """An article's cells, each printable (the first three come from the web or users)."""
    state = article["state"]
    if article.get("developing"):
        state += ", developing"
    if article["failures"]:
        error = one_line(article["last_error"] or "", ERROR_CHARS)
        state += f" ({article['failures']} failed: {error})"
    return [
        printable(one_line(article.get("title") or "—", TITLE_CHARS)), printable(article["url"]),
        printable(state), str(article["versions"]), format_duration(article["interval"]),
        _short_time(article["last_checked"]), _short_time(article["next_check"]),
    ]


def plain_articles(articles: Sequence[dict[str, Any]]) -> str | None:
    """``tracker list`` piped, character for character as rich draws ``print_articles`` there
    (no width limit, no style shown), without building rich's renderables (at 1,000 articles
    that took most of the command's time). None where rich would draw otherwise: on a
    terminal, with colours forced, on an output that is not UTF-8 (an ASCII box)."""
    if sys.stdout.isatty() or not _unstyled_utf8():
        return None
    rows = [_article_row(article) for article in articles]
    if not all(_SINGLE_CELLS.fullmatch(value) for row in rows for value in row):
        return None
    return plain_table(_articles_title(articles), ARTICLE_COLUMNS, rows)


# Characters one cell wide that join no neighbour, for every Unicode version rich knows:
# ASCII, Latin, Greek, Cyrillic (no combining marks, no soft hyphen), general punctuation
# (no zero-width or bidi characters), currency, letterlike symbols and arrows. Text with any
# other character (emoji, CJK, combining marks, joiners) is left to rich, whose layout of it
# depends on how it splits the text.
_SINGLE_CELLS = re.compile(
    "[\u0020-\u007e\u00a0-\u00ac\u00ae-\u02ff\u0370-\u0377\u037a-\u037f\u0384-\u03ff"
    "\u0400-\u0482\u048a-\u04ff\u1e00-\u1eff\u2010-\u2027\u2030-\u205e\u20a0-\u20bf"
    "\u2100-\u214f\u2190-\u21ff]*"
)


def _unstyled_utf8() -> bool:
    """Whether rich, writing to this (non-terminal) standard output, shows no style and draws
    its box in Unicode (its rules: TTY_COMPATIBLE and FORCE_COLOR make it a terminal)."""
    encoding = (getattr(sys.stdout, "encoding", None) or "utf-8").lower()
    return (os.environ.get("TTY_COMPATIBLE") != "1" and "FORCE_COLOR" not in os.environ
            and encoding.startswith("utf") and sys.platform != "win32")  # fmt: skip


def plain_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str | None:
    """A rich ``Table`` (its default heavy-head box, one space of padding, the title justified
    left) of printable one-line cells, drawn at its natural width; None when the title is
    wider than the table (rich would wrap it)."""
    from rich.cells import cell_len  # rich's measure of a character's width, no more of rich

    widths = [max([cell_len(header), *(cell_len(row[k]) for row in rows)])
              for k, header in enumerate(headers)]  # fmt: skip
    width = sum(widths) + 3 * len(widths) + 1
    if cell_len(title) > width:
        return None

    def rule(left: str, line: str, middle: str, right: str) -> str:
        return left + middle.join(line * (w + 2) for w in widths) + right

    def cells(edge: str, values: Sequence[str]) -> str:
        return edge + edge.join(f" {value}{' ' * (w - cell_len(value))} "
                                for value, w in zip(values, widths, strict=True)) + edge

    lines = [title + " " * (width - cell_len(title)), rule("┏", "━", "┳", "┓"),
             cells("┃", headers), rule("┡", "━", "╇", "┩")]
    lines += [cells("│", row) for row in rows]
    lines.append(rule("└", "─", "┴", "┘"))
    return "\n".join(lines) + "\n"


def sources_table(sources: Sequence[dict[str, Any]]) -> Table:
    from rich.table import Table

    table = Table(title=f"{len(sources)} source(s)", title_justify="left")
    for column in ("URL", "kind", "state", "filters", "entries", "articles", "every",
                   "last checked", "next check"):
        table.add_column(column, overflow="fold")
    for source in sources:
        state = source["state"]
        if source["last_error"]:
            failed = f"{source['failures']} failed: " if source["failures"] else ""
            state += f" ({failed}{source['last_error']})"
        filters = [f"match {source['match']}"] if source["match"] else []
        if source["keywords"]:
            filters.append("keywords " + ", ".join(source["keywords"]))
        if source["tags"]:
            filters.append("tags " + ", ".join(source["tags"]))
        table.add_row(
            cell(source["url"]), cell(source["kind"] or "—"), cell(state),
            cell("; ".join(filters) or "all"), str(source["entries"]), str(source["articles"]),
            format_duration(source["interval"]), _short_time(source["last_checked"]),
            _short_time(source["next_check"]),
        )
    return table


def print_poll_summary(console: Console, polls: Sequence[PollResult]) -> None:
    for poll in polls:
        if not poll.ok:
            console.print(f"[red]{poll.outcome}[/] source {_safe(poll.url)}: "
                          f"{_safe(poll.error or '')}")
        elif poll.discovered:
            console.print(f"[green]discovered[/] {poll.discovered} new article(s) in "
                          f"{_safe(poll.url)}")
    found = sum(p.discovered for p in polls)
    console.print(f"polled {len(polls)} source(s): {found} new article(s)")


def one_line(text: str, limit: int) -> str:
    """``text`` on one line (line breaks and runs of spaces as one space), cut to ``limit``
    characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _short_time(value: str | None) -> str:
    """A stored (UTC, ISO) time as people read it: in the zone of TZ, to the second, named."""
    return local_time(value)


def _safe(value: Any) -> str:
    """Untrusted text to put inside a markup string: printable, its brackets inert."""
    from rich.markup import escape

    return escape(printable(str(value)))


@contextmanager
def progress_bar(total: int) -> Iterator[Callable[[CheckResult], None]]:
    """A progress bar on standard error for a pass of ``total`` checks (gone when it ends);
    gives the callback that advances it (``tracker.passes.Watch``)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("checking", total=total)
        yield lambda _: bar.advance(task)


def check_results_json(
    results: Sequence[CheckResult], deliveries: Sequence[DeliveryResult] = (),
    polls: Sequence[PollResult] = (),
) -> dict[str, Any]:
    return {
        "sources": [
            {"url": p.url, "outcome": p.outcome, "kind": p.kind, "entries": p.entries,
             "new": p.new, "discovered": p.discovered, "error": p.error}
            for p in polls
        ],
        "notifications": dict(Counter(d.outcome for d in deliveries)),
        "results": [
            {"url": r.url, "outcome": r.outcome, "version": r.version, "error": r.error,
             "summary": r.summary, "headline": r.headline}
            for r in results
        ],
        "outcomes": dict(Counter(r.outcome for r in results)),
    }


# Outcomes of a check that stored a version: printed with the version and the change.
_STORED = frozenset({*CHANGE_OUTCOMES, CheckOutcome.FIRST_SEEN})


def print_check_summary(
    console: Console, results: Sequence[CheckResult], deliveries: Sequence[DeliveryResult] = (),
    polls: Sequence[PollResult] = (),
) -> None:
    if polls:
        print_poll_summary(console, polls)
    for result in results:
        if result.outcome in _STORED:
            detail = _summary_text(result.summary) if result.summary else "first version"
            console.print(f"[green]{result.outcome}[/] {_safe(result.url)} → v{result.version} "
                          f"({detail}){_safe(headline_note(result))}")
        elif not result.ok:
            console.print(f"[red]{result.outcome}[/] {_safe(result.url)}: {_safe(result.error)}",
                          markup=True, highlight=False)
        elif result.outcome == "deferred":
            console.print(f"[yellow]deferred[/] {_safe(result.url)}: {_safe(result.error)}",
                          markup=True, highlight=False)
    counts = Counter(r.outcome for r in results)
    line = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
    console.print(f"checked {len(results)} article(s)" + (f": {line}" if line else ""))
    if deliveries:
        sent = Counter(d.outcome for d in deliveries)
        console.print("notifications: " + ", ".join(f"{n} {k}" for k, n in sorted(sent.items())))


def headline_note(result: CheckResult) -> str:
    """" — new headline: “…”" for a change of the headline, usually the most important one."""
    if result.headline is None:
        return ""
    if not result.headline.strip():
        return " — headline removed"
    return f" — new headline: “{one_line(result.headline, TITLE_CHARS * 2)}”"


def print_failures(
    console: Console, results: Sequence[CheckResult], polls: Sequence[PollResult] = (),
) -> None:
    """One line per failed check or poll (``tracker check --report`` sends them to stderr)."""
    for poll in polls:
        if not poll.ok:
            console.print(f"[red]{poll.outcome}[/] source {_safe(poll.url)}: "
                          f"{_safe(poll.error or '')}")
    for result in results:
        if not result.ok:
            console.print(f"[red]{result.outcome}[/] {_safe(result.url)}: {_safe(result.error)}",
                          markup=True, highlight=False)


def _summary_text(summary: dict[str, int]) -> str:
    parts = [f"{n} {k}" for k, n in summary.items() if n and k != "unchanged"]
    return ", ".join(parts) or "metadata"


def print_history(console: Console, data: dict[str, Any]) -> None:
    article = data["article"]
    console.print(f"[bold]{_safe(article['url'])}[/] — {_safe(article['state'])}, "
                  f"{article['versions']} version(s)")
    from rich.table import Table

    table = Table("version", "fetched", "title", "¶", "changes")
    for version in data["versions"]:
        if version["rebaseline"]:
            change = "re-baseline (new extractor or rules)"
        elif version["summary"] is None:
            change = "first seen"
        else:
            change = _summary_text(version["summary"])
            if version.get("minor"):
                change += " (minor, not notified)"
        table.add_row(str(version["number"]), _short_time(version["fetched_at"]),
                      cell(version["title"]), str(version["paragraphs"]), change)
    console.print(table)
    failures = [c for c in data["checks"] if c["error"]]
    if failures:
        console.print("recent failed checks:")
        for check in failures[:5]:
            console.print(cell(f"  {_short_time(check['started_at'])} {check['outcome']}: "
                               f"{check['error']}"))


def render_version(data: dict[str, Any], *, markdown: bool) -> str:
    """A stored version to read: headline, facts, then each paragraph numbered ¶N as the
    changes report and the web view number it. Markdown with the article's text escaped."""
    data = printable_data(data)
    version = data["version"]
    title = version["title"] or data["article"]["url"]
    facts = [f"version {version['number']}", f"fetched {local_time(version['fetched_at'])}"]
    facts += [f"{key}: {version[key]}" for key in ("byline", "published", "updated", "language")
              if version[key]]
    lead = []
    if version.get("lead_image"):
        caption = f" — {version['lead_caption']}" if version.get("lead_caption") else ""
        lead.append(f"Lead image: {version['lead_image']}{caption}")
    if not markdown:
        lines = [title, " · ".join(facts), *lead]
        return "\n\n".join(lines + [_numbered(n, p) for n, p in _paragraphs(data)])
    from tracker.render import escape_markdown  # (which imports the diff: not for text)

    lines = [f"# {escape_markdown(title)}", "_" + escape_markdown(" · ".join(facts)) + "_",
             *map(escape_markdown, lead)]
    for number, paragraph in _paragraphs(data):
        text = escape_markdown(paragraph["text"])
        quoted = paragraph["kind"] in {"caption", "credit"}
        lines.append(f"> ¶{number} _{text}_" if quoted else f"¶{number} {text}")
    return "\n\n".join(lines)


def _paragraphs(data: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return list(enumerate(data["paragraphs"], start=1))


def _numbered(number: int, paragraph: dict[str, Any]) -> str:
    kind = paragraph["kind"]
    label = f"[{kind}] " if kind in {"caption", "credit"} else ""
    return f"¶{number} {label}{paragraph['text']}"


def log_stored(result: CheckResult) -> None:
    """``tracker run``'s line for each stored version (failures log themselves)."""
    if result.outcome in _STORED:
        log.info("%s %s → v%s%s", result.outcome, result.url, result.version,
                 headline_note(result))


def print_status(console: Console, data: dict[str, Any]) -> None:
    """``tracker status`` for people: the verdict first, then each part, then the problems."""
    console.print(f"{data['health']} ({data['service']}, {_short_time(data['at'])})")
    counts = data.get("articles")
    if counts is not None:
        console.print(
            f"{counts['articles']} article(s): {counts['due']} due, {counts['overdue']} overdue, "
            f"{counts['in_progress']} in progress, {counts['stranded']} stranded, "
            f"{counts['failing']} failing, {counts['unavailable']} unavailable"
        )
        console.print(_checks_line(data["checks"]))
        console.print(_deliveries_line(data["deliveries"]))
        for endpoint in data["deliveries"]["endpoints"]:
            console.print(cell(_endpoint_line(endpoint)))
        polled = data.get("sources") or {}
        if polled.get("sources"):
            console.print(f"{polled['sources']} source(s): {polled['due']} due, "
                          f"{polled['failing']} failing")
    shown: set[str | None] = set()
    if data["service"] == "celery":  # tracker run: no broker, no beat to ask about
        _print_celery(console, data)
        shown.add((data["queues"] or {}).get("error"))  # said once, on the queues line
    for line in data["problems"]:
        if line not in shown:
            console.print(cell(f"problem: {line}"))


def _print_celery(console: Console, data: dict[str, Any]) -> None:
    queues = data["queues"] or {}
    if "error" in queues:
        console.print(cell(f"queues: {queues['error']}"))
    elif queues:
        console.print("queues: " + ", ".join(f"{k} {v}" for k, v in queues.items()))
    tick = data["last_tick"]
    if tick is None:
        console.print("last tick: never (is `tracker beat` running?)")
    else:
        console.print(f"last tick: {_short_time(tick['at'])} ({tick['seconds_ago']} s ago, "
                      f"claimed {tick['claimed']})")


def _checks_line(checks: dict[str, Any]) -> str:
    minutes = checks["window_seconds"] // 60
    line = f"checks, last {minutes} min: {checks['count']} ({checks['per_second']}/s)"
    if checks["by_outcome"]:
        line += ": " + ", ".join(f"{n} {k}" for k, n in sorted(checks["by_outcome"].items()))
    lag = checks["lag_seconds"]
    if lag is not None:
        line += f"; due→start lag p50 {lag['p50']} s, p95 {lag['p95']} s, max {lag['max']} s"
    return line


def _deliveries_line(deliveries: dict[str, Any]) -> str:
    line = (f"deliveries: {deliveries['pending']} pending, {deliveries['retrying']} waiting "
            f"for a retry, {deliveries['failed']} failed")
    if deliveries["oldest_waiting_seconds"] is not None:
        line += f", the oldest waiting {deliveries['oldest_waiting_seconds']:.0f} s"
    return line


def _endpoint_line(endpoint: dict[str, Any]) -> str:
    line = (f"  endpoint {endpoint['id']} {endpoint['url']} ({endpoint['state']}): "
            f"{endpoint['pending']} pending, {endpoint['retrying']} retrying, "
            f"{endpoint['failed']} failed")
    if endpoint["oldest_waiting_seconds"] is not None:
        line += f", oldest {endpoint['oldest_waiting_seconds']:.0f} s"
    if endpoint["failing_since"]:
        line += f", failing since {endpoint['failing_since']}"
    return line


def print_subscribers(console: Console, subscribers: Sequence[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table("id", "URL", "events", "filters", "state", "last success",
                  title=f"{len(subscribers)} subscriber(s)", title_justify="left")
    for sub in subscribers:
        filters = ", ".join(f"{k}={v}" for k, v in sub["filters"].items() if v) or "all"
        state = sub["state"]
        if sub["disabled_reason"]:
            state += f": {sub['disabled_reason']}"
        elif sub["failing_since"]:
            state += f" (failing since {_short_time(sub['failing_since'])})"
        table.add_row(str(sub["id"]), cell(sub["url"]), cell(", ".join(sub["events"])),
                      cell(filters), cell(state), _short_time(sub["last_success_at"]))
    console.print(table)


def print_channels(console: Console, channels: Sequence[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table("name", "URL (masked)", "events", "filters", "state", "last success",
                  title=f"{len(channels)} channel(s)", title_justify="left")
    for item in channels:
        filters = [f"{k}={','.join(v)}" for k, v in item["filters"].items() if v]
        if item["min_words"]:
            filters.append(f"min-words={item['min_words']}")
        if item["digest"]:
            filters.append(f"digest={item['digest']}")
        state = item["state"]
        if item["disabled_reason"]:
            state += f": {item['disabled_reason']}"
        elif item["failing_since"]:
            state += f" (failing since {_short_time(item['failing_since'])})"
        table.add_row(cell(item["name"] or str(item["id"])), cell(item["url"]),
                      cell(", ".join(item["events"])), cell("; ".join(filters) or "all"),
                      cell(state), _short_time(item["last_success_at"]))
    console.print(table)


def print_deliveries(console: Console, deliveries: Sequence[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table("id", "event", "endpoint", "state", "attempts", "last", "next attempt",
                  title=f"{len(deliveries)} delivery(ies)", title_justify="left")
    for item in deliveries:
        last = item["last_error"] or (str(item["last_status"]) if item["last_status"] else "—")
        table.add_row(str(item["id"]), cell(f"{item['event']} {item['type']}"),
                      cell(f"channel {item['channel']}" if item.get("channel")
                           else item["endpoint"]),
                      cell(item["state"]), str(item["attempts"]),
                      cell(last), _short_time(item["next_attempt_at"]))
    console.print(table)


def hosts_table(hosts: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table("host", "articles", "rules", "template")
    for entry in hosts:
        table.add_row(cell(entry["host"]), str(entry["articles"]), cell(rules_text(entry)),
                      cell(template_text(entry.get("template"))))
    return table


def template_text(template: dict[str, Any] | None) -> str:
    """A host's learned template in a line: its state, container and record."""
    if not template:
        return "none learned"
    line = f"{template['state']}"
    if template["container"]:
        line += f" {template['container']}"
    line += (f"; {template['pages']} page(s) by it, {template['verified']} check(s) agreed, "
             f"{template['failed']} failed")
    if template["last_failure"]:
        line += f" (last: {template['last_failure']})"
    return line


def rules_text(rules: dict[str, Any]) -> str:
    parts = []
    if rules["selector"]:
        parts.append(f"selector {rules['selector']}")
    parts += [f"ignore /{pattern}/" for pattern in rules["ignore_patterns"]]
    parts += [f"ignore {css}" for css in rules["ignore_selectors"]]
    if rules["rate_per_minute"] is not None:
        parts.append(f"{rules['rate_per_minute']:g}/min")
    if rules["notify_threshold"] is not None:
        parts.append(f"notify from {rules['notify_threshold']} words")
    return ", ".join(parts) or "no rules"
