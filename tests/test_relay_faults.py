"""The relay while its broker is down: stop requests, unpublishable events. No broker needed."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from eventsourcing_core import Metadata, NewEvent, PostgresEventStore, RecordedEvent
from eventsourcing_core.integrations.rabbitmq import RabbitRelay, routing_key
from eventsourcing_core.postgres.projections import ProjectionRunner
from tests.workers import running_worker, wait_until


@contextmanager
def down_broker(kind: str) -> Iterator[str]:
    """A loopback "broker" that is down: refusing connections, or accepting and never answering."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    if kind == "silent":
        sock.listen(16)  # the kernel completes TCP handshakes; nobody ever speaks AMQP
    try:
        yield f"amqp://guest:guest@127.0.0.1:{sock.getsockname()[1]}/%2F"
    finally:
        sock.close()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["refusing", "silent"])
def test_a_relay_stops_within_two_seconds_of_sigterm_while_its_broker_is_down(
    pg_store: PostgresEventStore, dsn: str, kind: str
) -> None:
    pg_store.append("order-1", [NewEvent("OrderPlaced", {})])
    relay = ProjectionRunner(pg_store, RabbitRelay())
    with (
        down_broker(kind) as url,
        running_worker(dsn, "--projection", "relay", "--url", url) as worker,
    ):
        wait_until(lambda: _status(relay) == "running", timeout=30)
        time.sleep(2.0)  # well into reconnecting
        assert worker.poll() is None
        worker.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        worker.wait(timeout=30)
        stopped_after = time.monotonic() - sent

    assert stopped_after < 2.0, f"the relay took {stopped_after:.1f}s to stop"
    assert worker.returncode == 0
    assert relay.status().status == "stopped"
    assert relay.status().lag == 1


def _status(runner: ProjectionRunner) -> str | None:
    try:
        return runner.status().status
    except Exception:
        return None


def _recorded(stream_id: str, event_type: str) -> RecordedEvent:
    return RecordedEvent(
        stream_id, 1, uuid4(), event_type, {}, Metadata(), 1, datetime.now(UTC), 1, 1
    )


def test_a_routing_key_is_category_dot_event_type_when_it_fits() -> None:
    assert routing_key(_recorded("order-1", "OrderPlaced")) == "order.OrderPlaced"
    fits = _recorded("c" * 200 + "-1", "T" * 54)
    assert routing_key(fits) == "c" * 200 + "." + "T" * 54


def test_a_routing_key_over_255_bytes_is_cut_and_hashed_per_long_part() -> None:
    long_category = "é" * 200  # 400 bytes
    key = routing_key(_recorded(f"{long_category}-1", "OrderPlaced"))
    category, event_type = key.rsplit(".", 1)

    assert len(key.encode()) <= 255
    assert event_type == "OrderPlaced"
    assert category.startswith("é" * 55)
    assert len(category.split("~")[1]) == 16
    assert key == routing_key(_recorded(f"{long_category}-2", "OrderPlaced"))
    other = routing_key(_recorded(f"{long_category}x-1", "OrderPlaced"))
    assert other != key
    assert len(other.encode()) <= 255
    both = routing_key(_recorded("c" * 300 + "-1", "T" * 300))
    assert len(both.encode()) <= 255
    assert both.count("~") == 2
