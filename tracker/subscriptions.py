"""Webhook subscribers: add, list, remove, rotate secrets.

An endpoint URL must be http(s) and, unless private addresses are allowed, resolve to public
addresses only (checked here and again at every delivery, at connect time). The signing secret
is shown once, when it is created; it is stored sealed: encrypted with ``secret_key`` or the
key file (``tracker.webhooks.secrets``), plain only on a shared database without a key.
``encrypt_secrets`` seals every stored secret under the current key (after a key was set or
put first), ``rotate_key_file`` replaces the key file's key.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from db import webhook_queries as wq
from db.models import Endpoint
from db.session import session_scope
from db.states import EndpointState, EventType
from tracker.app import App
from tracker.clock import iso, utcnow
from tracker.errors import TrackerError
from tracker.netguard import resolve_public, settings_policy
from tracker.webhooks.secrets import SecretBox, resolve_key
from tracker.webhooks.signing import new_secret

EVENT_TYPES = tuple(EventType)


@dataclass(frozen=True, slots=True)
class NewSecret:
    endpoint_id: int
    url: str
    secret: str  # shown to the user once
    encrypted: bool = True  # stored encrypted (else plain: a shared database without a key)


def subscribe(
    app: App, url: str, *, events: list[str] | None = None, article: str | None = None,
    host: str | None = None, tag: str | None = None,
) -> NewSecret:
    check_endpoint_url(app, url)
    chosen = event_types(events)
    if article:
        from tracker.identity import clean_url

        article = clean_url(article)
    secret = new_secret()
    box = secret_box(app, sealing=True)
    with session_scope(app.writer) as session:
        _refuse_duplicate(session, url, chosen, article, host, tag)
        endpoint = wq.add_endpoint(
            session, url=url, events=chosen, article_url=article, host=host, tag=tag,
            secret=box.seal(secret), created_at=utcnow(),
        )
        return NewSecret(endpoint.id, url, secret, box.encrypts)


def event_types(events: list[str] | None) -> list[str]:
    """The event types a subscriber (webhook or channel) chose; ["*"]: all of them."""
    chosen = events or ["*"]
    unknown = set(chosen) - {*EVENT_TYPES, "*"}
    if unknown:
        raise TrackerError(f"unknown event type(s) {', '.join(sorted(unknown))}; "
                           f"choose from {', '.join(EVENT_TYPES)}")
    return chosen


def _refuse_duplicate(
    session: Session, url: str, events: list[str], article: str | None, host: str | None,
    tag: str | None,
) -> None:
    """A second subscriber with the same URL and filters would get every message twice."""
    for endpoint in wq.endpoints(session):
        if endpoint.kind != "webhook":
            continue
        same = (endpoint.url, sorted(endpoint.events), endpoint.article_url, endpoint.host,
                endpoint.tag) == (url, sorted(events), article, host, tag)
        if not same:
            continue
        if endpoint.state != EndpointState.ACTIVE:
            raise TrackerError(f"subscriber {endpoint.id} already sends these events to {url}, "
                               f"but is {endpoint.state}: tracker enable-subscriber "
                               f"{endpoint.id}")
        raise TrackerError(f"subscriber {endpoint.id} already sends these events to {url} "
                           f"(a new secret: tracker rotate-secret {endpoint.id})")


def enable(app: App, key: str) -> tuple[str, int]:
    """Enable a disabled subscriber again: (its URL, deliveries that gave up meanwhile, which
    ``redeliver --failed`` queues again). Its failing streak starts over."""
    with session_scope(app.writer) as session:
        endpoint = _endpoint(session, key)
        if endpoint.state == EndpointState.ACTIVE:
            raise TrackerError(f"subscriber {endpoint.id} ({endpoint.url}) is not disabled")
        endpoint.state = EndpointState.ACTIVE
        endpoint.disabled_reason = endpoint.failing_since = None
        return endpoint.url, wq.count_gave_up(session, endpoint.id)


def check_endpoint_url(app: App, url: str) -> None:
    """Refuse, at the door, an endpoint no delivery could reach: not http(s), control
    characters or spaces anywhere, an invalid host name, a port or address the guard refuses."""
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise TrackerError(f"{url!r} is not a valid webhook URL: it contains a space or a "
                           "control character")
    resolve_public(url, settings_policy(app.settings))


def subscribers(app: App) -> dict[str, Any]:
    with session_scope(app.reader) as session:
        return {"subscribers": [_endpoint_json(e) for e in wq.endpoints(session)
                                if e.kind == "webhook"]}


def unsubscribe(app: App, key: str) -> str:
    with session_scope(app.writer) as session:
        endpoint = _endpoint(session, key)
        url = endpoint.url
        session.delete(endpoint)
        return url


def rotate_secret(app: App, key: str, *, grace: dt.timedelta) -> NewSecret:
    """A new secret signs from now on; the old one keeps signing too until ``grace`` ends."""
    box = secret_box(app, sealing=True)
    secret = new_secret()
    with session_scope(app.writer) as session:
        endpoint = _endpoint(session, key)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_until = utcnow() + grace
        endpoint.secret = box.seal(secret)
        return NewSecret(endpoint.id, endpoint.url, secret, box.encrypts)


def signing_secrets(app: App, endpoint: Endpoint, now: dt.datetime) -> list[str]:
    """The secrets that sign a message now: the current one, and the previous one during its
    grace period."""
    box = secret_box(app)
    found = [box.open(endpoint.secret)]
    if endpoint.previous_secret and endpoint.previous_secret_until and (
        endpoint.previous_secret_until > now
    ):
        found.append(box.open(endpoint.previous_secret))
    return found


def secret_box(app: App, *, sealing: bool = False) -> SecretBox:
    """The box sealing and opening signing secrets. ``sealing``: about to store a secret, so a
    key file is made if none is there and the database is a local SQLite file."""
    return SecretBox(resolve_key(app.settings, create=sealing and local_database(app)))


def local_database(app: App) -> bool:
    return app.settings.resolved_database_url.startswith("sqlite")


@dataclass(frozen=True, slots=True)
class Resealed:
    secrets: int  # stored secrets (current and previous ones)
    changed: int  # of those, sealed anew (plain before, or under an older key)


def encrypt_secrets(app: App) -> Resealed:
    """Seal every stored signing secret under the current key (the first one): plain ones
    are encrypted, ones under an older key re-encrypted. Needs a key (made for a SQLite
    database, see ``secret_box``)."""
    box = secret_box(app, sealing=True)
    if not box.encrypts:
        raise TrackerError("no key to encrypt with: set secret_key (TRACKER_SECRET_KEY) on every "
                           "process using this database; make one with: tracker secrets "
                           "generate-key")
    with session_scope(app.writer) as session:
        return _reseal_all(session, box)


def _reseal_all(session: Session, box: SecretBox) -> Resealed:
    total = changed = 0
    for endpoint in wq.endpoints(session):
        for name in ("secret", "previous_secret"):
            stored = getattr(endpoint, name)
            if not stored:
                continue
            total += 1
            if not box.sealed_with_first(stored):
                setattr(endpoint, name, box.reseal(stored))
                changed += 1
    return Resealed(total, changed)


def rotate_key_file(app: App) -> Resealed:
    """A new key in the key file, every secret resealed under it, the old key dropped. While
    it runs the file holds both keys, so a crash half-way loses nothing."""
    from tracker.webhooks.secrets import generate_key, key_file, write_key_file

    if app.settings.secret_key:
        raise TrackerError("the key comes from secret_key (TRACKER_SECRET_KEY), not a key file: "
                           "put a new key first in it, run tracker secrets encrypt, then drop "
                           "the old key")
    old = resolve_key(app.settings)
    if old is None:
        raise TrackerError(f"there is no key file {key_file(app.settings)} to rotate")
    path, new = key_file(app.settings), generate_key()
    write_key_file(path, f"{new},{old}")
    with session_scope(app.writer) as session:
        done = _reseal_all(session, SecretBox(f"{new},{old}"))
    write_key_file(path, new)
    return done


def _endpoint(session: Session, key: str) -> Endpoint:
    endpoint = wq.find_endpoint(session, key)
    if endpoint is None:
        raise TrackerError(f"no subscriber {key!r} (see: tracker subscribers)")
    if endpoint.kind != "webhook":  # its "secret" is its sealed URL: never rotate or show it
        raise TrackerError(f"{key!r} is channel {endpoint.name!r}, not a webhook subscriber "
                           "(see: tracker notify)")
    return endpoint


def _endpoint_json(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": endpoint.events,
        "filters": {"article": endpoint.article_url, "host": endpoint.host, "tag": endpoint.tag},
        "state": endpoint.state,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": iso(endpoint.failing_since),
        "last_success_at": iso(endpoint.last_success_at),
        "rotating_until": iso(endpoint.previous_secret_until),
        "created_at": iso(endpoint.created_at),
    }
