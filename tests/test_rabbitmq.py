"""The RabbitMQ relay and the idempotent consumer, against the real broker on 127.0.0.1:5672."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import orjson
import pika
import psycopg
import pytest

from eventsourcing_core import NewEvent, PostgresEventStore, RecordedEvent
from eventsourcing_core.integrations import rabbitmq
from eventsourcing_core.integrations.rabbitmq import DEFAULT_URL, IdempotentConsumer, RabbitRelay
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.postgres.worker import ProjectionWorker
from eventsourcing_core.projection import SqlSession
from tests.proxy import Gate
from tests.test_cli import escore
from tests.workers import relay_to_head, running_worker, wait_until, wait_visible

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]


@pytest.fixture
def exchange() -> Iterator[str]:
    """A topic exchange of this test's own, deleted afterwards with its queues."""
    name = f"escore.test.{uuid4().hex[:8]}"
    yield name
    connection = pika.BlockingConnection(pika.URLParameters(DEFAULT_URL))
    channel = connection.channel()
    for queue in (f"{name}.q", f"{name}.q.dead", f"{name}.all"):
        channel.queue_delete(queue)
    for ex in (name, f"{name}.dead"):
        channel.exchange_delete(ex)
    connection.close()


def _drain(queue: str) -> list[tuple[Any, Any, bytes]]:
    connection = pika.BlockingConnection(pika.URLParameters(DEFAULT_URL))
    channel = connection.channel()
    messages = []
    while (message := channel.basic_get(queue, auto_ack=True))[0] is not None:
        messages.append(message)
    connection.close()
    return messages


def _tap(exchange: str) -> str:
    """A queue that receives everything published to the exchange."""
    connection = pika.BlockingConnection(pika.URLParameters(DEFAULT_URL))
    channel = connection.channel()
    channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    channel.queue_declare(f"{exchange}.all", durable=True)
    channel.queue_bind(f"{exchange}.all", exchange, routing_key="#")
    connection.close()
    return f"{exchange}.all"


def test_the_relay_publishes_every_event_with_its_id_key_and_headers(
    pg_store: PostgresEventStore, exchange: str
) -> None:
    tap = _tap(exchange)
    pg_store.append("order-1", [NewEvent("OrderPlaced", {"n": 1}), NewEvent("OrderPaid", {})])
    pg_store.append("user-1", [NewEvent("UserRegistered", {"username": "alice"})])
    relay = RabbitRelay(exchange=exchange)

    relay_to_head(pg_store, relay)

    messages = _drain(tap)
    recorded = pg_store.read_all()
    assert [p.message_id for _, p, _ in messages] == [str(e.event_id) for e in recorded]
    assert [m.routing_key for m, _, _ in messages] == [
        "order.OrderPlaced",
        "order.OrderPaid",
        "user.UserRegistered",
    ]
    _, first, body = messages[0]
    assert (first.delivery_mode, first.content_type) == (2, "application/json")
    assert (first.headers["stream_id"], first.headers["version"]) == ("order-1", 1)
    assert orjson.loads(body) == {"n": 1}


def test_the_relay_reconnects_when_its_broker_connection_is_forced_closed(
    pg_store: PostgresEventStore, exchange: str
) -> None:
    tap = _tap(exchange)
    relay = RabbitRelay(exchange=exchange)
    runner = ProjectionRunner(pg_store, relay, batch_size=10)
    runner.setup()
    pg_store.append("order-1", [NewEvent("Counted", {"n": n}) for n in range(30)])

    runner.run_batch()
    subprocess.run(
        ["rabbitmqctl", "close_all_connections", "forced by a test"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    while runner.run_batch():
        pass
    relay.close()

    ids = {p.message_id for _, p, _ in _drain(tap)}
    assert ids == {str(e.event_id) for e in pg_store.read_all()}


def _consume(consumer: IdempotentConsumer, until: Any, timeout: float = 30) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,))
    thread.start()
    try:
        wait_until(until, timeout=timeout)
    finally:
        stop.set()
        thread.join(timeout=30)


