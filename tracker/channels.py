"""Notification channels: chat, push and e-mail targets reached through Apprise.

A channel is a subscriber (``db.models.Endpoint`` of kind "channel") next to the webhook
endpoints: the same outbox events become its deliveries, with the same filters, retries,
attempt log, redelivery and disabling (``tracker.delivery``). What differs is the message (a
text a person reads, ``tracker.messages``) and how it leaves: Apprise, from an Apprise URL
(``ntfy://``, ``mailto://``, ``slack://`` …).

An Apprise URL carries credentials: it is stored sealed like a signing secret
(``tracker.webhooks.secrets``) and shown only masked, as Apprise masks it (``url(privacy=True)``),
in listings, logs and errors. Apprise's own messages are scrubbed of the URL's secret parts.

Address check: before each message is handed to Apprise, the host that Apprise will connect to
(the URL's own host, or the SMTP server of a ``mailto://``) is resolved and checked like a
webhook URL (``tracker.netguard``); services whose host is fixed by Apprise (Slack, Discord,
Telegram …) go to their public API. Apprise then resolves the name again itself, and follows
HTTP redirects: that is the residual window, described in docs/security.md.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from db import webhook_queries as wq
from db.models import Endpoint
from db.session import session_scope
from db.states import EndpointState
from tracker.app import App
from tracker.clock import iso, utcnow
from tracker.errors import BlockedAddress, TrackerError
from tracker.intervals import parse_duration
from tracker.messages import Dialect, Message, Notice, render, render_digest
from tracker.netguard import resolve_public, settings_policy
from tracker.subscriptions import event_types, secret_box

if TYPE_CHECKING:
    from apprise.plugins.base import NotifyBase

MAIL_PORTS = frozenset({25, 465, 587, 2525})  # SMTP: always allowed for e-mail channels
# Services that render Markdown whatever format Apprise declares for them
_MARKDOWN_SERVICES = frozenset({"NotifyMattermost", "NotifyDiscord", "NotifyRocketChat",
                                "NotifyZulip"})
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
KIND = "channel"


class ChannelError(TrackerError):
    """A channel URL Apprise does not know, or a channel that cannot be found."""


# --- the Apprise side ---------------------------------------------------------------------------


def plugin_for(url: str) -> NotifyBase:
    """Apprise's service object for ``url``; ChannelError (without the URL) if none."""
    import apprise

    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise ChannelError("a channel URL cannot contain control characters")
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        scheme = url.split("://", 1)[0][:20] if "://" in url else "?"
        raise ChannelError(f"Apprise cannot use this URL (scheme {scheme!r}): see "
                           "https://github.com/caronc/apprise/wiki for the URL of each service")
    return plugin


def masked(plugin: NotifyBase) -> str:
    return str(plugin.url(privacy=True))  # type: ignore[no-untyped-call]


def dialect_of(plugin: NotifyBase) -> Dialect:
    """The markup the service reads: e-mail gets HTML, Slack its mrkdwn, others what Apprise
    says they take first (``?format=`` in the URL chooses among them)."""
    name = type(plugin).__name__
    if name == "NotifySlack":
        return Dialect.SLACK
    if name in _MARKDOWN_SERVICES:
        return Dialect.MARKDOWN
    chosen = str(getattr(plugin.resolve_format(None), "value", ""))
    return {"html": Dialect.HTML, "markdown": Dialect.MARKDOWN}.get(chosen, Dialect.TEXT)


def target_of(plugin: NotifyBase) -> tuple[str, int] | None:
    """(host, port) Apprise will connect to, or None for a service at a fixed public address."""
    name = type(plugin).__name__
    if name == "NotifyNtfy" and str(getattr(plugin, "mode", "")) == "cloud":
        return None  # ntfy://topic: the public ntfy.sh
    if not any("{host}" in template for template in getattr(plugin, "templates", ())):
        return None
    host = getattr(plugin, "smtp_host", None) or getattr(plugin, "host", None)
    if not host:
        return None
    port = getattr(plugin, "port", None)
    if not port:
        port = 443 if getattr(plugin, "secure", False) else 80
    return str(host), int(port)


def check_target(app: App, plugin: NotifyBase) -> None:
    """Refuse a channel whose server is a private address (unless allowed), like a webhook."""
    found = target_of(plugin)
    if found is None:
        return
    host, port = found
    policy = settings_policy(app.settings)
    if type(plugin).__name__ == "NotifyEmail" and policy.ports is not None:
        policy = replace(policy, ports=policy.ports | MAIL_PORTS)
    bracketed = f"[{host}]" if ":" in host else host
    try:
        resolve_public(f"http://{bracketed}:{port}/", policy)
    except BlockedAddress as exc:
        raise BlockedAddress(masked(plugin), exc.reason) from None


