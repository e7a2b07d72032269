"""Feeds and sitemaps followed: ``tracker source add|remove`` and ``tracker sources``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tracker.cli.common import (
    ListFormat,
    call,
    cli,
    echo,
    emit,
    open_app,
)

if TYPE_CHECKING:
    pass


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

    interval = call(parse_interval, every) if every else None
    article_interval = call(parse_interval, article_every) if article_every else None
    added, created = call(add_source, open_app(), url, match=match, keywords=keyword,
                          tags=tag or [], interval=interval, article_interval=article_interval)
    echo(f"{'added' if created else 'updated'} source: {added}")


@source_cli.command("remove")
def source_remove(
    urls: Annotated[list[str], typer.Argument(help="Source URLs.")],
) -> None:
    """Stop following sources (the articles they found stay tracked)."""
    from tracker.sources import remove_source

    count = call(remove_source, open_app(), urls)
    typer.echo(f"removed {count} source(s)")


@cli.command()
def sources(
    format: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.text,
) -> None:
    """List followed feeds and sitemaps: filters, entries, articles found, schedule, errors."""
    from tracker.sources import list_sources

    data = call(list_sources, open_app())
    from tracker.cli.output import sources_table

    emit(data, format, lambda console: console.print(sources_table(data["sources"])))