def test_each_message_is_handled_once_even_when_delivered_twice(
    pg_store: PostgresEventStore, dsn: str, exchange: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    handled: list[str] = []
    finished: list[str] = []

    def handle(body: dict[str, Any], properties: Any, sql: SqlSession) -> None:
        handled.append(properties.message_id)
        sql.execute("SELECT 1")

    consumer = IdempotentConsumer(
        pg_store, "test-consumer", f"{exchange}.q", ["order.*"], handle, exchange=exchange
    )
    handle_delivery = consumer._handle

    def count_deliveries(channel: Any, method: Any, properties: Any, body: bytes) -> None:
        handle_delivery(channel, method, properties, body)
        finished.append(properties.message_id)

    monkeypatch.setattr(consumer, "_handle", count_deliveries)
    _declare(consumer)
    pg_store.append("order-1", [NewEvent("OrderPlaced", {"n": n}) for n in range(5)])
    pg_store.append("user-1", [NewEvent("UserRegistered", {})])
    relay_to_head(pg_store, RabbitRelay(exchange=exchange))
    _relay_all_again_as_a_crash_would(pg_store, exchange)

    # Five order events, each delivered twice: stop only once all ten were
    # handled and acknowledged, or a duplicate still in flight is requeued.
    _consume(consumer, until=lambda: len(finished) == 10)

    assert _processed(dsn, "test-consumer") == 5
    order_ids = {str(e.event_id) for e in pg_store.read_stream("order-1")}
    assert sorted(handled) == sorted(order_ids)
    assert _drain(f"{exchange}.q") == []


def _relay_all_again_as_a_crash_would(store: PostgresEventStore, exchange: str) -> None:
    """A relay that crashed before its checkpoint committed publishes the batch again."""
    relay = RabbitRelay(exchange=exchange)
    try:
        for event in store.read_stream("order-1"):
            relay.apply(event, None)  # type: ignore[arg-type]
    finally:
        relay.close()


def _declare(consumer: IdempotentConsumer) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(DEFAULT_URL))
    consumer.declare(connection.channel())
    connection.close()