@dataclass(frozen=True, slots=True)
class Sent:
    ok: bool
    error: str | None = None
    latency_ms: int = 0


def send(app: App, url: str, message: Message) -> Sent:
    """Hand one message to Apprise after checking its target's address. Never raises for the
    service's failure; the error says what Apprise said, scrubbed of the URL's secrets."""
    import apprise

    started = time.perf_counter()
    plugin = plugin_for(url)
    try:
        check_target(app, plugin)
    except BlockedAddress as exc:
        return Sent(False, f"refused: {exc.reason}")
    timeout = app.settings.webhook_timeout
    plugin.socket_connect_timeout = plugin.socket_read_timeout = timeout
    said: list[str] = []

    def heard(entry: Any, _plugin: Any = None) -> None:
        if getattr(entry, "level", "") in ("WARNING", "ERROR", "CRITICAL") and len(said) < 5:
            said.append(str(getattr(entry, "message", ""))[:300])

    sender = apprise.Apprise()
    sender.add(plugin)
    try:
        ok = bool(sender.notify(body=message.body, title=message.title, log_callback=heard,
                                timeout=timeout))
    except Exception as exc:  # noqa: BLE001 - a plugin's own bug: this message fails alone
        said.append(f"{type(exc).__name__}: {exc}")
        ok = False
    latency = round((time.perf_counter() - started) * 1000)
    error = None if ok else scrub(url, "; ".join(said) or "the service did not accept it")
    return Sent(ok, error, latency)


def scrub(url: str, text: str) -> str:
    """``text`` with every part of ``url`` that may be a secret (user, password, tokens,
    query values) replaced by "****"."""
    pieces = re.split(r"[/:@?&=#,+]", url.split("://", 1)[-1])
    parts = sorted({p for p in pieces if len(p) >= 3}, key=len, reverse=True)
    for part in parts:
        text = text.replace(part, "****")
    return text.replace("\x00", "\ufffd")


def limits(plugin: NotifyBase) -> tuple[int, int]:
    """(body, title) length limits of the service; a title the service has no field for is
    put in the body by Apprise, which then has that much less room."""
    body = int(getattr(plugin, "body_maxlen", 0) or 32_768)
    title = int(getattr(plugin, "title_maxlen", 0) or 0)
    return body, title


@dataclass(frozen=True, slots=True)
class Form:
    """What a service takes: its dialect, and its body's and title's length limits."""

    dialect: Dialect
    body_limit: int
    title_limit: int


def form_of(url: str) -> Form:
    plugin = plugin_for(url)
    body_limit, title_limit = limits(plugin)
    return Form(dialect_of(plugin), body_limit, title_limit)


def compose(form: Form, notices: list[Notice], digest_seconds: int | None = None) -> Message:
    """The message of one event (or of a digest's events) in the service's ``form``; a title
    the service has no field for goes in the body, which keeps room for it."""
    budget = max(200, form.body_limit if form.title_limit > 0 else form.body_limit - 260)
    title_limit = form.title_limit or 250
    if len(notices) == 1 and not digest_seconds:
        return render(notices[0], form.dialect, limit=budget, title_limit=title_limit)
    return render_digest(notices, form.dialect, period=period_name(digest_seconds or 3600),
                         limit=budget, title_limit=title_limit)


def period_name(seconds: int) -> str:
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds} seconds"


# --- use cases ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewChannel:
    name: str
    masked_url: str
    encrypted: bool


def add_channel(
    app: App, url: str, *, name: str | None = None, events: list[str] | None = None,
    tags: list[str] | None = None, hosts: list[str] | None = None,
    articles: list[str] | None = None, min_words: int | None = None,
    digest: str | None = None,
) -> NewChannel:
    plugin = plugin_for(url)
    check_target(app, plugin)
    chosen = event_types(events)
    if name is not None and not _NAME.fullmatch(name):
        raise ChannelError("a channel name is 1-64 letters, digits, '.', '_' or '-'")
    if min_words is not None and min_words < 0:
        raise ChannelError("--min-words must be 0 or more")
    digest_seconds = _digest_seconds(digest)
    filters = _filters(tags, hosts, articles)
    box = secret_box(app, sealing=True)
    with session_scope(app.writer) as session:
        chosen_name = name or _free_name(session, url.split("://", 1)[0].lower())
        if wq.find_channel(session, chosen_name) is not None:
            raise ChannelError(f"there is a channel named {chosen_name!r} already")
        wq.add_endpoint(
            session, kind=KIND, name=chosen_name, url=masked(plugin), events=chosen,
            secret=box.seal(url), filters=filters, min_words=min_words or None,
            digest_seconds=digest_seconds, created_at=utcnow(),
        )
        return NewChannel(chosen_name, masked(plugin), box.encrypts)


