"""Change notifications: turn committed events into deliveries, and deliver them.

- ``dispatch_events`` turns each committed, undispatched event into one delivery per matching
  endpoint, in one transaction (``UNIQUE(event_id, endpoint_id)`` makes a rerun harmless).
- ``claim_due`` leases deliveries that are due and head their (endpoint, article) chain.
- ``deliver_batch`` POSTs a batch of claimed deliveries, signed per Standard Webhooks,
  ``webhook_concurrency`` at a time, records every attempt, and moves each delivery on:
  delivered (2xx), endpoint disabled (410), or retried later on the schedule with jitter until
  it is marked failed. An endpoint that failed everything for ``webhook_disable_after_days`` is
  disabled. The HTTP requests are made outside any database transaction; the batch is read in
  one transaction and its outcomes are stored in one, which is most of what makes hundreds of
  deliveries a second possible (a transaction per delivery cost more than its POST).

A batch is load → send → decide → apply: what an attempt means (delivered, retried when,
given up, endpoint disabled) is ``tracker.decide_delivery``'s pure decision, made the same way
for webhooks and channels; ``_apply`` is the one place that writes it.

At least once: a delivery is marked delivered only after the receiver answered 2xx, so a crash
in between repeats it (with the same ``webhook-id``, which receivers deduplicate on). These use
cases serve both the embedded service and the Celery tasks.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import httpx
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, object_session

from db import archive_queries, queries
from db import source_queries as sq
from db import webhook_queries as wq
from db.models import Article, Delivery, Endpoint, Event, Source, Version
from db.session import session_scope
from db.states import DeliveryOutcome, DeliveryState, EndpointState, EventType
from tracker import channels, deadline, leases, metrics
from tracker.app import App
from tracker.channels import period_end
from tracker.clock import iso, utcnow
from tracker.decide_delivery import (
    Answer,
    Before,
    DeliveryDecision,
    Episode,
    Rules,
    Unbuilt,
    decide_delivery,
    disabling,
    sendable,
)
from tracker.decoding import Decoder
from tracker.diffstore import diff_versions
from tracker.errors import BlockedAddress, TrackerError, UnsupportedContent
from tracker.fetch import raw_chunks
from tracker.headers import content_codings
from tracker.intervals import parse_duration
from tracker.messages import Message, Notice
from tracker.subscriptions import secret_box, signing_secrets
from tracker.terminal import printable
from tracker.webhooks import payload as payloads
from tracker.webhooks.signing import headers as signed_headers

log = logging.getLogger(__name__)
RESPONSE_EXCERPT = 2048
MIN_PAYLOAD_BYTES = 4096  # room for the envelope, the article and a truncation marker
DISPATCH_BATCH = 200


@dataclass(frozen=True, slots=True)
class DeliveryClaim:
    delivery_id: int
    token: str


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    delivery_id: int
    outcome: DeliveryOutcome
    status: int | None = None
    error: str | None = None
    next_in_chain: int | None = None


# --- dispatch -------------------------------------------------------------------------------


def dispatch_events(app: App) -> int:
    """Create the deliveries of every committed event not dispatched yet; returns how many."""
    created = 0
    now = utcnow()
    with session_scope(app.writer) as session:
        endpoints = wq.active_endpoints(session)
        if not endpoints:  # nobody to deliver to: no event need be read, one statement
            wq.dispatch_to_nobody(session, now)
            return 0
        events = wq.undispatched_events(session, DISPATCH_BATCH)
        for event in events:
            about = _subject(session, event)
            if about is not None:
                for endpoint in endpoints:
                    if not wants(endpoint, event, about):
                        continue
                    if endpoint.digest_seconds:
                        wq.add_to_digest(session, event, endpoint, now,
                                         period_end(now, endpoint.digest_seconds))
                    else:
                        wq.add_delivery(session, event, endpoint, now)
                    created += 1
            event.dispatched_at = now
    return created


def _subject(session: Session, event: Event) -> Article | Source | None:
    """What the event is about: its article, or its source (None: removed meanwhile)."""
    if event.source_id is not None:
        return sq.source_by_id(session, event.source_id)
    return queries.article_by_id(session, event.article_id) if event.article_id else None


def wants(endpoint: Endpoint, event: Event, about: Article | Source) -> bool:
    """Whether a subscriber's filters (event types, article, host, tag) take the event. Every
    filter that is set must match; a list filter (a channel's tags, hosts, articles) matches
    when any of its values does. ``min_words`` holds back changes of fewer changed words
    (``words`` in the event; a change that is more than words, a move or a new paragraph, has
    none and always passes). A source's event (``about`` a Source) is filtered by its type and
    its source's host only: the article and tag filters are about articles."""
    lists = endpoint.filters or {}
    chosen = "*" in endpoint.events or event.type in endpoint.events
    if isinstance(about, Source):
        return (chosen and endpoint.host in {None, about.host}
                and (not lists.get("hosts") or about.host in lists["hosts"]))
    article = about
    tags = set(article.tags or [])
    return (
        chosen
        and endpoint.article_url in {None, article.url}
        and endpoint.host in {None, article.host}
        and (endpoint.tag is None or endpoint.tag in tags)
        and (not lists.get("articles") or article.url in lists["articles"])
        and (not lists.get("hosts") or article.host in lists["hosts"])
        and (not lists.get("tags") or bool(tags & set(lists["tags"])))
        and _enough_words(endpoint.min_words, event)
    )


def _enough_words(minimum: int | None, event: Event) -> bool:
    words = (event.data or {}).get("words") if event.type == EventType.CHANGED else None
    return not minimum or not isinstance(words, int) or words >= minimum


# --- claiming -------------------------------------------------------------------------------


def claim_due(app: App, *, limit: int = 100, ids: list[int] | None = None) -> list[DeliveryClaim]:
    rows = leases.claim(app, leases.DELIVERIES, limit=limit, ids=ids)
    return [DeliveryClaim(i, t) for i, t in rows]


# --- delivering -----------------------------------------------------------------------------

BATCH = 32  # deliveries prepared, sent and recorded together (one read, one write transaction)


@dataclass(frozen=True, slots=True)
class _Message:
    delivery_id: int
    token: str
    url: str
    msg_id: str
    body: bytes
    secrets: list[str]
    channel: tuple[str, Message] | None = None  # a channel's Apprise URL and its message


@dataclass(frozen=True, slots=True)
class _Attempt:
    message: _Message
    answer: Answer


def deliver(app: App, delivery_id: int, token: str) -> DeliveryResult:
    """Make one attempt at a claimed delivery. Never raises for a receiver's failure."""
    [result] = deliver_batch(app, [DeliveryClaim(delivery_id, token)])
    return result


def deliver_batch(
    app: App, claims: list[DeliveryClaim], *, stop: threading.Event | None = None
) -> list[DeliveryResult]:
    """One attempt at each claimed delivery: read them in one transaction, POST them
    ``webhook_concurrency`` at a time (no transaction open meanwhile), record every outcome in
    one transaction. Never raises for a receiver's failure, nor for one delivery that cannot
    be built (its payload, its secret, its URL): that one fails alone, recorded with the
    reason. ``stop`` cuts the attempts in flight short (``tracker run`` stopping). The
    claims' leases are renewed while the batch runs (``tracker.leases.Keeper``)."""
    with app.keeper.holding(leases.DELIVERIES, [(c.delivery_id, c.token) for c in claims]):
        messages, broken, results = _prepare(app, claims)
        attempts = _post_all(app, messages, stop)
        if attempts or broken:
            results += _record(app, attempts, broken)
    return results


@dataclass(frozen=True, slots=True)
class _Broken:
    """A delivery that could not be built: its payload, secret or URL is unusable."""

    delivery_id: int
    token: str
    reason: str


def _prepare(
    app: App, claims: list[DeliveryClaim]
) -> tuple[list[_Message], list[_Broken], list[DeliveryResult]]:
    tokens = {c.delivery_id: c.token for c in claims}
    messages: list[_Message] = []
    broken: list[_Broken] = []
    now = utcnow()
    with session_scope(app.reader) as session:
        found = {d.id: (d, e, p) for d, e, p in wq.deliveries_by_id(session, list(tokens))}
        for delivery_id, token in tokens.items():
            row = found.get(delivery_id)
            if row is None or not _sendable(*row, token):
                continue
            delivery, event, endpoint = row
            try:
                if endpoint.kind == "channel":
                    messages.append(_channel_message(app, session, delivery, event, endpoint,
                                                     token))
                    continue
                body = _payload(app, session, event)
                secrets = signing_secrets(app, endpoint, now)
            except SQLAlchemyError:
                raise
            except Exception as exc:  # this one cannot be built; the others go out
                log.warning("delivery %d cannot be built: %s", delivery_id, exc)
                log.debug("delivery %d cannot be built", delivery_id, exc_info=True)
                broken.append(_Broken(delivery_id, token, f"cannot be built: {_describe(exc)}"))
                continue
            messages.append(_Message(delivery_id, token, endpoint.url, event.uid, body, secrets))
    handled = {m.delivery_id for m in messages} | {b.delivery_id for b in broken}
    skipped = [
        DeliveryResult(i, DeliveryOutcome.SKIPPED, error="claim expired or delivery done")
        for i in tokens if i not in handled
    ]
    return messages, broken, skipped


def _describe(exc: Exception) -> str:
    text = str(exc)[:300].replace("\x00", "\ufffd")
    return text if isinstance(exc, TrackerError) else f"{type(exc).__name__}: {text}"


def _sendable(delivery: Delivery, event: Event, endpoint: Endpoint, token: str) -> bool:
    return sendable(delivery.state, endpoint.state, delivery.lease_token == token)


def _post_all(
    app: App, messages: list[_Message], stop: threading.Event | None = None
) -> list[_Attempt]:
    workers = min(len(messages), max(1, app.settings.webhook_concurrency))
    if workers <= 1:
        return [_attempt(app, m, stop) for m in messages]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deliver") as pool:
        return list(pool.map(partial(_attempt, app, stop=stop), messages))


def _attempt(app: App, message: _Message, stop: threading.Event | None = None) -> _Attempt:
    attempted_at = utcnow()
    if message.channel is not None:
        sent = channels.send(app, *message.channel)
        return _Attempt(message, Answer(attempted_at, error=sent.error, latency_ms=sent.latency_ms,
                                        sent=sent.ok))
    started = time.perf_counter()
    with deadline.bounded(app.settings.webhook_timeout, cancel=stop):
        try:
            answer = _post(app, message, attempted_at)
        except Exception as exc:  # an endpoint URL the client refuses, say: this one fails
            log.debug("delivery %d cannot be sent", message.delivery_id, exc_info=True)
            answer = Answer(attempted_at, error=f"cannot be sent: {_describe(exc)}")
    latency = round((time.perf_counter() - started) * 1000)
    return _Attempt(message, replace(answer, latency_ms=latency))


def _post(app: App, message: _Message, attempted_at: dt.datetime) -> Answer:
    """One POST within the attempt's deadline (connecting, sending, the receiver's answer);
    at most ``RESPONSE_EXCERPT`` bytes of the answer are read, whatever it sends."""
    timestamp = int(time.time())
    headers = signed_headers(message.secrets, message.msg_id, timestamp, message.body)
    try:
        request = app.webhook_client.build_request("POST", message.url, content=message.body,
                                                   headers=headers)
        response = app.webhook_client.send(request, stream=True)
        try:
            excerpt = _excerpt(message.url, response)
        finally:
            response.close()
    except BlockedAddress as exc:
        return Answer(attempted_at, error=f"refused: {exc.reason}")
    except httpx.TimeoutException:
        if deadline.cancelled():
            return Answer(attempted_at, error="interrupted: tracker was stopping")
        return Answer(attempted_at, error=f"timed out after {app.settings.webhook_timeout:g} s")
    except httpx.HTTPError as exc:
        return Answer(attempted_at, error=f"connection failed: {type(exc).__name__}: {exc}")
    return Answer(attempted_at, response.status_code, retry_after=response.headers.get(
        "Retry-After"), response=excerpt)


def _excerpt(url: str, response: httpx.Response) -> str:
    """The first ``RESPONSE_EXCERPT`` bytes of a receiver's answer, decoded within that cap;
    the rest is never read (the connection is closed instead)."""
    data = b""
    try:
        decoder = Decoder(url, content_codings(response.headers.get("Content-Encoding")),
                          RESPONSE_EXCERPT, truncate=True)
        for raw in raw_chunks(response):
            data += decoder.decode(raw)
            if decoder.full:
                break
    except (httpx.HTTPError, UnsupportedContent):
        pass  # the status is what counts; a broken or odd body leaves the excerpt short
    # NUL cannot be stored in a PostgreSQL text column: one such answer must not fail the batch
    return data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def _record(
    app: App, attempts: list[_Attempt], broken: list[_Broken] | None = None
) -> list[DeliveryResult]:
    """Store every attempt of a batch and move each delivery on, in one transaction: each
    one's decision (``tracker.decide_delivery``) is applied in turn, so the next one of the
    same endpoint sees its failing streak as the one before left it.

    Endpoints are disabled only once every attempt of the batch is recorded: an attempt sent
    at the moment another delivery's 410 disabled its endpoint is recorded as what it was
    (sent, with its answer), not as "cancelled, 0 attempts"."""
    work: list[tuple[int, str, Answer | Unbuilt]] = [
        (b.delivery_id, b.token, Unbuilt(b.reason)) for b in broken or []]
    work += [(a.message.delivery_id, a.message.token, a.answer) for a in attempts]
    rules = _rules(app)
    with session_scope(app.writer) as session:
        locked = {d.id: d for d in wq.lock_deliveries(session, [i for i, _, _ in work])}
        endpoints = {e.id: e for e in wq.lock_endpoints(
            session, sorted({d.endpoint_id for d in locked.values()}))}
        decided: list[tuple[int, int | None, DeliveryDecision]] = []
        for delivery_id, token, attempt in work:
            delivery = locked.get(delivery_id)
            endpoint = endpoints.get(delivery.endpoint_id) if delivery else None
            decision = _settle(session, rules, delivery, endpoint, token, attempt)
            decided.append((delivery_id, endpoint.id if endpoint else None, decision))
        for endpoint_id, reason in disabling(
                (e, d) for _, e, d in decided if e is not None).items():
            _disable(session, endpoints[endpoint_id], reason)
        results = _with_successors(session, [
            DeliveryResult(i, d.outcome, d.status, d.error) for i, _, d in decided], locked)
    for _, _, decision in decided:  # once committed
        if decision.stored is not None:
            metrics.delivery_attempted(decision.outcome, decision.attempts)
    return results


def _settle(
    session: Session, rules: Rules, delivery: Delivery | None, endpoint: Endpoint | None,
    token: str, attempt: Answer | Unbuilt,
) -> DeliveryDecision:
    """Decide what one attempt means, and apply it unless its claim expired meanwhile."""
    now = utcnow()
    decision = decide_delivery(_before(delivery, endpoint, token), attempt, rules, now)
    if delivery is not None and endpoint is not None and decision.writes:
        _apply(session, delivery, endpoint, decision, now)
    return decision


def record_lost(app: App, claims: list[DeliveryClaim], reason: str) -> list[DeliveryResult]:
    """Fail claimed deliveries whose attempt never came to an end (the worker process sending
    them was killed each time: a poison message). ``tracker redeliver`` queues them again."""
    return _record(app, [], [_Broken(c.delivery_id, c.token, reason) for c in claims])


def _rules(app: App) -> Rules:
    settings = app.settings
    return Rules(tuple(retry_schedule(settings.webhook_retry_schedule)),
                 dt.timedelta(days=settings.webhook_disable_after_days))


def _before(delivery: Delivery | None, endpoint: Endpoint | None, token: str) -> Before:
    if delivery is None or endpoint is None:  # removed meanwhile
        return Before(DeliveryState.CANCELLED, 0, claimed=False)
    return Before(delivery.state, delivery.attempts, endpoint.failing_since,
                  claimed=delivery.lease_token == token)


def _apply(
    session: Session, delivery: Delivery, endpoint: Endpoint, decision: DeliveryDecision,
    now: dt.datetime,
) -> None:
    """Write one attempt's decision: its attempt row, the delivery, the endpoint's streak."""
    stored = decision.stored
    if stored is not None:
        wq.record_attempt(session, delivery, attempted_at=stored.attempted_at,
                          status_code=stored.status, latency_ms=stored.latency_ms,
                          response=stored.response, error=stored.error)
        delivery.last_status = stored.status
    delivery.attempts, delivery.last_error = decision.attempts, decision.last_error
    delivery.lease_token = delivery.lease_until = None
    if decision.state is not None:
        delivery.state = decision.state
    if decision.next_attempt_at is not None:
        delivery.next_attempt_at = decision.next_attempt_at
    _log_episode(endpoint, decision)
    if endpoint.failing_since != decision.failing_since:
        endpoint.failing_since = decision.failing_since
    if decision.outcome == DeliveryOutcome.DELIVERED:
        delivery.delivered_at = endpoint.last_success_at = now
        wq.settle_digest(session, delivery.id, now)


def _log_episode(endpoint: Endpoint, decision: DeliveryDecision) -> None:
    if decision.episode == Episode.RECOVERED:
        log.warning("webhook endpoint %d (%s) is back: delivered after failing since %s",
                    endpoint.id, printable(endpoint.url), iso(endpoint.failing_since))
    elif decision.episode == Episode.FAILING:
        log.warning("webhook endpoint %d (%s) is failing: %s; retrying on schedule",
                    endpoint.id, printable(endpoint.url), printable(decision.error or ""))


def _with_successors(
    session: Session, results: list[DeliveryResult], deliveries: dict[int, Delivery]
) -> list[DeliveryResult]:
    """The results, each delivered one naming the next delivery of its chain (one query)."""
    delivered = [deliveries[r.delivery_id] for r in results
                 if r.outcome == DeliveryOutcome.DELIVERED]
    following = wq.next_in_chains(session, delivered)
    return [
        replace(r, next_in_chain=following.get(r.delivery_id))
        if r.outcome == DeliveryOutcome.DELIVERED else r
        for r in results
    ]


def _disable(session: Session, endpoint: Endpoint, reason: str) -> None:
    endpoint.state, endpoint.disabled_reason = EndpointState.DISABLED, reason
    wq.cancel_pending(session, endpoint.id, f"endpoint disabled: {reason}")
    log.warning("%s %s disabled: %s", _kind_name(endpoint), endpoint.url, reason)


def _kind_name(endpoint: Endpoint) -> str:
    return f"channel {endpoint.name}" if endpoint.kind == "channel" else "webhook endpoint"


def retry_schedule(text: str) -> list[float]:
    """Delays after the 1st, 2nd … failed attempt, from e.g. "5s,5m,30m,2h"."""
    return [float(parse_duration(part)) for part in text.split(",") if part.strip()]


# --- payloads -------------------------------------------------------------------------------


def _payload(app: App, session: Session, event: Event) -> bytes:
    cached = app.caches.payloads.get(event.uid)  # the same body for every endpoint and retry
    if cached is not None:
        return cached
    body = payloads.build_payload(event.type, event.created_at, *_event_data(session, event),
                                  max_bytes=max(MIN_PAYLOAD_BYTES, app.settings.webhook_max_bytes))
    return app.caches.payloads.put(event.uid, body)


def _event_data(
    session: Session, event: Event
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    if event.article_id is None:  # a source's event: its data is all (source, failures …)
        return None, dict(event.data)
    article = queries.article_by_id(session, event.article_id)
    assert article is not None
    version = session.get(Version, event.version_id) if event.version_id else None
    latest = version or queries.latest_version(session, article.id)
    block = {"url": article.url, "title": latest.title if latest else None}
    if event.type in _DIFFED and version is not None:
        previous = queries.version_by_number(session, article.id, version.number - 1)
        assert previous is not None
        loaded = diff_versions(session, previous, version)  # the stored diff
        old = [text for _, text in loaded.old_paragraphs]
        new = [text for _, text in loaded.new_paragraphs]
        data = payloads.article_changed_data(
            article.url, version.title, _version_block(previous), _version_block(version),
            loaded.diff, old, new,
        )
        if event.type == EventType.GUTTED:
            data["characters"] = event.data.get("characters")
        return block, data
    data = dict(event.data)
    if block["title"] is None and isinstance(data.get("title"), str):  # discovered: no version
        block["title"] = data["title"]  # yet, but the feed or sitemap gave the story a title
    if event.type == "article.first_seen" and version is not None:
        data["version"] = _version_block(version)
    for key in ("version", "since"):  # deleted, restored …: version numbers as version blocks
        if key in data and not isinstance(data[key], dict):
            stored = (queries.version_by_number(session, article.id, data[key])
                      if isinstance(data[key], int) else None)
            data[key] = _version_block(stored) if stored else None
    return block, data


# Events about a stored version whose message carries its diff against the one before.
_DIFFED = frozenset({EventType.CHANGED, EventType.GUTTED})


def _version_block(version: Version) -> dict[str, Any]:
    block = {"number": version.number, "fetched_at": iso(version.fetched_at)}
    session = object_session(version)
    archived = archive_queries.capture_urls(session, [version.id]) if session else {}
    if version.id in archived:  # captured by a web archive (archive_versions) by now
        block["archive_url"] = archived[version.id]
    return block


# --- channel messages ---------------------------------------------------------------------------


def _channel_message(
    app: App, session: Session, delivery: Delivery, event: Event, endpoint: Endpoint, token: str
) -> _Message:
    """A channel's message: its event's (a digest's carrier: with the events riding along)."""
    url = secret_box(app).open(endpoint.secret)
    form = channels.form_of(url)
    if endpoint.digest_seconds:
        events = [event, *wq.digest_members(session, delivery.id)]
        notices = [_cached_notice(app, session, e) for e in events]
        message = channels.compose(form, notices, endpoint.digest_seconds)
    else:  # the same message for every channel of the same form, and every retry
        key = (event.uid, app.settings.public_url, form)
        message = app.caches.messages.get(key) or channels.compose(
            form, [_cached_notice(app, session, event)])
        app.caches.messages.put(key, message)
    return _Message(delivery.id, token, endpoint.url, event.uid, b"", [], (url, message))


def _cached_notice(app: App, session: Session, event: Event) -> Notice:
    """The same notice for every channel and retry of an event (its diff is read once)."""
    key = (event.uid, app.settings.public_url)
    found = app.caches.notices.get(key)
    return found if found is not None else app.caches.notices.put(key, _notice(app, session, event))


def _notice(app: App, session: Session, event: Event) -> Notice:
    if event.article_id is None:
        return _source_notice(event)
    article = queries.article_by_id(session, event.article_id)
    assert article is not None
    version = session.get(Version, event.version_id) if event.version_id else None
    latest = version or queries.latest_version(session, article.id)
    title = (latest.title if latest else None) or _data_text(event.data, "title")
    base = app.settings.public_url.rstrip("/")
    previous = (queries.version_by_number(session, article.id, version.number - 1)
                if event.type in _DIFFED and version is not None else None)
    if version is not None and previous is not None:
        loaded = diff_versions(session, previous, version)  # the stored diff
        diff_url = (f"{base}/articles/{article.id}/diff/{version.number - 1}..{version.number}"
                    if base else None)
        return Notice(event.type, article.url, title, diff_url, loaded.view)
    link = f"{base}/articles/{article.id}" if base else None
    return Notice(event.type, article.url, title, link, detail=_detail(event.data))


def _source_notice(event: Event) -> Notice:
    """A source's event: the feed or sitemap's URL is its link and its name, the error (or
    how many polls failed) its detail."""
    source = (event.data or {}).get("source")
    url = _data_text(source, "url") if isinstance(source, dict) else None
    failures = (event.data or {}).get("failures")
    counted = f"{failures} polls in a row failed" if isinstance(failures, int) else None
    detail = (f"error: {_data_text(event.data, 'error')}"[:300]
              if _data_text(event.data, "error") else counted)
    return Notice(event.type, url or "", url, detail=detail)


def _data_text(data: dict[str, Any] | None, key: str) -> str | None:
    value = (data or {}).get(key)
    return value if isinstance(value, str) else None


def _detail(data: dict[str, Any] | None) -> str | None:
    """One line from a watchdog event's data: its reason, status or error, when it has one."""
    for key in ("reason", "error", "status"):
        value = (data or {}).get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return f"{key}: {value}"[:300]
    return None


# --- redelivery and listings ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Requeued:
    queued: int
    disabled: tuple[int, ...] = ()  # subscribers left alone: disabled (enable them first)


def redeliver(app: App, *, event_uid: str | None = None, failed: bool = False) -> Requeued:
    """Queue deliveries again: those of one event, or every one that gave up (failed, or
    cancelled when its subscriber was disabled). Deliveries to disabled subscribers are not
    queued (they would wait for ever); their ids are returned so the caller can say so."""
    with session_scope(app.writer) as session:
        event_id = None
        if event_uid is not None:
            event = wq.event_by_uid(session, event_uid)
            if event is None:
                raise TrackerError(f"no event {event_uid!r} (see: tracker deliveries)")
            event_id = event.id
        disabled = wq.disabled_endpoints(session, event_id=event_id, failed=failed)
        queued = wq.reset_deliveries(session, utcnow(), event_id=event_id, failed=failed)
        return Requeued(queued, tuple(disabled))


def list_deliveries(
    app: App, *, failed: bool = False, endpoint: str | None = None
) -> dict[str, Any]:
    with session_scope(app.reader) as session:
        endpoint_id = None
        if endpoint is not None:
            found = wq.find_endpoint(session, endpoint)
            if found is None:
                raise TrackerError(f"no subscriber {endpoint!r} (see: tracker subscribers)")
            endpoint_id = found.id
        rows = wq.deliveries(session, failed=failed, endpoint_id=endpoint_id)
        return {"deliveries": [_delivery_json(session, d, e, p) for d, e, p in rows]}


def _delivery_json(
    session: Session, delivery: Delivery, event: Event, endpoint: Endpoint
) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event": event.uid,
        "type": event.type,
        "endpoint": endpoint.url,  # a channel's: masked
        "channel": endpoint.name if endpoint.kind == "channel" else None,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "next_attempt_at": (iso(delivery.next_attempt_at)
                            if delivery.state == DeliveryState.PENDING else None),
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "delivered_at": iso(delivery.delivered_at),
        "history": [
            {"at": iso(a.attempted_at), "status": a.status_code, "latency_ms": a.latency_ms,
             "error": a.error, "response": a.response}
            for a in wq.attempts_of(session, delivery.id)
        ],
    }


def deliver_due(
    app: App, *, limit: int = 100, stop: threading.Event | None = None
) -> list[DeliveryResult]:
    """Dispatch new events and make one attempt at every due delivery (and at the next one in
    a chain as soon as its predecessor is delivered). The embedded mode's delivery step; a
    stop request lets the attempt in progress finish and releases the rest to expire."""
    dispatch_events(app)
    results: list[DeliveryResult] = []
    claims = claim_due(app, limit=min(limit, BATCH))
    while claims and not (stop and stop.is_set()):
        done = deliver_batch(app, claims, stop=stop)
        results += done
        chained = [r.next_in_chain for r in done if r.next_in_chain is not None]
        room = min(BATCH, limit - len(results))
        claims = claim_due(app, ids=chained) if chained else []
        if room > len(claims):
            claims += claim_due(app, limit=room - len(claims))
    return results

