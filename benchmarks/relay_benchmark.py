"""Throughput of the RabbitMQ relay against pika publishing the same messages directly.

Run: ``python -m benchmarks.relay_benchmark [--dsn DSN] [--amqp URL] [--quick] [--json]``.

One run, one PostgreSQL database (``escore_bench_relay``, dropped at the end),
one topic exchange and one durable queue bound to ``#`` (uuid-suffixed names,
deleted at the end; the queue is purged between rounds).

- ours: a ``ProjectionRunner`` with ``RabbitRelay`` (batches of 500) catching
  up from ``Checkpoint.START`` over N events: reading the log, one confirmed
  ``basic_publish`` per event, and each batch's checkpoint commit. The runner
  is reset (untimed) before each round.
- raw: pika publishing the same N messages on a ``BlockingConnection`` with
  ``confirm_delivery()``: the same routing keys, message ids, persistent
  delivery mode, JSON bodies and headers, built beforehand from the same
  recorded events so that only publishing is timed. It reads no log and
  commits no checkpoint, so it is the ceiling; the ratio is informational.

The two alternate (ABBA order) and the best round of each side is reported.
"""

from __future__ import annotations

import argparse
import contextlib
import json
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

from benchmarks.store_benchmark import (
    DEFAULT_DSN,
    Sample,
    fresh_database,
    log,
    new_event,
    safe_dsn,
    server_info,
)
from eventsourcing_core import Checkpoint, PostgresEventStore, RecordedEvent
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.rabbitmq import DEFAULT_URL, RabbitRelay, routing_key

BENCH_DATABASE = "escore_bench_relay"
BATCH_SIZE = 500
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


# -- the database and the broker -------------------------------------------------------


@contextmanager
def bench_database(dsn: str) -> Iterator[str]:
    """A fresh, migrated database; dropped when done."""
    with fresh_database(dsn, BENCH_DATABASE) as bench:
        yield bench


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
            f"order-{stream}", [new_event() for _ in range(APPEND_BATCH)], versions[stream]
        )
        versions[stream] += APPEND_BATCH
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


@dataclass(frozen=True, slots=True)
class Result:
    ours: float
    raw: float

    @property
    def ratio(self) -> float:
        return self.ours / self.raw if self.raw > 0 else 0.0


def run(dsn: str, url: str, plan: Plan) -> tuple[dict[str, Any], Result]:
    with bench_database(dsn) as bench, bench_broker(url) as broker:
        store = PostgresEventStore.connect(bench)
        relay = RabbitRelay(url, exchange=broker.exchange)
        try:
            with psycopg.connect(bench) as conn:
                info = server_info(conn)
            log(f"appending {plan.events:,} events...")
            messages = [message(event) for event in fill(store, plan.events)]
            runner = ProjectionRunner(store, relay, batch_size=BATCH_SIZE)
            runner.setup()
            with connection(url) as raw_conn:
                info["rabbitmq"] = raw_conn._impl.server_properties.get("version", b"?")
                if isinstance(info["rabbitmq"], bytes):
                    info["rabbitmq"] = info["rabbitmq"].decode()
                channel = raw_conn.channel()
                channel.confirm_delivery()
                best = {"ours": 0.0, "raw": 0.0}
                for round_number in range(plan.rounds):
                    order = ("ours", "raw") if round_number % 2 == 0 else ("raw", "ours")
                    for side in order:
                        if side == "ours":
                            sample = ours(runner, plan.events)
                        else:
                            sample = raw(channel, broker.exchange, messages)
                        drain(broker, plan.events)
                        log(f"  round {round_number + 1} {side}: {sample.rate:,.0f} events/s")
                        best[side] = max(best[side], sample.rate)
        finally:
            relay.close()
            store.close()
    return info, Result(best["ours"], best["raw"])


# -- reporting -------------------------------------------------------------------------------


def markdown(info: dict[str, Any], plan: Plan, result: Result) -> str:
    return "\n".join(
        [
            f"PostgreSQL {info['postgres']}; fsync={info['fsync']}, "
            f"synchronous_commit={info['synchronous_commit']}, "
            f"wal_sync_method={info['wal_sync_method']}, shared_buffers={info['shared_buffers']}",
            f"RabbitMQ {info['rabbitmq']}; machine: {info['cores']} cores",
            f"{plan.events:,} events, best of {plan.rounds} rounds per side; "
            f"relay batches of {BATCH_SIZE}; durable queue bound to '#'",
            "",
            "| workload | ours: RabbitRelay (events/s) | raw pika (events/s) | ratio |",
            "|---|---:|---:|---:|",
            f"| publish with confirms, 1 message at a time | {result.ours:,.0f} "
            f"| {result.raw:,.0f} | {result.ratio:.2f} |",
        ]
    )


def as_json(info: dict[str, Any], plan: Plan, result: Result) -> str:
    return json.dumps(
        {
            "server": info,
            "plan": {"events": plan.events, "rounds": plan.rounds, "batch_size": BATCH_SIZE},
            "results": [
                {
                    "workload": "relay publish with confirms",
                    "ours": round(result.ours, 1),
                    "raw": round(result.raw, 1),
                    "ratio": round(result.ratio, 3),
                    "target": None,
                }
            ],
        },
        indent=2,
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--dsn",
        default=os.environ.get("DATABASE_URL", DEFAULT_DSN),
        help="a PostgreSQL server (default: $DATABASE_URL or the local server)",
    )
    parser.add_argument(
        "--amqp",
        default=os.environ.get("AMQP_URL", DEFAULT_URL),
        help="a RabbitMQ broker (default: $AMQP_URL or the local broker)",
    )
    parser.add_argument("--quick", action="store_true", help="1,000 events, 2 rounds")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    log(f"benchmarking on {safe_dsn(args.dsn)} ({'quick' if args.quick else 'full'} run)")
    info, result = run(args.dsn, args.amqp, plan)
    print(as_json(info, plan, result) if args.json else markdown(info, plan, result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
