"""Notifications: webhook subscribers, channels, secrets at rest, deliveries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from db.states import EventType
from tracker.cli.common import (
    ListFormat,
    call,
    cli,
    echo,
    emit,
    fail,
    open_app,
)

if TYPE_CHECKING:
    pass


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
    created = call(add_subscriber, open_app(), url, events=chosen, article=article, host=host,
                   tag=tag)
    echo(f"subscriber {created.endpoint_id}: {created.url}")
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

    data = call(list_subscribers, open_app())
    from tracker.cli.output import print_subscribers

    emit(data, format, lambda console: print_subscribers(console, data["subscribers"]))


@cli.command()
def unsubscribe(
    endpoint: Annotated[str, typer.Argument(help="Subscriber id or URL.")],
) -> None:
    """Remove a webhook subscriber."""
    from tracker.subscriptions import unsubscribe as remove_subscriber

    echo(f"removed: {call(remove_subscriber, open_app(), endpoint)}")


@cli.command("enable-subscriber")
def enable_subscriber(
    endpoint: Annotated[str, typer.Argument(help="Subscriber id or URL.")],
) -> None:
    """Enable a disabled subscriber again (one disabled after 410 Gone or days of failures).

    Deliveries cancelled while it was disabled are not sent by themselves: queue them with
    'tracker redeliver --failed'."""
    from tracker.subscriptions import enable

    url, gave_up = call(enable, open_app(), endpoint)
    echo(f"enabled: {url}")
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

    seconds = call(parse_duration, grace)
    created = call(rotate, open_app(), endpoint, grace=dt.timedelta(seconds=seconds))
    echo(f"subscriber {created.endpoint_id}: {created.url}")
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
    created = call(add_channel, open_app(), url, name=name, events=chosen, tags=tag, hosts=host,
                   articles=article, min_words=min_words, digest=digest)
    echo(f"channel {created.name}: {created.masked_url}")
    _warn_plain(created.encrypted, "channel URL")


@notify_cli.command("list")
def notify_list(
    format: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.text,
) -> None:
    """List channels (URLs masked), their filters and health."""
    from tracker.channels import channels

    data = call(channels, open_app())
    from tracker.cli.output import print_channels

    emit(data, format, lambda console: print_channels(console, data["channels"]))


@notify_cli.command("remove")
def notify_remove(name: Annotated[str, typer.Argument(help="Channel name or id.")]) -> None:
    """Remove a channel (its pending messages are not sent)."""
    from tracker.channels import remove_channel

    echo(f"removed: {call(remove_channel, open_app(), name)}")


@notify_cli.command("pause")
def notify_pause(name: Annotated[str, typer.Argument(help="Channel name or id.")]) -> None:
    """Mute a channel: nothing is sent to it until it is resumed (events meanwhile are
    not queued for it)."""
    from tracker.channels import pause

    call(pause, open_app(), name)
    echo(f"paused: {name}")


@notify_cli.command("resume")
def notify_resume(name: Annotated[str, typer.Argument(help="Channel name or id.")]) -> None:
    """Send to a paused channel again, or to one disabled after days of failures."""
    from tracker.channels import resume

    gave_up = call(resume, open_app(), name)
    echo(f"resumed: {name}")
    if gave_up:
        typer.echo(f"{gave_up} message(s) failed or were cancelled meanwhile: "
                   "tracker redeliver --failed sends them again")


@notify_cli.command("test")
def notify_test(name: Annotated[str, typer.Argument(help="Channel name or id.")]) -> None:
    """Send a test message to a channel now."""
    from tracker.channels import send_test

    sent = call(send_test, open_app(), name)
    if not sent.ok:
        fail(f"channel {name}: not sent: {sent.error}")
    echo(f"sent a test message to {name} ({sent.latency_ms} ms)")


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

    tracker_app = open_app()
    done = call(encrypt_secrets, tracker_app)
    typer.echo(f"encrypted {done.changed} of {done.secrets} stored secret(s) "
               "(the others were encrypted under the current key already)")
    for path in restrict_sqlite_file(tracker_app.settings.resolved_database_url):
        echo(f"made {path} readable by its owner only")


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

    done = call(rotate_key_file, open_app())
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

    data = call(list_deliveries, open_app(), failed=failed, endpoint=endpoint)
    from tracker.cli.output import print_deliveries

    emit(data, format, lambda console: print_deliveries(console, data["deliveries"]))


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
        fail("name an event id, or use --failed")
    done = call(queue_again, open_app(), event_uid=event, failed=failed)
    typer.echo(f"queued {done.queued} delivery(ies) again")
    if done.disabled:
        ids = ", ".join(map(str, done.disabled))
        typer.echo(f"not queued: those to disabled subscriber(s) {ids} (enable them first: "
                   f"tracker enable-subscriber ID)")