def _processed(dsn: str, handler: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM escore.processed_events WHERE handler = %s", [handler]
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_message_the_handler_keeps_failing_on_ends_in_the_dead_letter_queue(
    pg_store: PostgresEventStore, dsn: str, exchange: str
) -> None:
    def handle(body: dict[str, Any], properties: Any, sql: SqlSession) -> None:
        if body.get("poison"):
            raise ValueError("cannot handle this one")

    consumer = IdempotentConsumer(
        pg_store,
        "dlq-consumer",
        f"{exchange}.q",
        ["#"],
        handle,
        exchange=exchange,
        max_attempts=2,
    )
    _declare(consumer)
    pg_store.append("order-1", [NewEvent("OrderPlaced", {"poison": n == 1}) for n in range(3)])
    relay_to_head(pg_store, RabbitRelay(exchange=exchange))

    _consume(consumer, until=lambda: len(_peek(consumer.dead_letter_queue)) == 1)

    [(_, properties, body)] = _drain(consumer.dead_letter_queue)
    assert orjson.loads(body) == {"poison": True}
    assert properties.message_id == str(pg_store.read_stream("order-1")[1].event_id)
    assert _processed(dsn, "dlq-consumer") == 2


def _peek(queue: str) -> list[int]:
    connection = pika.BlockingConnection(pika.URLParameters(DEFAULT_URL))
    count = connection.channel().queue_declare(queue, passive=True).method.message_count
    connection.close()
    return [1] * int(count)


def test_a_relay_killed_mid_stream_and_restarted_loses_nothing_and_duplicates_are_filtered(
    pg_store: PostgresEventStore, dsn: str, exchange: str
) -> None:
    handled: list[str] = []
    consumer = IdempotentConsumer(
        pg_store,
        "kill-consumer",
        f"{exchange}.q",
        ["#"],
        lambda body, properties, sql: handled.append(properties.message_id),
        exchange=exchange,
    )
    _declare(consumer)
    total = 300
    pg_store.append("order-1", [NewEvent("Counted", {"n": n}) for n in range(total)])
    relay_args = ("--projection", "relay", "--exchange", exchange, "--batch", "50")

    with running_worker(dsn, *relay_args, "--delay", "0.005") as relay:
        wait_until(lambda: len(_peek(f"{exchange}.q")) > 40, timeout=30)
        relay.send_signal(signal.SIGKILL)
    assert len(_peek(f"{exchange}.q")) < total, "the relay finished before it was killed"
    status = ProjectionRunner(pg_store, RabbitRelay(exchange=exchange))
    with running_worker(dsn, *relay_args):
        wait_until(lambda: status.status().lag == 0, timeout=60)

    _consume(consumer, until=lambda: _processed(dsn, "kill-consumer") == total)
    assert sorted(handled) == sorted(str(e.event_id) for e in pg_store.read_all(limit=1000))


def test_the_relay_rides_out_a_broker_restart(pg_store: PostgresEventStore, exchange: str) -> None:
    tap = _tap(exchange)
    pg_store.append("order-1", [NewEvent("Counted", {"n": n}) for n in range(20)])
    relay = RabbitRelay(exchange=exchange)
    runner = ProjectionRunner(pg_store, relay, batch_size=5)
    runner.setup()
    runner.run_batch()

    _rabbitmqctl("stop_app")

    def start_again() -> None:
        time.sleep(1.5)
        _rabbitmqctl("start_app")

    restarted = threading.Thread(target=start_again)
    restarted.start()
    try:
        while runner.run_batch():
            pass
    finally:
        restarted.join(timeout=120)
        relay.close()

    ids = {p.message_id for _, p, _ in _drain(tap)}
    assert ids == {str(e.event_id) for e in pg_store.read_all()}


def _rabbitmqctl(command: str) -> None:
    subprocess.run(["rabbitmqctl", command], check=True, capture_output=True, timeout=120)


def test_an_event_with_a_category_too_long_for_a_routing_key_is_published_under_a_short_one(
    pg_store: PostgresEventStore, exchange: str
) -> None:
    tap = _tap(exchange)
    pg_store.append(f"{'c' * 200}-1", [NewEvent("T" * 100, {})])  # 301 bytes as a key
    pg_store.append("order-1", [NewEvent("OrderPlaced", {})])
    wait_visible(pg_store, 2)

    relay_to_head(pg_store, RabbitRelay(exchange=exchange, reconnect_for=5))

    keys = [method.routing_key for method, _, _ in _drain(tap)]
    assert keys == [rabbitmq.routing_key(pg_store.read_all()[0]), "order.OrderPlaced"]
    assert len(keys[0]) <= 255


def test_an_event_the_broker_can_never_take_is_parked_and_the_relay_goes_on(
    pg_store: PostgresEventStore, exchange: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tap = _tap(exchange)
    valid_key = rabbitmq.routing_key

    def key(event: RecordedEvent) -> str:
        return "k" * 300 if event.event_type == "Unsendable" else valid_key(event)

    monkeypatch.setattr(rabbitmq, "routing_key", key)
    pg_store.append("order-1", [NewEvent("Unsendable", {}), NewEvent("OrderPlaced", {})])
    wait_visible(pg_store, 2)
    relay = RabbitRelay(exchange=exchange, reconnect_for=5)
    runner = ProjectionRunner(pg_store, relay)

    started = time.monotonic()
    relay_to_head(pg_store, relay)

    assert time.monotonic() - started < 10
    assert [p.type for _, p, _ in _drain(tap)] == ["OrderPlaced"]
    [parked] = runner.parked()
    assert (parked.event_type, parked.attempts) == ("Unsendable", 1)
    assert "cannot be published" in parked.error
    assert runner.status().lag == 0


def test_escore_relay_parked_shows_what_the_broker_refused_and_retry_publishes_it(
    pg_store: PostgresEventStore, dsn: str, exchange: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tap = _tap(exchange)
    with monkeypatch.context() as patched:  # a routing key rule that later gets fixed
        patched.setattr(rabbitmq, "routing_key", lambda event: "k" * 300)
        pg_store.append("order-1", [NewEvent("OrderPlaced", {})])
        wait_visible(pg_store, 1)
        relay_to_head(pg_store, RabbitRelay(exchange=exchange, reconnect_for=5))
    relay = ("--dsn", dsn, "relay")

    parked = escore(*relay, "parked", "--exchange", exchange)
    retried = escore(*relay, "retry", "--exchange", exchange)
    after = escore(*relay, "parked", "--exchange", exchange)

    assert (parked.returncode, retried.returncode, after.returncode) == (0, 0, 0)
    assert "order-1  1        OrderPlaced  1" in parked.stdout
    assert "cannot be published" in parked.stdout
    assert retried.stdout == "1 parked event(s) applied again\n"
    assert "order-1" not in after.stdout
    assert [p.type for _, p, _ in _drain(tap)] == ["OrderPlaced"]


def test_a_relay_that_failed_while_its_broker_was_down_publishes_once_it_is_back(
    pg_store: PostgresEventStore, exchange: str
) -> None:
    tap = _tap(exchange)
    gate = Gate("127.0.0.1", 5672)
    url = f"amqp://guest:guest@127.0.0.1:{gate.port}/%2F"
    relay = RabbitRelay(url, exchange=exchange, reconnect_for=0.3)
    runner = ProjectionRunner(pg_store, relay)
    runner.setup()
    stop = threading.Event()
    worker = ProjectionWorker(pg_store, [relay], idle_wait=0.05, claim_interval=0.05)
    thread = threading.Thread(target=worker.run, args=(stop,))
    pg_store.append("order-1", [NewEvent("OrderPlaced", {"n": n}) for n in range(3)])
    wait_visible(pg_store, 3)
    thread.start()
    try:
        wait_until(lambda: "retrying in" in (runner.status().last_error or ""), timeout=30)
        assert runner.status().status == "failed"
        gate.open()
        wait_until(lambda: runner.status().status == "running", timeout=30)
        wait_until(lambda: runner.status().lag == 0, timeout=30)
    finally:
        stop.set()
        thread.join(timeout=10)
        gate.close()

    ids = [p.message_id for _, p, _ in _drain(tap)]
    assert ids == [str(e.event_id) for e in pg_store.read_all()]
