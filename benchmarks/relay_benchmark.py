"""Throughput of the RabbitMQ relay against pika publishing the same messages directly.

Run: ``python -m benchmarks.relay_benchmark [--dsn DSN] [--amqp URL] [--quick] [--json]``.

One run, one PostgreSQL database (``escore_bench_relay_<pid>``, dropped at the end),
one topic exchange and one durable queue bound to ``#`` (uuid-suffixed names,
deleted at the end; the queue is purged between rounds).

- ours: a ``ProjectionRunner`` with ``RabbitRelay`` (batches of 500) catching
  up from ``Checkpoint.START`` over N events: reading the log, publishing
  each batch and then waiting for all its confirms, and each batch's
  checkpoint commit. The runner is reset (untimed) before each round.
  Target: 13,410 events/s, 10x the 1,341 the relay reached when it waited
  for each message's confirm.
- one confirm at a time: the same relay given one event per ``apply_batch``
  call, so it waits for each message's confirm as the relay used to
  (diagnostic: old against new in the same run).
- raw: pika publishing the same N messages on a ``BlockingConnection`` with
  ``confirm_delivery()``: the same routing keys, message ids, persistent
  delivery mode, JSON bodies and headers, built beforehand from the same
  recorded events so that only publishing is timed. It reads no log and
  commits no checkpoint, so it is the ceiling; the ratio is informational.

The two alternate (ABBA order, ``benchmarks/harness.py``) and the best round
of each side is reported.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import pika
import psycopg

from benchmarks.harness import (
    Sample,
    cli,
    fresh_database,
    interleave,
    log,
    machine_facts,
    wait_until_visible,
)
from benchmarks.report import Report, Result, Table
from benchmarks.store_benchmark import EVENT, METADATA
from eventsourcing_core import Checkpoint, NewEvent, PostgresEventStore, RecordedEvent
from eventsourcing_core.integrations.rabbitmq import DEFAULT_URL, RabbitRelay, routing_key
from eventsourcing_core.postgres.projections import ProjectionRunner

BENCH_DATABASE = "escore_bench_relay"
BATCH_SIZE = 500
RELAY_BEFORE = 1_341  # events/s: the relay waiting for each message's confirm (issue 13)
RELAY_TARGET = 10 * RELAY_BEFORE
APPEND_BATCH = 100
STREAMS = 10


@dataclass(frozen=True, slots=True)
class Plan:
    events: int
    rounds: int


FULL = Plan(events=5_000, rounds=3)
QUICK = Plan(events=1_000, rounds=2)

Message = tuple[str, bytes, Any]
"""A routing key, a body and its ``pika.BasicProperties``."""


@dataclass(frozen=True, slots=True)
class Broker:
    """The benchmark's own exchange and queue."""

    url: str
    exchange: str
    queue: str


# -- the broker -------------------------------------------------------------------------


@contextmanager
def connection(url: str) -> Iterator[Any]:
    """A ``pika.BlockingConnection``, closed when done."""
    conn = pika.BlockingConnection(pika.URLParameters(url))
    try:
        yield conn
    finally:
        if conn.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                conn.close()


@contextmanager
def bench_broker(url: str) -> Iterator[Broker]:
    """A topic exchange (declared as the relay declares it) and a queue bound to ``#``."""
    suffix = uuid.uuid4().hex[:12]
    broker = Broker(url, f"escore.bench.{suffix}", f"escore.bench.{suffix}.all")
    with connection(url) as conn:
        channel = conn.channel()
        channel.exchange_declare(broker.exchange, exchange_type="topic", durable=True)
        channel.queue_declare(broker.queue, durable=True)
        channel.queue_bind(broker.queue, broker.exchange, routing_key="#")
    try:
        yield broker
    finally:
        delete(broker)


def delete(broker: Broker, *, attempts: int = 30) -> None:
    """Delete the queue and the exchange, waiting out a broker restart (up to ~1 min)."""
    for attempt in range(1, attempts + 1):
        try:
            with connection(broker.url) as conn:
                channel = conn.channel()
                channel.queue_delete(broker.queue)
                channel.exchange_delete(broker.exchange)
            return
        except (pika.exceptions.AMQPError, OSError):
            if attempt == attempts:
                log(f"  warning: could not delete {broker.exchange} and {broker.queue}")
                return
            time.sleep(2)


def drain(broker: Broker, expected: int) -> None:
    """Check the queue holds exactly the round's messages, then purge it."""
    with connection(broker.url) as conn:
        channel = conn.channel()
        count = channel.queue_declare(broker.queue, passive=True).method.message_count
        if count != expected:
            log(f"  warning: the queue holds {count} messages, expected {expected}")
        channel.queue_purge(broker.queue)


# -- the events and the messages -------------------------------------------------------


