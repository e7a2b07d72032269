"""Per-host rules and learned templates: ``tracker host set|show`` and ``tracker hosts``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tracker.cli.common import (
    ListFormat,
    call,
    cli,
    echo,
    emit,
    open_app,
)

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

    rules = call(set_host, open_app(), host, selector=selector, ignore=ignore or [],
                 ignore_selectors=ignore_selector or [], rate=rate,
                 notify_threshold=notify_threshold, clear=clear)
    if rules is None:
        typer.echo(f"cleared: {host}")
        return
    from tracker.cli.output import rules_text

    echo(f"{rules['host']}: {rules_text(rules)}")
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

    data = call(show_host, open_app(), host)
    emit(data, format, lambda console: _print_host(data))


def _print_host(data: dict[str, Any]) -> None:
    from tracker.cli.output import rules_text, template_text

    template = data["template"]
    lines = [data["host"], f"articles: {data['articles']}", f"rules: {rules_text(data)}",
             f"template: {template_text(template)}"]
    lines += [f"  paragraphs: {path}" for path in (template or {}).get("paragraphs", [])]
    for line in lines:
        echo(line)


@cli.command()
def hosts(
    format: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.text,
) -> None:
    """Hosts with rules or tracked articles, and their rules."""
    from tracker.hosts import list_hosts

    data = call(list_hosts, open_app())
    from tracker.cli.output import hosts_table

    emit(data, format, lambda console: console.print(hosts_table(data["hosts"])))
