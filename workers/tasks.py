"""Thin tasks: ids in, one use case call, done. Retries are for the database or broker being
briefly away; a failed fetch is not an exception here (the use case records it and schedules
the next attempt in the database).

Poison messages: a message is acknowledged only after its task ran (``acks_late``), and a
worker process that dies mid-task puts it back (``reject_on_worker_lost``). A task that kills
its worker every time (memory exhausted by some input, a crash in a C library) would so come
back forever. Each run of a message is counted in Redis (by task id and retry number); past
``MAX_RUNS`` runs the task is not run again: the failure is recorded on its article, source or
deliveries (``record_lost``) and the message is acknowledged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from celery import Task
from celery.signals import task_received, worker_process_init, worker_ready
from sqlalchemy.exc import DBAPIError, OperationalError

from db.lease import Work
from tracker import delivery, housekeeping, leases, passes, polls, scheduling
from tracker.app import App
from tracker.check import check_article
from tracker.check import record_lost as check_lost
from tracker.config import load_settings
from workers import queued
from workers.app import CHECK_SOFT_LIMIT, celery

log = logging.getLogger(__name__)
_context: App | None = None
_counter: Any = None  # a Redis client on the broker, made after the fork
MAX_RUNS = 3  # runs of one message (its worker died in each): the next one is not run
RUNS_TTL = 86_400  # seconds a run count is kept


def context() -> App:
    """One App (engine, HTTP client) per worker process, made after the fork.

    The workers share each host's request rate, pauses and slots through Redis: the
    ``rate_limit_url`` setting, or else the broker's Redis."""
    global _context
    if _context is None:
        settings = load_settings()
        if not settings.rate_limit_url and settings.broker_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            settings = replace(settings, rate_limit_url=settings.broker_url)
        _context = App(settings)
    return _context


@worker_process_init.connect
def _fresh_context(**_: Any) -> None:
    global _context, _counter
    _context = None
    _counter = None


def _redis() -> Any:
    """A Redis client on the broker (None when the broker is not Redis), made after the fork."""
    global _counter
    broker = celery.conf.broker_url or ""
    if not broker.startswith(("redis://", "rediss://", "unix://")):
        return None
    if _counter is None:
        import redis

        _counter = redis.Redis.from_url(broker, socket_timeout=5, socket_connect_timeout=5)
    return _counter


def _runs(task_id: str | None, retries: int) -> int:
    """This run's number for the message (1 the first time; 0: not counted)."""
    client = _redis()
    if not task_id or client is None:
        return 0
    key = f"tracker:runs:{task_id}:{retries}"
    try:
        with client.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, RUNS_TTL)
            count, _ = pipe.execute()
    except Exception:  # the broker is away: run the task; counting is a safety net
        log.warning("cannot count the runs of task %s", task_id, exc_info=True)
        return 0
    return int(count)


class TrackerTask(Task):  # type: ignore[misc]
    """The options every tracker task shares (kept in one place so none is misspelled)."""

    acks_late = True
    reject_on_worker_lost = True
    # The database being unavailable is transient: retry with backoff, never store half.
    autoretry_for = (OperationalError, DBAPIError, ConnectionError, TimeoutError)
    retry_backoff = 2
    retry_backoff_max = 60
    retry_jitter = True
    max_retries = 12

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        runs = _runs(self.request.id, self.request.retries or 0)
        if runs > MAX_RUNS:
            reason = (f"its worker process died {runs - 1} times running it (out of memory?); "
                      "given up")
            log.error("task %s[%s] is a poison message: %s", self.name, self.request.id, reason)
            lost = _LOST.get(self.name)
            if lost is not None:
                lost(context(), reason, *args, **kwargs)
            return None
        self.request.runs = runs
        return super().__call__(*args, **kwargs)


@contextmanager
def _leased(
    ctx: App, node: str | None, work: Work, claims: list[leases.Claim]
) -> Iterator[set[int]]:
    """Start the work of claimed messages received by the worker ``node``: the claims that
    still hold (their leases renewed now, and by the heartbeat until the block ends), by id. A
    stale message — its claim run out and taken over, or its work already stored — finds none
    and is dropped at once."""
    client = _redis()
    if client is not None:
        queued.started(client, node or "", work, claims)
    held = leases.renew(ctx, work, claims)
    with ctx.keeper.holding(work, [c for c in claims if c[0] in held]):
        yield held