def fill(store: PostgresEventStore, events: int) -> list[RecordedEvent]:
    """Append ``events`` events in batches over a few streams; the recorded log."""
    versions = [0] * STREAMS
    for batch in range(events // APPEND_BATCH):
        stream = batch % STREAMS
        store.append(
            f"order-{stream}",
            [
                NewEvent(EVENT.event_type, EVENT.data, metadata=METADATA)
                for _ in range(APPEND_BATCH)
            ],
            versions[stream],
        )
        versions[stream] += APPEND_BATCH
    wait_until_visible(store, events)
    recorded: list[RecordedEvent] = []
    after = Checkpoint.START
    while page := store.read_all(after=after, limit=1000):
        recorded.extend(page)
        after = page[-1].checkpoint
    if len(recorded) != events:
        raise RuntimeError(f"expected {events} events in the log, found {len(recorded)}")
    return recorded


def message(event: RecordedEvent) -> Message:
    """What ``RabbitRelay`` publishes for ``event``."""
    metadata = event.metadata
    properties = pika.BasicProperties(
        message_id=str(event.event_id),
        delivery_mode=pika.DeliveryMode.Persistent,
        content_type="application/json",
        type=event.event_type,
        headers={
            "stream_id": event.stream_id,
            "version": event.version,
            "checkpoint": str(event.checkpoint),
            "schema_version": event.schema_version,
            "correlation_id": None
            if metadata.correlation_id is None
            else str(metadata.correlation_id),
            "causation_id": None if metadata.causation_id is None else str(metadata.causation_id),
            **{f"x-header-{k}": str(v) for k, v in metadata.headers.items()},
        },
    )
    return routing_key(event), orjson.dumps(event.data), properties


# -- the two sides -------------------------------------------------------------------------


def ours(runner: ProjectionRunner, events: int) -> Sample:
    """Reset the relay (untimed), then catch up from the start."""
    runner.reset()
    done = 0
    start = time.perf_counter()
    while batch := runner.run_batch():
        done += batch
    elapsed = time.perf_counter() - start
    if done != events:
        raise RuntimeError(f"the relay published {done} events, expected {events}")
    return Sample(done, elapsed)


def raw(channel: Any, exchange: str, messages: Sequence[Message]) -> Sample:
    """Publish every message with confirms, one ``basic_publish`` each."""
    start = time.perf_counter()
    for key, body, properties in messages:
        channel.basic_publish(exchange=exchange, routing_key=key, body=body, properties=properties)
    return Sample(len(messages), time.perf_counter() - start)


OURS, RAW, ONE = "ours: RabbitRelay", "raw pika", "relay, one confirm at a time"


class OneConfirmAtATime(RabbitRelay):
    """The relay waiting for each message's confirm before the next (as it used to)."""

    name = "rabbitmq_relay_one_at_a_time"
    apply_batch_size = 1


def run(args: argparse.Namespace, plan: Plan) -> Report:
    with fresh_database(args.dsn, BENCH_DATABASE) as bench, bench_broker(args.amqp) as broker:
        store = PostgresEventStore.connect(bench)
        relay = RabbitRelay(args.amqp, exchange=broker.exchange)
        one = OneConfirmAtATime(args.amqp, exchange=broker.exchange)
        try:
            with psycopg.connect(bench) as conn:
                facts = machine_facts(conn)
            log(f"appending {plan.events:,} events...")
            messages = [message(event) for event in fill(store, plan.events)]
            runner = ProjectionRunner(store, relay, batch_size=BATCH_SIZE)
            runner.setup()
            one_runner = ProjectionRunner(store, one, batch_size=BATCH_SIZE)
            one_runner.setup()
            with connection(args.amqp) as raw_conn:
                version = raw_conn._impl.server_properties.get("version", b"?")
                facts["rabbitmq"] = version.decode() if isinstance(version, bytes) else version
                channel = raw_conn.channel()
                channel.confirm_delivery()

                def drained(sample: Sample) -> Sample:
                    drain(broker, plan.events)
                    return sample

                sides = {
                    OURS: lambda: drained(ours(runner, plan.events)),
                    ONE: lambda: drained(ours(one_runner, plan.events)),
                    RAW: lambda: drained(raw(channel, broker.exchange, messages)),
                }
                best = interleave("publish", sides, plan.rounds)
        finally:
            relay.close()
            one.close()
            store.close()
    verdict = "PASS" if best[OURS] >= RELAY_TARGET else "BELOW"
    note = f"target >= {RELAY_TARGET:,} events/s (10x {RELAY_BEFORE:,}) {verdict}"
    result = Result("publish with confirms", best, OURS, note=note)
    table = Table("workload", (RAW, ONE, OURS), RAW, results=[result])
    notes = [
        f"{plan.events:,} events; relay batches of {BATCH_SIZE}; durable queue bound to '#'; "
        "raw pika publishes one message at a time, each confirmed before the next"
    ]
    return Report(facts, plan, [table], notes)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--amqp",
        default=os.environ.get("AMQP_URL", DEFAULT_URL),
        help="a RabbitMQ broker (default: $AMQP_URL or the local broker)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    return cli(
        __doc__.splitlines()[0] if __doc__ else None,
        run,
        full=FULL,
        quick=QUICK,
        argv=argv,
        add_arguments=add_arguments,
    )


if __name__ == "__main__":
    sys.exit(main())
