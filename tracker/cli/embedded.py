"""The embedded service (``tracker run``) and the web view (``tracker serve``)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tracker.cli.common import (
    MetricsOption,
    call,
    cli,
    metrics_address,
    open_app,
)

if TYPE_CHECKING:
    from tracker.app import App


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
    from tracker.cli.output import log_stored
    from tracker.runner import serve_forever

    tracker_app = open_app()
    if metrics_port:
        from tracker import metrics

        address = metrics_address(metrics_port)
        call(metrics.serve, address.port, tracker_app, host=address.host)
    web = call(_start_web, tracker_app, serve) if serve else None
    try:
        call(serve_forever, tracker_app, concurrency=concurrency, on_result=log_stored)
    finally:
        if web is not None:
            web.stop()



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

    call(serve_foreground, open_app(), Address(host, port), on_ready=_announce_web)
