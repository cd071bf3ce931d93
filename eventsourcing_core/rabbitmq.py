"""Publishing events to other services through RabbitMQ, without dual writes.

``RabbitRelay`` is a projection: a worker runs it over the global log, and it
publishes each event to a topic exchange with publisher confirms. Its
checkpoint commits only after the broker has confirmed the whole batch, so
nothing is lost if the relay or the broker restarts; an event may be
published again after a crash (at least once), which consumers filter out by
message id. Run it in a ``ProjectionWorker``: one relay is active at a time.

Messages: routing key ``<category>.<event type>``, message id = event id,
persistent, ``application/json`` body (the event's data), and the stream,
version, checkpoint, correlation and causation ids in the headers.

``IdempotentConsumer`` consumes a queue bound to chosen routing keys. For each
message it records the message id and runs the handler in one PostgreSQL
transaction, then acks; a redelivered message is acked without running the
handler again. The transaction starts once the message is in hand and decoded
and ends when the handler returns: keep the handler to its database writes
(every global reader of the database waits while it holds a transaction id).
A handler that keeps failing: the message goes to the queue's dead-letter
queue after ``max_attempts`` deliveries (a quorum queue's delivery limit).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import orjson
import pika
from pika.adapters.blocking_connection import BlockingChannel
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_random_exponential

from eventsourcing_core.events import RecordedEvent
from eventsourcing_core.postgres.projection_statements import ProjectionStatements
from eventsourcing_core.postgres.projections import session_for
from eventsourcing_core.postgres.store import PostgresEventStore
from eventsourcing_core.projection import Projection, SqlSession

logger = logging.getLogger(__name__)

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
DEFAULT_EXCHANGE = "escore.events"
_BROKER_ERRORS = (pika.exceptions.AMQPError, OSError)


def routing_key(event: RecordedEvent) -> str:
    """``<category>.<event type>``: bind ``order.*`` or ``*.OrderPlaced`` or ``#``."""
    return f"{event.category}.{event.event_type}"


class RabbitRelay(Projection):
    """Publishes the global log to a topic exchange, with confirms, at least once."""

    name = "rabbitmq_relay"
    max_attempts = 3

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        exchange: str = DEFAULT_EXCHANGE,
        reconnect_for: float = 120.0,
    ) -> None:
        self._parameters = pika.URLParameters(url)
        self._exchange = exchange
        self._reconnect_for = reconnect_for
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
        # A broker that restarts or drops us: reconnect and publish again,
        # for a while, before letting the projection's failure policy decide.
        retrying = Retrying(
            retry=retry_if_exception_type(_BROKER_ERRORS),
            stop=stop_after_delay(self._reconnect_for),
            wait=wait_random_exponential(multiplier=0.2, max=5),
            before_sleep=lambda state: self._disconnect(),
            reraise=True,
        )
        retrying(self._publish, event)

    def clear(self, sql: SqlSession) -> None:
        """Nothing to clear: published messages are out in the world."""

    def close(self) -> None:
        """Close the broker connection."""
        self._disconnect()

    def _publish(self, event: RecordedEvent) -> None:
        channel = self._ensure_channel()
        # With confirms on, basic_publish returns once the broker has the message.
        channel.basic_publish(
            exchange=self._exchange,
            routing_key=routing_key(event),
            body=orjson.dumps(event.data),
            properties=pika.BasicProperties(
                message_id=str(event.event_id),
                delivery_mode=pika.DeliveryMode.Persistent,
                content_type="application/json",
                type=event.event_type,
                headers={
                    "stream_id": event.stream_id,
                    "version": event.version,
                    "checkpoint": str(event.checkpoint),
                    "schema_version": event.schema_version,
                    "correlation_id": _text(event.metadata.correlation_id),
                    "causation_id": _text(event.metadata.causation_id),
                    **{f"x-header-{k}": str(v) for k, v in event.metadata.headers.items()},
                },
            ),
        )

    def _ensure_channel(self) -> BlockingChannel:
        if self._channel is None or self._channel.is_closed:
            self._disconnect()
            self._connection = pika.BlockingConnection(self._parameters)
            channel = self._connection.channel()
            channel.exchange_declare(self._exchange, exchange_type="topic", durable=True)
            channel.confirm_delivery()
            self._channel = channel
        return self._channel

    def _disconnect(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(*_BROKER_ERRORS):
                connection.close()


def _text(value: object) -> str | None:
    return None if value is None else str(value)


Handler = Callable[[dict[str, Any], Any, SqlSession], None]
"""A consumer handler: (body, pika properties, sql on the message's transaction)."""


class IdempotentConsumer:
    """Consume a queue exactly once per message id, recorded in PostgreSQL."""

    def __init__(
        self,
        store: PostgresEventStore,
        name: str,
        queue: str,
        routing_keys: list[str],
        handler: Handler,
        *,
        url: str = DEFAULT_URL,
        exchange: str = DEFAULT_EXCHANGE,
        max_attempts: int = 3,
    ) -> None:
        self._store = store
        self._name = name
        self._queue = queue
        self._routing_keys = routing_keys
        self._handler = handler
        self._parameters = pika.URLParameters(url)
        self._exchange = exchange
        self._max_attempts = max_attempts
        self._sql = ProjectionStatements.for_schema(store.schema)

    @property
    def dead_letter_queue(self) -> str:
        """Where messages go after ``max_attempts`` failed deliveries."""
        return f"{self._queue}.dead"

    def declare(self, channel: BlockingChannel) -> None:
        """The exchange, the quorum queue with its delivery limit, its bindings and its DLQ."""
        channel.exchange_declare(self._exchange, exchange_type="topic", durable=True)
        dead_exchange = f"{self._exchange}.dead"
        channel.exchange_declare(dead_exchange, exchange_type="direct", durable=True)
        channel.queue_declare(self.dead_letter_queue, durable=True)
        channel.queue_bind(self.dead_letter_queue, dead_exchange, routing_key=self._queue)
        channel.queue_declare(
            self._queue,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": self._max_attempts - 1,
                "x-dead-letter-exchange": dead_exchange,
                "x-dead-letter-routing-key": self._queue,
            },
        )
        for key in self._routing_keys:
            channel.queue_bind(self._queue, self._exchange, routing_key=key)

    def run(self, stop: threading.Event, *, idle_timeout: float = 0.2) -> None:
        """Consume until ``stop`` is set."""
        connection = pika.BlockingConnection(self._parameters)
        try:
            channel = connection.channel()
            self.declare(channel)
            channel.basic_qos(prefetch_count=50)
            for method, properties, body in channel.consume(
                self._queue, inactivity_timeout=idle_timeout
            ):
                if stop.is_set():
                    break
                if method is None:
                    continue
                self._handle(channel, method, properties, body)
            channel.cancel()
        finally:
            if connection.is_open:
                connection.close()

    def _handle(self, channel: BlockingChannel, method: Any, properties: Any, body: bytes) -> None:
        try:
            # Everything that can wait (decoding, a pooled connection) comes
            # before the transaction; inside it, only the mark and the handler.
            message = orjson.loads(body)
            with self._store.pool.connection() as conn, conn.transaction():
                session = session_for(conn, self._store, self._sql)
                if session.mark_processed(self._name, properties.message_id):
                    self._handler(message, properties, session)
        except Exception as error:
            logger.warning("%s: message %s failed: %s", self._name, properties.message_id, error)
            channel.basic_nack(method.delivery_tag, requeue=True)
            return
        channel.basic_ack(method.delivery_tag)
