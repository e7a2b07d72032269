"""The worker's Redis transport (workers.broker): when Redis goes away, dropping the connection
as Celery does cannot stop the worker. Real Redis (a private one, stopped for real), real kombu
messages, in process."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection, Queue
from kombu.common import ignore_errors
from kombu.message import Message

from tests.services import PrivateRedis
from workers import tasks  # noqa: F401 - registers the tracker tasks
from workers.app import celery
from workers.broker import Transport, transport_for

pytestmark = [pytest.mark.redis]

log = logging.getLogger(__name__)
OURS = "workers.broker:Transport"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


def receive(connection: Connection) -> Message:
    """A task message received on the connection's default channel (as the worker's task
    consumer does), not yet acked (late ack)."""
    celery.send_task("tracker.prune_bodies", queue="housekeeping", connection=connection)
    message = Queue("housekeeping")(connection.default_channel).get(no_ack=False)
    assert message is not None
    return message


def lose_the_broker(redis_server: PrivateRedis, connection: Connection, message: Message) -> None:
    """Redis goes away and the consumer drops its connection as Celery 5.7 does
    (``Consumer.on_connection_error_after_connected``: ``collect()``, then ``close()``, connection
    errors ignored), leaving the channel the message came on detached from it and without its
    Redis pools (dropped by the Redis client's disconnect callback): the state in which the
    worker stopped with "Unrecoverable error"."""
    redis_server.stop()
    with contextlib.suppress(Exception):  # as Celery
        connection.collect(socket_timeout=1)
    ignore_errors(connection, connection.close)
    message.channel._disconnect_pools()


def test_the_worker_uses_it_on_redis_brokers() -> None:
    assert transport_for("redis://127.0.0.1:6379/0") == OURS
    assert transport_for("rediss://example.org:6380/0") is None  # kombu's, with its TLS
    assert isinstance(celery.connection_for_read("redis://127.0.0.1:1/0").transport, Transport)


def test_acks_while_connected(redis_server: PrivateRedis) -> None:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    with Connection(redis_server.url, transport=OURS) as connection:
        message = receive(connection)
        assert client.hlen("unacked") == 1
        message.ack()
        assert client.hlen("unacked") == 0
    client.close()


@pytest.mark.parametrize("transport", [None, OURS])
def test_a_channel_of_a_dropped_connection_fails_with_a_connection_error(
    transport: str | None, redis_server: PrivateRedis
) -> None:
    """What crashed the worker: kombu's channel needs Redis again (to put unacked messages
    back on close, to ack a task that ended since) and rebuilds its pool from a connection
    that is gone. With kombu's own transport this raises ``AttributeError`` (if that test
    fails, kombu fixed it and workers.broker may go); with ours, a connection error, which
    Celery ignores or logs."""
    connection = Connection(redis_server.url, transport=transport)
    message = receive(connection)
    lose_the_broker(redis_server, connection, message)
    redis_server.start()
    if transport is None:
        with pytest.raises(AttributeError, match="hostname"):
            message.ack()
        return
    with pytest.raises(connection.connection_errors):
        message.ack()
    message.ack_log_error(log, connection.connection_errors)  # as Celery: logged, not raised
    assert not message.acknowledged
