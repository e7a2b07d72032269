"""Claims whose task has not started yet: their leases live as long as their message does.

A claim's lease is short (``lease_seconds``): the worker process running the task renews it
(``tracker.leases.Keeper``). Before the task starts, the tick renews it, but only while the
message is known to be alive, in the broker's Redis:

- **queued**: the tick records each claim it sends in ``tracker:queued`` (a sorted set, member
  ``kind:id:token``, score the time it was sent);
- **reserved**: a worker that receives the message moves the claim to its own hash
  ``tracker:reserved:<node>``; the worker's main process proves it is alive by renewing
  ``tracker:node:<node>`` (``tracker.health.record_worker_alive``, expiring after
  ``node_ttl``) every third of that;
- **started**: the task forgets the claim and renews the lease itself from then on.

Every third of a lease one tick (``keep_alive``) renews the leases of the claims queued (at most
``MAX_WAIT``) and reserved by live workers, and forgets those no longer held. So a claim whose
message is lost — Redis restarted without persistence, the records with it; a worker killed with
``kill -9`` holding reserved messages, its node record expiring — is no longer renewed and runs
out within ``lease_seconds``; the next tick claims the work again. The old message, if Redis
ever hands it out again, finds its claim gone and is dropped at once.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from db.lease import Work
from tracker import health, leases
from tracker.app import App

log = logging.getLogger(__name__)
MAX_WAIT = 900.0  # seconds a message may wait in a queue with its lease renewed
QUEUED = "tracker:queued"
_RESERVED = "tracker:reserved:"  # + node name
_LOCK = "tracker:queued-renewing"
_KINDS = {work.name: work for work in leases.KINDS}


def node_ttl(lease_seconds: float) -> int:
    """Seconds a worker's record lives without renewal: a third of a lease, at least 3."""
    return max(3, int(lease_seconds // 3))


def _members(work: Work, claims: Sequence[leases.Claim]) -> list[str]:
    return [f"{work.name}:{i}:{token}" for i, token in claims]


def add(client: Any, work: Work, claims: Sequence[leases.Claim]) -> None:
    """Record claims whose messages were just sent."""
    if claims:
        now = time.time()
        client.zadd(QUEUED, dict.fromkeys(_members(work, claims), now))


def received(client: Any, node: str, work: Work, claims: Sequence[leases.Claim]) -> None:
    """The worker ``node`` received (reserved) these claims' message."""
    members = _members(work, claims)
    if members:
        with client.pipeline() as pipe:
            pipe.zrem(QUEUED, *members)
            pipe.hset(_RESERVED + node, mapping=dict.fromkeys(members, time.time()))
            pipe.execute()


def started(client: Any, node: str, work: Work, claims: Sequence[leases.Claim]) -> None:
    """These claims' task started: its worker process renews their leases from now on."""
    members = _members(work, claims)
    if not members:
        return
    try:
        with client.pipeline() as pipe:
            pipe.zrem(QUEUED, *members)
            pipe.hdel(_RESERVED + node, *members)
            pipe.execute()
    except Exception as exc:  # noqa: BLE001 - the tick forgets them once the work is stored
        log.debug("cannot forget queued claims: %s", exc)


node_alive = health.record_worker_alive
live_nodes = health.live_workers


def keep_alive(app: App, client: Any) -> int:
    """Renew the leases of the claims waiting to start, once per third of a lease across all
    ticks (a Redis lock with that expiry); returns how many are still held (-1: not this
    tick's turn)."""
    interval = max(1, int(app.settings.lease_seconds // 3))
    if not client.set(_LOCK, "1", nx=True, ex=interval):
        return -1
    client.zremrangebyscore(QUEUED, "-inf", time.time() - MAX_WAIT)
    places: dict[str, str | None] = {_text(m): None for m in client.zrange(QUEUED, 0, -1)}
    alive = set(live_nodes(client))
    for key in client.scan_iter(_RESERVED + "*"):
        node = _text(key).removeprefix(_RESERVED)
        if node in alive:
            places.update({_text(m): node for m in client.hkeys(key)})
        else:  # the worker died holding these messages: let their leases run out
            client.delete(key)
    by_kind: dict[str, list[tuple[str, leases.Claim]]] = defaultdict(list)
    for member in places:
        kind, _, rest = member.partition(":")
        head, _, token = rest.partition(":")
        if kind in _KINDS and head.isdigit():
            by_kind[kind].append((member, (int(head), token)))
    held = 0
    for kind, items in by_kind.items():
        still = leases.renew(app, _KINDS[kind], [claim for _, claim in items])
        held += len(still)
        for member, (row_id, _) in items:
            if row_id not in still:
                _forget(client, member, places[member])
    return held


def _forget(client: Any, member: str, node: str | None) -> None:
    if node is None:
        client.zrem(QUEUED, member)
    else:
        client.hdel(_RESERVED + node, member)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