@celery.task(base=TrackerTask, name="tracker.check")
def check(article_id: int, lease_token: str | None = None) -> str:
    """Check one article under the scheduler's claim; notify at once if it wrote events."""
    ctx = context()
    if lease_token is None:
        result = check_article(ctx, article_id)
    else:
        with _leased(ctx, check.request.hostname, leases.ARTICLES,
                     [(article_id, lease_token)]) as held:
            if not held:
                return "skipped"
            result = check_article(ctx, article_id, lease_token=lease_token)
    if result.events:
        dispatch.delay()
    return result.outcome


@celery.task(base=TrackerTask, name="tracker.check_batch")
def check_batch(claims: list[tuple[int, str]]) -> list[str]:
    """Check a batch of claimed articles in threads of this worker process (at most
    ``concurrency`` at a time, as the embedded service does), with one lease renewal, one query
    loading them and one ``tracker.dispatch`` for all the events they wrote: the per-message
    costs (broker, run count, lease records) are paid once per batch, not per article.
    A batch may hold more claims than threads: checks start as threads come free until its
    time budget (``check_budget``) is spent, and the claims not started then are released, due
    again at once, so a batch of slow sites never outlasts the task's time limit.
    Checks a host's rate deferred are left to the schedule (as in ``tracker run``)."""
    ctx = context()
    node = check_batch.request.hostname
    if len(claims) > 1 and getattr(check_batch.request, "runs", 0) > 1:
        _one_by_one(node, [(i, t) for i, t in claims])
        return ["requeued"] * len(claims)
    with _leased(ctx, node, leases.ARTICLES,
                 [(i, t) for i, t in claims]) as held:
        mine = [scheduling.Claim(i, t) for i, t in claims if i in held]
        results = passes.check_many(
            ctx, mine, concurrency=min(len(mine), ctx.settings.concurrency) or 1,
            stop=threading.Event(),  # a service: never waits out a host's rate in the task
            budget=check_budget(ctx.settings.fetch_deadline),
        ) if mine else []  # fmt: skip
    if len(mine) < len(claims):
        log.info("dropped %d stale check claim(s)", len(claims) - len(mine))
    if len(results) < len(mine):
        log.info("released %d check claim(s) not started within the batch's time budget",
                 len(mine) - len(results))
    if any(r.events for r in results):
        dispatch.delay()
    return [r.outcome for r in results]


def _one_by_one(node: str | None, claims: list[leases.Claim]) -> None:
    """A batch whose worker process died running it goes out again as one ``tracker.check``
    per article (the claims unchanged): a page that kills its worker every time is then given
    up alone after ``MAX_RUNS``, and the others of its batch are checked."""
    log.warning("a worker process died running a batch of %d checks: sending them one by one",
                len(claims))
    client = _redis()
    if client is not None:
        queued.started(client, node or "", leases.ARTICLES, claims)
    with _queued(leases.ARTICLES, claims):
        for article_id, token in claims:
            check.apply_async((article_id, token))


@celery.task(base=TrackerTask, name="tracker.poll_source")
def poll_source(source_id: int, lease_token: str | None = None) -> str:
    """Poll one feed or sitemap under the scheduler's claim. The articles it discovers are
    due at once, so the next tick claims them; their article.discovered events go out now."""
    ctx = context()
    if lease_token is None:
        result = polls.poll_source(ctx, source_id)
    else:
        with _leased(ctx, poll_source.request.hostname, leases.SOURCES,
                     [(source_id, lease_token)]) as held:
            if not held:
                return "skipped"
            result = polls.poll_source(ctx, source_id, lease_token=lease_token)
    if result.events:
        dispatch.delay()
    return result.outcome


@celery.task(base=TrackerTask, name="tracker.dispatch")
def dispatch() -> int:
    """Turn committed events into deliveries and send the ones that are due."""
    ctx = context()
    created = delivery.dispatch_events(ctx)
    _send(delivery.claim_due(ctx))
    return created


@celery.task(base=TrackerTask, name="tracker.deliver")
def deliver(delivery_id: int, lease_token: str) -> str:
    """One attempt at one webhook delivery; the next event of the chain follows at once."""
    return deliver_batch([(delivery_id, lease_token)])[0]


@celery.task(base=TrackerTask, name="tracker.deliver_batch")
def deliver_batch(claims: list[tuple[int, str]]) -> list[str]:
    """One attempt at each of a batch of claimed deliveries (sent concurrently, recorded in one
    transaction); the next events of their chains follow at once."""
    ctx = context()
    with _leased(ctx, deliver_batch.request.hostname, leases.DELIVERIES,
                 [(i, t) for i, t in claims]) as held:
        mine = [delivery.DeliveryClaim(i, t) for i, t in claims if i in held]
        results = delivery.deliver_batch(ctx, mine) if mine else []
    if len(mine) < len(claims):
        log.info("dropped %d stale delivery claim(s)", len(claims) - len(mine))
    chained = [r.next_in_chain for r in results if r.next_in_chain is not None]
    if chained:
        _send(delivery.claim_due(ctx, ids=chained))
    return [r.outcome for r in results]


