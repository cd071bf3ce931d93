"""OpenTelemetry: one trace from a request through append, projection, relay and consumer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eventsourcing_core import NewEvent, PostgresEventStore
from eventsourcing_core.integrations.rabbitmq import IdempotentConsumer, RabbitRelay
from eventsourcing_core.integrations.tracing import TRACEPARENT, Tracing
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.projection import SqlSession
from eventsourcing_core.repository import Repository
from eventsourcing_core.samples.aggregates.user import User
from tests.tally import Tally
from tests.test_rabbitmq import _consume, _declare, _processed, exchange
from tests.test_rabbitmq import _drain as drain
from tests.workers import relay_to_head

__all__ = ["exchange"]  # the broker test's fixture, shared with test_rabbitmq


class Users(Tally):
    name = "traced_users"
    categories = ("user",)


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider).install()
    yield provider, exporter
    tracing.uninstall()


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.trace_id)


def register(store: PostgresEventStore, provider: TracerProvider, user: str) -> int:
    """A user registered, then a request handler's command in its own span: its trace id."""
    users = Repository(store, User)
    new = users.new(user)
    new.register(f"name{user}", f"{user}@a.b")
    users.save(new)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("POST /users/email") as request:
        users.execute(user, lambda u: u.change_email(f"new.{user}@a.b"))
        return request.get_span_context().trace_id


def test_a_command_its_append_and_the_projection_batch_share_the_request_trace(
    pg_store: PostgresEventStore, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    request = register(pg_store, provider, "u1")
    event = pg_store.read_stream("user-u1")[-1]
    assert event.metadata.headers[TRACEPARENT].split("-")[1] == f"{request:032x}"
    runner = ProjectionRunner(pg_store, Users())
    runner.setup()
    while runner.run_batch():
        pass
    # A batch span's parent is the first traced event's trace (here the
    # registration's); the other events' traces are its links.
    [batch] = named(exporter, "escore.projection.batch")
    registration = trace_id(batch)
    assert [link.context.trace_id for link in batch.links] == [request]
    for name in ("escore.execute", "escore.load"):
        [span] = named(exporter, name)
        assert trace_id(span) == request, name
    registered, append = named(exporter, "escore.append")
    assert trace_id(append) == request
    assert trace_id(registered) == registration != request
    [execute] = named(exporter, "escore.execute")
    assert append.parent is not None
    assert execute.context is not None
    assert append.parent.span_id == execute.context.span_id
    assert batch.attributes is not None
    assert batch.attributes["escore.projection"] == "traced_users"


def test_without_an_sdk_tracing_is_a_no_op_that_adds_nothing(
    pg_store: PostgresEventStore,
) -> None:
    tracing = Tracing().install()  # the global provider: the API's no-op one in this suite
    try:
        pg_store.append("tally-1", [NewEvent("Counted", {})])
    finally:
        tracing.uninstall()
    [event] = pg_store.read_stream("tally-1")
    assert TRACEPARENT not in event.metadata.headers


@pytest.mark.slow
@pytest.mark.rabbitmq
def test_the_trace_continues_through_the_relay_to_the_consumer(
    pg_store: PostgresEventStore,
    dsn: str,
    exchange: str,
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    handled: list[Any] = []

    def handle(body: dict[str, Any], properties: Any, sql: SqlSession) -> None:
        handled.append(properties.headers)

    consumer = IdempotentConsumer(
        pg_store, "traced-consumer", f"{exchange}.q", ["user.*"], handle, exchange=exchange
    )
    _declare(consumer)
    request = register(pg_store, provider, "u2")
    relay_to_head(pg_store, RabbitRelay(exchange=exchange))
    _consume(consumer, until=lambda: _processed(dsn, "traced-consumer") == 2)

    # Two events (registered, then the request's email change): one publish and one consume each.
    publishes = {trace_id(span): span for span in named(exporter, "escore.relay.publish")}
    consumes = {trace_id(span): span for span in named(exporter, "escore.consume")}
    assert len(publishes) == len(consumes) == 2
    publish, consume = publishes[request], consumes[request]
    assert consume.parent is not None
    assert publish.context is not None
    assert consume.parent.span_id == publish.context.span_id
    sent = {h[f"x-header-{TRACEPARENT}"].split("-")[2] for h in handled}
    assert f"{publish.context.span_id:016x}" in sent
    assert drain(f"{exchange}.q") == []
