"""Publishing events to other services through RabbitMQ, without dual writes.

``RabbitRelay`` is a projection: a worker runs it over the global log, and it
publishes each batch of events to a topic exchange with publisher confirms,
then waits once for all of the batch's confirms (``rabbitmq_confirms``). Its
checkpoint commits only after the broker has confirmed the whole batch, so
nothing is lost if the relay or the broker restarts; an event may be
published again after a crash or a nack (at least once), which consumers
filter out by message id. Run it in a ``ProjectionWorker``: one relay is
active at a time.

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

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    stop_when_event_set,
    wait_random_exponential,
)

from eventsourcing_core.extras import missing_extra
from eventsourcing_core.integrations.rabbitmq_settings import DEFAULT_EXCHANGE as DEFAULT_EXCHANGE
from eventsourcing_core.integrations.rabbitmq_settings import DEFAULT_URL as DEFAULT_URL

try:
    import pika
    from pika.adapters.blocking_connection import BlockingChannel
    from pika.adapters.utils.connection_workflow import AMQPConnectorException
except ImportError:  # pragma: no cover (the test runs without the extra in a subprocess)
    raise missing_extra("rabbitmq", "pika") from None

from eventsourcing_core import observe
from eventsourcing_core.errors import MessageReturnedError, UnprocessableEventError
from eventsourcing_core.events import RecordedEvent
from eventsourcing_core.integrations.rabbitmq_confirms import (
    ConfirmingPublisher,
    Message,
    ReturnedError,
)
from eventsourcing_core.postgres.projection_session import session_for
from eventsourcing_core.postgres.projection_statements import ProjectionStatements
from eventsourcing_core.postgres.store import PostgresEventStore
from eventsourcing_core.projection import Projection, SqlSession, StopRequested
from eventsourcing_core.typed_projection import lifted
from eventsourcing_core.upcasting import Upcasters

logger = logging.getLogger(__name__)

# What a broker that is down, restarting or dropping us raises: worth reconnecting for.
_BROKER_ERRORS = (pika.exceptions.AMQPError, AMQPConnectorException, OSError)
# What a message the broker can never take raises: no reconnect helps.
_MESSAGE_ERRORS = (pika.exceptions.ShortStringTooLong,)
_SHORT_STRING = 255  # bytes: AMQP's limit for routing keys, the type property, header names
_HASH_DIGITS = 16


def routing_key(event: RecordedEvent) -> str:
    """``<category>.<event type>``: bind ``order.*`` or ``*.OrderPlaced`` or ``#``.

    Always valid: when the key would pass AMQP's 255 bytes, each part over
    127 bytes is cut to a prefix, ``~`` and 16 hex digits of its SHA-256
    (the same name always gives the same key).
    """
    key = f"{event.category}.{event.event_type}"
    if len(key.encode()) <= _SHORT_STRING:
        return key
    half = _SHORT_STRING // 2
    return f"{shorten(event.category, half)}.{shorten(event.event_type, half)}"


def shorten(text: str, limit: int = _SHORT_STRING) -> str:
    """``text`` if its UTF-8 fits in ``limit`` bytes, else a prefix and a hash of all of it."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    digest = hashlib.sha256(encoded).hexdigest()[:_HASH_DIGITS]
    prefix = encoded[: limit - _HASH_DIGITS - 1].decode(errors="ignore")
    return f"{prefix}~{digest}"


