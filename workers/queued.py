"""Claims whose task message waits in the broker: their leases live as long as the message.

A claim's lease is short (``lease_seconds``): the worker running the task renews it
(``tracker.leases.Keeper``). Before that, while the message waits in a queue, the tick renews
it, but only as long as the claim is recorded here, in a sorted set of the broker's Redis
(``tracker:queued:<kind>``, member ``id:token``, score the time it was queued):

- the tick records each claim it enqueues (``add``); the task forgets it when it starts
  (``started``), and renews the lease itself from then on;
- every third of a lease, one tick renews the leases of the claims recorded (``keep_alive``),
  forgetting those no longer held and those queued longer than ``MAX_WAIT``.

So a claim whose message is lost — Redis restarted without persistence, the set with it; a
worker killed with messages reserved — is no longer renewed and runs out within
``lease_seconds``, and the next tick claims the work again. The late message, if it ever comes
back, finds its claim gone and is dropped at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from db.lease import Work
from tracker import leases
from tracker.app import App

log = logging.getLogger(__name__)
MAX_WAIT = 900.0  # seconds a message may wait in a queue with its lease renewed
_LOCK = "tracker:queued:renewing"


def key(work: Work) -> str:
    return f"tracker:queued:{work.name}"


def add(client: Any, work: Work, claims: Sequence[leases.Claim]) -> None:
    """Record claims whose messages were just sent."""
    if claims:
        now = time.time()
        client.zadd(key(work), {f"{i}:{token}": now for i, token in claims})


def started(client: Any, work: Work, claims: Sequence[leases.Claim]) -> None:
    """The task of these claims started: its worker renews their leases from now on."""
    if not claims:
        return
    try:
        client.zrem(key(work), *[f"{i}:{token}" for i, token in claims])
    except Exception as exc:  # noqa: BLE001 - the tick forgets it once the work is stored
        log.debug("cannot forget queued claims: %s", exc)


def keep_alive(app: App, client: Any) -> int:
    """Renew the leases of the claims waiting in the broker, once per third of a lease across
    all ticks (a Redis lock with that expiry); returns how many are still held."""
    interval = max(1, int(app.settings.lease_seconds // 3))
    if not client.set(_LOCK, "1", nx=True, ex=interval):
        return -1  # another tick did it less than a third of a lease ago
    held = 0
    for work in leases.KINDS:
        name = key(work)
        client.zremrangebyscore(name, "-inf", time.time() - MAX_WAIT)
        members = [m.decode() if isinstance(m, bytes) else str(m)
                   for m in client.zrange(name, 0, -1)]
        claims = [_parse(m) for m in members]
        still = leases.renew(app, work, claims)
        gone = [m for m, (i, _) in zip(members, claims, strict=True) if i not in still]
        if gone:
            client.zrem(name, *gone)
        held += len(still)
    return held


def _parse(member: str) -> leases.Claim:
    head, _, token = member.partition(":")
    return int(head), token