@celery.task(base=TrackerTask, name="tracker.tick")
def tick() -> int:
    """Claim due sources and articles and enqueue one poll each, and the checks in batches
    (``check_batches``; after the claim is committed; sources first, as the same queue works
    in order); catch up on events not yet dispatched and on deliveries whose retry fell due.

    Articles due before the next tick are claimed too (``tick_seconds`` ahead): a check then
    starts at its due time, not up to a tick after it. A tick that comes less than half a tick
    after the last one ran (ticks that waited behind busy pool processes, run back to back)
    returns at once: the first of them claimed everything due."""
    ctx = context()
    client = _redis()
    if client is not None and not _tick_turn(client, ctx.settings.tick_seconds):
        return 0
    # A message holds up to CHECK_TASK_BATCH checks: count each as a full one (the tick then
    # claims less, never more, than max_queue_length allows).
    room = ctx.settings.max_queue_length - _queue_length("fetch") * CHECK_TASK_BATCH
    if client is not None:  # first: leases of queued messages must not run out meanwhile
        queued.keep_alive(ctx, client)
    due = polls.claim_due_sources(ctx, limit=min(ctx.settings.claim_batch, max(0, room)))
    with _queued(leases.SOURCES, [(p.source_id, p.token) for p in due]):
        for poll in due:
            poll_source.apply_async((poll.source_id, poll.token))
    room -= len(due)
    claims = scheduling.claim_due(ctx, limit=min(ctx.settings.claim_batch, max(0, room)),
                                  ahead=ctx.settings.tick_seconds)
    with _queued(leases.ARTICLES, [(c.article_id, c.token) for c in claims]):
        for batch in check_batches([(c.article_id, c.token) for c in claims]):
            check_batch.apply_async((batch,))
    delivery.dispatch_events(ctx)
    _send(delivery.claim_due(ctx, limit=ctx.settings.claim_batch))
    housekeeping.record_tick(ctx, claimed=len(claims))
    return len(claims)


TICK_TURN = "tracker:tick-turn"


def _tick_turn(client: Any, tick_seconds: float) -> bool:
    """Whether this tick runs: no other tick ran in the last half tick (a Redis key with that
    expiry; half, so a tick that ran a little late never costs the next one its turn). Without
    Redis (or with it away) every tick runs: claims are safe either way."""
    try:
        return bool(client.set(TICK_TURN, "1", nx=True, px=max(1, int(tick_seconds * 500))))
    except Exception as exc:  # noqa: BLE001 - the broker is away: the claim decides
        log.debug("cannot take the tick's turn: %s", exc)
        return True


@contextmanager
def _queued(work: Work, claims: list[leases.Claim]) -> Iterator[None]:
    """Record claims as queued, then send their messages (the block): the tick renews their
    leases while they wait (``workers.queued``). Recorded before sending, so a worker that
    receives a message at once finds its record to move; if sending fails, the records go."""
    client = _redis()
    if client is None or not claims:
        yield
        return
    queued.add(client, work, claims)
    try:
        yield
    except BaseException:
        queued.started(client, "", work, claims)  # never sent: let their leases run out
        raise


def _send(claims: list[delivery.DeliveryClaim]) -> None:
    """One task per batch of claims: fewer messages and transactions than one per delivery,
    and batches small enough to spread over the workers."""
    with _queued(leases.DELIVERIES, [(c.delivery_id, c.token) for c in claims]):
        for start in range(0, len(claims), DELIVERY_TASK_BATCH):
            batch = claims[start : start + DELIVERY_TASK_BATCH]
            deliver_batch.apply_async(([(c.delivery_id, c.token) for c in batch],))


DELIVERY_TASK_BATCH = 16
# Claimed articles per check message at most: four rounds of the default 8 threads. Bigger
# messages cost less per check (a message's broker round trips, run count, lease renewal, load
# query and dispatch task are shared by more checks); the time budget keeps them safe.
CHECK_TASK_BATCH = 32
CHECK_SPREAD = 4  # a tick's claims go out in at least this many messages (if there are as many)
CHECK_SLACK = 15.0  # seconds a check may take beyond its fetch: extraction, diff, storing


def check_budget(fetch_deadline: float) -> float:
    """Seconds a batch may go on starting checks: one started then still ends (its fetch
    within ``fetch_deadline``, the rest within ``CHECK_SLACK``) before the task's soft time
    limit. With the defaults (105 s soft limit, 60 s fetch deadline) 30 s."""
    return max(0.0, CHECK_SOFT_LIMIT - fetch_deadline - CHECK_SLACK)