class RabbitRelay(Projection):
    """Publishes the global log to a topic exchange, a batch at a time, confirmed, at least once.

    With ``upcasters`` (an aggregate's ``Aggregate.upcasters``, or
    ``Upcasters.merged`` of several), old events are lifted before they are
    published: consumers see every event at its current type and schema
    version, as a repository loading it would. With ``mandatory``, a message
    no queue is bound for comes back instead of being dropped: its event then
    fails like any other (retried ``max_attempts`` times one at a time, then
    ``on_error``: stop, or park it and go on).
    """

    name = "rabbitmq_relay"
    max_attempts = 3
    apply_batch_size = 500

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        exchange: str = DEFAULT_EXCHANGE,
        reconnect_for: float = 120.0,
        connect_timeout: float = 1.0,
        confirm_timeout: float = 30.0,
        mandatory: bool = False,
        upcasters: Upcasters | None = None,
    ) -> None:
        """``connect_timeout`` bounds each connection attempt (TCP and AMQP handshake),
        so that a stop request is honoured within about that long while the broker is down;
        ``confirm_timeout`` bounds the wait for a batch's confirms."""
        self._parameters = pika.URLParameters(url)
        self._parameters.socket_timeout = connect_timeout
        self._parameters.stack_timeout = connect_timeout
        self._exchange = exchange
        self._reconnect_for = reconnect_for
        self._upcasters = upcasters
        self._stop = threading.Event()
        self._publisher = ConfirmingPublisher(
            self._parameters,
            exchange,
            mandatory=mandatory,
            confirm_timeout=confirm_timeout,
            stop=self._stop,
        )

    def interrupt_on(self, stop: threading.Event) -> None:
        self._stop = self._publisher.stop = stop

    def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
        self.apply_batch([event], sql)

    def apply_batch(self, events: Sequence[RecordedEvent], sql: SqlSession) -> None:
        """Publish the events, then wait for all their confirms; raise unless all were acked."""
        # A broker that restarts, drops us or nacks: reconnect and publish the
        # batch again, for a while, before letting the failure policy decide.
        # A stop request ends the waiting at once (the batch rolls back).
        retrying = Retrying(
            retry=retry_if_exception_type(_BROKER_ERRORS),
            stop=stop_after_delay(self._reconnect_for) | stop_when_event_set(self._stop),
            wait=wait_random_exponential(multiplier=0.2, max=5),
            sleep=self._sleep,
            before_sleep=self._reconnecting,
            reraise=True,
        )
        try:
            retrying(self._publish, events)
        except _BROKER_ERRORS as error:
            if self._stop.is_set():
                raise StopRequested(f"stopped while the broker was unreachable: {error}") from error
            raise

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _reconnecting(self, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        logger.warning("broker unreachable (%r); reconnecting", failure)
        self._publisher.close()

    def clear(self, sql: SqlSession) -> None:
        """Nothing to clear: published messages are out in the world."""

    def close(self) -> None:
        """Close the broker connection."""
        self._publisher.close()

    @observe.observed("confirm")
    def _publish(self, events: Sequence[RecordedEvent]) -> None:
        messages = [self._message(event) for event in events]
        try:
            self._publisher.publish(messages)
        except _MESSAGE_ERRORS as error:
            raise UnprocessableEventError(
                f"{_describe(events)} cannot be published: {error!r}"
            ) from error
        except ReturnedError as returned:
            raise MessageReturnedError(
                f"{_describe(events)}: no queue is bound for {returned.message_ids}"
            ) from returned

    @observe.observed("publish")
    def _message(self, event: RecordedEvent) -> Message:
        """One event's message (observed per event: tracing puts its context in the headers)."""
        if self._upcasters is not None:
            event = lifted(event, self._upcasters)
        return routing_key(event), orjson.dumps(event.data), _properties(event)


def _describe(events: Sequence[RecordedEvent]) -> str:
    first, last = events[0], events[-1]
    if len(events) == 1:
        return f"{first.stream_id!r} version {first.version}"
    return (
        f"a message of {len(events)} ({first.stream_id!r} version {first.version}"
        f" to {last.stream_id!r} version {last.version})"
    )


def _properties(event: RecordedEvent) -> pika.BasicProperties:
    """Message id, persistence, type and headers; names cut to AMQP's 255 bytes."""
    return pika.BasicProperties(
        message_id=str(event.event_id),
        delivery_mode=pika.DeliveryMode.Persistent,
        content_type="application/json",
        type=shorten(event.event_type),
        headers={
            "stream_id": event.stream_id,
            "version": event.version,
            "checkpoint": str(event.checkpoint),
            "schema_version": event.schema_version,
            "correlation_id": _text(event.metadata.correlation_id),
            "causation_id": _text(event.metadata.causation_id),
            **{shorten(f"x-header-{k}"): str(v) for k, v in event.metadata.headers.items()},
        },
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _last_try(max_attempts: int, properties: Any) -> str:
    """Whether a failed delivery goes to the dead-letter queue: its delivery limit is reached."""
    delivered_before = (getattr(properties, "headers", None) or {}).get("x-delivery-count", 0)
    return "yes" if delivered_before >= max_attempts - 1 else "no"


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

    @observe.observed("consume")
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
            observe.count(
                "consumer_failed",
                consumer=self._name,
                dead_lettered=_last_try(self._max_attempts, properties),
            )
            channel.basic_nack(method.delivery_tag, requeue=True)
            return
        channel.basic_ack(method.delivery_tag)
