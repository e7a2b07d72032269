"""kombu's Redis transport, except that a channel whose connection was closed raises a
connection error when it needs Redis again, instead of ``AttributeError``.

Why: when a worker loses Redis, Celery (5.7) drops the consumer's connection
(``Consumer.on_connection_error_after_connected``: ``collect()``, then ``close()``) and
reconnects. ``collect()`` already detaches the transport from its connection (kombu sets
``Transport.client`` to ``None``) but leaves the default channel for ``close()`` to close again.
If that channel still holds unacked messages (a late-ack task running, or prefetched, when Redis
went away), closing it tries to put them back in Redis; its connection pool is gone too, so it
rebuilds it from ``self.connection.client`` and fails with ``AttributeError: 'NoneType' object
has no attribute 'hostname'``. That is not a connection error, so Celery's ``ignore_errors``
lets it through and the worker stops: "Unrecoverable error" (``celery.worker``), seen in
``test_deliveries_pending_survive_a_redis_restart``. A late ack or reject of such a message on
the old channel takes the same path.

Raised as a connection error, the failure is what it is: the broker connection is gone. Celery
then carries on as for any lost connection (it cancels the late-ack tasks and reconnects), and
the messages stay where Redis has them: lost with a restart without persistence, or unacked
until the visibility timeout hands them out again. Either way the leases heal it, nothing is
lost or run twice (see ``workers.app``).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection is None or self.connection.client is None:
            raise RedisConnectionError("the broker connection of this channel is closed")
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)
        return params


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    Channel = Channel


def transport_for(broker_url: str) -> str | None:
    """The kombu transport Celery is to use for ``broker_url`` (``None``: kombu's choice)."""
    return "workers.broker:Transport" if broker_url.startswith("redis://") else None