def check_batches(claims: list[leases.Claim]) -> list[list[leases.Claim]]:
    """A tick's claims cut into messages: one claim each when few are due (each starts on
    the first free worker process at once), up to ``CHECK_TASK_BATCH`` when many are (fewer
    messages, lease renewals and queries per check), and always at least ``CHECK_SPREAD``
    messages when there are as many claims, so a batch never waits for one busy process."""
    size = min(CHECK_TASK_BATCH, max(1, -(-len(claims) // CHECK_SPREAD)))
    return [claims[start : start + size] for start in range(0, len(claims), size)]


@celery.task(base=TrackerTask, name="tracker.prune_bodies")
def prune_bodies() -> int:
    return housekeeping.prune_bodies(context())


@celery.task(base=TrackerTask, name="tracker.prune_checks")
def prune_checks() -> int:
    return housekeeping.prune_checks(context())


@celery.task(base=TrackerTask, name="tracker.vacuum_paragraphs")
def vacuum_paragraphs() -> int:
    return housekeeping.vacuum_paragraphs(context())


@celery.task(base=TrackerTask, name="tracker.archive_versions")
def archive_versions() -> int:
    """A no-op unless ``archive_versions`` is on."""
    return housekeeping.archive_versions(context())


def _check_lost(ctx: App, reason: str, article_id: int, lease_token: str | None = None) -> None:
    check_lost(ctx, article_id, lease_token, f"the check never finished: {reason}")


def _poll_lost(ctx: App, reason: str, source_id: int, lease_token: str | None = None) -> None:
    polls.record_lost(ctx, source_id, lease_token, f"the poll never finished: {reason}")


def _deliveries_lost(ctx: App, reason: str, claims: list[tuple[int, str]]) -> None:
    delivery.record_lost(ctx, [delivery.DeliveryClaim(i, t) for i, t in claims],
                         f"the attempt never finished: {reason}")


_LOST: dict[str, Callable[..., None]] = {
    "tracker.check": _check_lost,
    "tracker.check_batch": lambda ctx, reason, claims: [
        _check_lost(ctx, reason, i, t) for i, t in claims],
    "tracker.poll_source": _poll_lost,
    "tracker.deliver_batch": _deliveries_lost,
    "tracker.deliver": lambda ctx, reason, i, t: _deliveries_lost(ctx, reason, [(i, t)]),
}


def _claims_of(name: str, args: Any) -> tuple[Work, list[leases.Claim]] | None:
    """The claims a task message carries (by the task's name and positional arguments)."""
    args = list(args or ())
    if name in ("tracker.check", "tracker.poll_source") and len(args) > 1 and args[1]:
        work = leases.ARTICLES if name == "tracker.check" else leases.SOURCES
        return work, [(int(args[0]), str(args[1]))]
    if name == "tracker.deliver_batch" and args:
        return leases.DELIVERIES, [(int(i), str(t)) for i, t in args[0]]
    if name == "tracker.check_batch" and args:
        return leases.ARTICLES, [(int(i), str(t)) for i, t in args[0]]
    if name == "tracker.deliver" and len(args) > 1:
        return leases.DELIVERIES, [(int(args[0]), str(args[1]))]
    return None


@task_received.connect
def _received(request: Any = None, **_: Any) -> None:
    """In the worker's main process: a claimed message was received (reserved); its lease is
    kept alive by the tick while this worker lives (``workers.queued``)."""
    try:
        found = _claims_of(request.name, request.args)
        client = _redis()
        if found is not None and client is not None:
            queued.received(client, request.hostname, *found)
    except Exception as exc:  # noqa: BLE001 - the lease then runs out: claimed again
        log.debug("cannot record a received claim: %s", exc)


@worker_ready.connect
def _node_heartbeat(sender: Any = None, **_: Any) -> None:
    """In the worker's main process: renew its record (``tracker:node:<name>``) while it
    lives, so the tick keeps the leases of the messages it reserved alive."""
    node = str(getattr(sender, "hostname", "") or "")
    ttl = queued.node_ttl(load_settings().lease_seconds)

    def beat() -> None:
        while True:
            try:
                client = _redis()
                if client is not None:
                    queued.node_alive(client, node, ttl)
            except Exception as exc:  # noqa: BLE001 - Redis is away: try again
                log.debug("cannot renew the worker's record: %s", exc)
            time.sleep(ttl / 3)

    if node:
        threading.Thread(target=beat, name="node-heartbeat", daemon=True).start()


def _queue_length(name: str) -> int:
    with celery.connection_for_read() as connection:
        return int(connection.default_channel.client.llen(name))
