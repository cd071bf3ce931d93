"""The relay publishing batches: one wait for all confirms, nacks and returns handled explicitly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import orjson
import pika
import pytest

from eventsourcing_core import Checkpoint, NewEvent, PostgresEventStore
from eventsourcing_core.errors import ProjectionFailedError
from eventsourcing_core.integrations.rabbitmq import DEFAULT_URL, RabbitRelay
from eventsourcing_core.integrations.rabbitmq_confirms import ConfirmingPublisher, NackedError
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.projection import ErrorPolicy
from tests.test_typed_projection import Account, old_and_new_deposits
from tests.workers import relay_to_head, wait_visible

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]


@pytest.fixture
def exchange() -> Iterator[str]:
    """A topic exchange of this test's own and its queue, deleted afterwards."""
    name = f"escore.test.batches.{uuid4().hex[:8]}"
    yield name
    with _channel() as channel:
        channel.queue_delete(f"{name}.q")
        channel.exchange_delete(name)


class _channel:
    def __enter__(self) -> Any:
        self._connection = pika.BlockingConnection(pika.URLParameters(DEFAULT_URL))
        return self._connection.channel()

    def __exit__(self, *_: object) -> None:
        self._connection.close()


FULL_AFTER_3 = {"x-max-length": 3, "x-overflow": "reject-publish"}


def _queue(exchange: str, key: str = "#", arguments: dict[str, Any] | None = None) -> str:
    """A queue bound to the exchange for ``key`` (declared as the relay declares it)."""
    with _channel() as channel:
        channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        channel.queue_declare(f"{exchange}.q", durable=True, arguments=arguments)
        channel.queue_bind(f"{exchange}.q", exchange, routing_key=key)
    return f"{exchange}.q"


def _drain(queue: str) -> list[tuple[Any, Any, bytes]]:
    messages = []
    with _channel() as channel:
        while (message := channel.basic_get(queue, auto_ack=True))[0] is not None:
            messages.append(message)
    return messages


def test_a_batch_of_a_thousand_messages_arrives_in_order_once_confirmed(exchange: str) -> None:
    queue = _queue(exchange)
    publisher = ConfirmingPublisher(pika.URLParameters(DEFAULT_URL), exchange)
    messages = [
        ("k", str(n).encode(), pika.BasicProperties(message_id=str(n))) for n in range(1000)
    ]
    try:
        publisher.publish(messages)
        publisher.publish(messages[:10])
    finally:
        publisher.close()

    bodies = [body for _, _, body in _drain(queue)]
    assert bodies == [str(n).encode() for n in range(1000)] + [str(n).encode() for n in range(10)]


def test_a_nacked_message_fails_the_batch(exchange: str) -> None:
    # A full queue that rejects publishes makes the broker nack them.
    _queue(exchange, arguments=FULL_AFTER_3)
    publisher = ConfirmingPublisher(pika.URLParameters(DEFAULT_URL), exchange)
    messages = [("k", b"{}", pika.BasicProperties(message_id=str(n))) for n in range(5)]
    try:
        with pytest.raises(NackedError, match="nacked 2 of 5"):
            publisher.publish(messages)
    finally:
        publisher.close()


class ImpatientRelay(RabbitRelay):
    max_attempts = 1


def test_the_relay_never_moves_its_checkpoint_past_a_nacked_event(
    pg_store: PostgresEventStore, exchange: str
) -> None:
    queue = _queue(exchange, arguments=FULL_AFTER_3)
    pg_store.append("order-1", [NewEvent("OrderPlaced", {"n": n}) for n in range(5)])
    wait_visible(pg_store, 5)
    relay = ImpatientRelay(exchange=exchange, reconnect_for=0.3)
    runner = ProjectionRunner(pg_store, relay)
    runner.setup()

    try:
        with pytest.raises(ProjectionFailedError, match="nacked"):
            runner.run_batch()  # the batch, then its first event alone: the queue is full
        assert runner.checkpoint() == Checkpoint.START
        with _channel() as channel:
            channel.queue_delete(queue)
        queue = _queue(exchange)  # room for everything now
        while runner.run_batch():
            pass
    finally:
        relay.close()

    assert runner.status().lag == 0
    published = {properties.message_id for _, properties, _ in _drain(queue)}
    assert published == {str(event.event_id) for event in pg_store.read_stream("order-1")}


class ParkingRelay(RabbitRelay):
    max_attempts = 1
    on_error = ErrorPolicy.PARK


def test_a_returned_message_is_parked_and_the_others_are_published(
    pg_store: PostgresEventStore, exchange: str
) -> None:
    queue = _queue(exchange, key="order.OrderPlaced")
    pg_store.append(
        "order-1", [NewEvent("OrderPlaced", {}), NewEvent("Lost", {}), NewEvent("OrderPlaced", {})]
    )
    wait_visible(pg_store, 3)
    relay = ParkingRelay(exchange=exchange, mandatory=True)
    runner = relay_to_head(pg_store, relay, batch_size=500)

    placed = {str(e.event_id) for e in pg_store.read_stream("order-1") if e.version != 2}
    assert {properties.message_id for _, properties, _ in _drain(queue)} == placed
    [parked] = runner.parked()
    assert (parked.event_type, parked.version) == ("Lost", 2)
    assert "no queue is bound" in parked.error
    assert runner.status().lag == 0


def test_the_relay_with_upcasters_publishes_old_events_at_their_current_version(
    pg_store: PostgresEventStore, exchange: str
) -> None:
    queue = _queue(exchange)
    old_and_new_deposits(pg_store)
    relay = RabbitRelay(exchange=exchange, upcasters=Account.upcasters)
    relay_to_head(pg_store, relay, batch_size=500)

    published = [
        (key.routing_key, props.type, props.headers["schema_version"], orjson.loads(body))
        for key, props, body in _drain(queue)
    ]
    assert published == [
        ("account.Deposited", "Deposited", 2, {"amount_cents": 1250}),
        ("account.Deposited", "Deposited", 2, {"amount_cents": 100}),
    ]