def _digest_seconds(digest: str | None) -> int | None:
    if not digest:
        return None
    try:
        seconds = int(parse_duration(digest))
    except (ValueError, TrackerError) as exc:
        raise ChannelError(f"--digest: {exc}") from None
    if not 60 <= seconds <= 7 * 86_400:
        raise ChannelError("--digest must be between 1m and 7d (e.g. 1h)")
    return seconds


def _filters(
    tags: list[str] | None, hosts: list[str] | None, articles: list[str] | None
) -> dict[str, list[str]] | None:
    from tracker.identity import clean_url

    found = {
        "tags": sorted(set(tags or [])),
        "hosts": sorted({h.lower().rstrip(".") for h in hosts or []}),
        "articles": sorted({clean_url(a) for a in articles or []}),
    }
    kept = {key: values for key, values in found.items() if values}
    return kept or None


def _free_name(session: Session, base: str) -> str:
    base = re.sub(r"[^a-z0-9_.-]", "-", base)[:40] or "channel"
    taken = {e.name for e in wq.endpoints(session) if e.name}
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def channels(app: App) -> dict[str, Any]:
    with session_scope(app.reader) as session:
        return {"channels": [_channel_json(e) for e in wq.endpoints(session) if e.kind == KIND]}


def _channel_json(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "name": endpoint.name,
        "id": endpoint.id,
        "url": endpoint.url,  # masked
        "events": endpoint.events,
        "filters": endpoint.filters or {},
        "min_words": endpoint.min_words,
        "digest": period_name(endpoint.digest_seconds) if endpoint.digest_seconds else None,
        "state": endpoint.state,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": iso(endpoint.failing_since),
        "last_success_at": iso(endpoint.last_success_at),
        "created_at": iso(endpoint.created_at),
    }


def _channel(session: Session, name: str) -> Endpoint:
    found = wq.find_channel(session, name)
    if found is None:
        raise ChannelError(f"no channel {name!r} (see: tracker notify list)")
    return found


def remove_channel(app: App, name: str) -> str:
    with session_scope(app.writer) as session:
        channel = _channel(session, name)
        shown = channel.url
        session.delete(channel)
        return shown


def pause(app: App, name: str) -> None:
    """Mute a channel: events meanwhile are not sent to it (pending ones wait)."""
    with session_scope(app.writer) as session:
        channel = _channel(session, name)
        if channel.state != EndpointState.ACTIVE:
            raise ChannelError(f"channel {name!r} is {channel.state}, not active")
        channel.state = EndpointState.PAUSED


def resume(app: App, name: str) -> int:
    """Send to a paused or disabled channel again; returns the deliveries that gave up
    meanwhile (``tracker redeliver --failed`` sends them)."""
    with session_scope(app.writer) as session:
        channel = _channel(session, name)
        if channel.state == EndpointState.ACTIVE:
            raise ChannelError(f"channel {name!r} is already active")
        channel.state = EndpointState.ACTIVE
        channel.disabled_reason = channel.failing_since = None
        return wq.count_gave_up(session, channel.id)


def send_test(app: App, name: str) -> Sent:
    """Send a sample message to a channel now (no delivery is recorded)."""
    with session_scope(app.reader) as session:
        channel = _channel(session, name)
        url = secret_box(app).open(channel.secret)
    base = app.settings.public_url.rstrip("/")
    notice = Notice("tracker.test", "https://example.org/", "tracker is set up",
                    f"{base}/" if base else None,
                    detail=f"A test message from tracker to channel {name}, sent "
                           f"{utcnow():%Y-%m-%d %H:%M} UTC.")
    return send(app, url, compose(form_of(url), [notice]))


def period_end(now: dt.datetime, seconds: int) -> dt.datetime:
    """The end of the digest period ``now`` falls in (periods aligned to the epoch)."""
    stamp = now.timestamp()
    end = (int(stamp) // seconds + 1) * seconds
    return dt.datetime.fromtimestamp(end, tz=dt.UTC)
