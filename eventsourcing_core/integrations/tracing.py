"""OpenTelemetry spans, and trace context carried in events and messages (the ``[tracing]`` extra).

    from eventsourcing_core.integrations import tracing
    tracing.install()      # once, at start-up; spans go to whatever SDK the app configured

Without an SDK the API's tracer records nothing (a no-op); without ``install()``
nothing is traced and the store pays one global lookup per call. Spans:

- ``escore.execute`` (``Repository.execute``), ``escore.load``, ``escore.append``;
- an append writes the current trace context (W3C ``traceparent``) into each
  event's ``Metadata.headers``, beside the correlation and causation ids;
- ``escore.projection.batch``: a child of the first event's trace that
  carries one, linked to the others' (the span is created when the batch
  ends, once its events are known, with the batch's start time);
- ``escore.relay.publish``: a child of the event's trace; the message carries
  the publish span's context (header ``x-header-traceparent``);
- ``escore.consume``: a child of the message's trace, around the handler.

So one trace runs from the HTTP handler that executed the command to the read
model and to the consumer in another service.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from eventsourcing_core.extras import missing_extra

try:
    from opentelemetry import context, propagate, trace
except ImportError:  # pragma: no cover (the test runs without the extra in a subprocess)
    raise missing_extra("tracing", "opentelemetry-api") from None

from eventsourcing_core import observe
from eventsourcing_core.events import Metadata, NewEvent, RecordedEvent, StreamAppend
from eventsourcing_core.observe import Observation

TRACEPARENT = "traceparent"
"""The metadata header (W3C Trace Context) that carries an event's trace."""

MAX_LINKS = 32
"""A batch span links at most this many events' traces besides its parent's."""

_batch: ContextVar[list[RecordedEvent] | None] = ContextVar("escore_batch_events", default=None)


class Tracing:
    """An ``observe`` hook that makes spans and carries trace context."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        """``tracer_provider``: the global one unless given (tests pass their own)."""
        self._tracer = trace.get_tracer("eventsourcing_core", tracer_provider=tracer_provider)

    def install(self) -> Tracing:
        """Start tracing (every store, repository, runner, relay and consumer in this process)."""
        observe.install(self)
        return self

    def uninstall(self) -> None:
        """Stop tracing."""
        observe.uninstall(self)

    def count(self, name: str, labels: dict[str, str]) -> None:
        """Occurrences are not spans."""

    @contextmanager
    def observe(self, observation: Observation) -> Iterator[None]:
        kind = observation.kind
        if kind == "batch":
            yield from self._batch(observation)
        elif kind == "read":
            yield
            batch = _batch.get()
            if batch is not None and isinstance(observation.result, list):
                batch.extend(observation.result)
        elif kind == "publish":
            yield from self._publish(observation)
        elif kind == "consume":
            yield from self._consume(observation)
        else:
            with self._tracer.start_as_current_span(f"escore.{kind}") as span:
                _describe(span, observation)
                if kind == "append":
                    observation.args = _with_trace_context(observation.args, observation.kwargs)
                yield

    def _batch(self, observation: Observation) -> Iterator[None]:
        started, events = time.time_ns(), list[RecordedEvent]()
        token = _batch.set(events)
        try:
            yield
        finally:
            _batch.reset(token)
            if events:
                self._batch_span(observation.target.name, started, events)

    def _batch_span(self, name: str, started: int, events: list[RecordedEvent]) -> None:
        contexts = [c for c in (_event_context(e) for e in events) if c is not None]
        parent = contexts[0] if contexts else None
        links = [
            trace.Link(trace.get_current_span(c).get_span_context()) for c in contexts[1:MAX_LINKS]
        ]
        span = self._tracer.start_span(
            "escore.projection.batch", context=parent, links=links, start_time=started
        )
        span.set_attribute("escore.projection", name)
        span.set_attribute("escore.events", len(events))
        span.end()

    def _publish(self, observation: Observation) -> Iterator[None]:
        relay, event = observation.args[0], observation.args[1]
        with self._tracer.start_as_current_span(
            "escore.relay.publish", context=_event_context(event), kind=trace.SpanKind.PRODUCER
        ) as span:
            span.set_attribute("escore.event_id", str(event.event_id))
            span.set_attribute("escore.stream_id", event.stream_id)
            observation.args = (relay, _traced(event), *observation.args[2:])
            yield

    def _consume(self, observation: Observation) -> Iterator[None]:
        properties = observation.args[3]
        headers = getattr(properties, "headers", None) or {}
        carrier = {TRACEPARENT: str(headers.get(f"x-header-{TRACEPARENT}", ""))}
        parent = propagate.extract(carrier) if carrier[TRACEPARENT] else None
        with self._tracer.start_as_current_span(
            "escore.consume", context=parent, kind=trace.SpanKind.CONSUMER
        ) as span:
            span.set_attribute("messaging.message.id", str(properties.message_id))
            yield


def install(tracer_provider: trace.TracerProvider | None = None) -> Tracing:
    """Trace with the global tracer provider (or the one given); returns the hook."""
    return Tracing(tracer_provider).install()


def _describe(span: trace.Span, observation: Observation) -> None:
    args = observation.args
    if observation.kind in ("load", "execute") and len(args) > 1:
        span.set_attribute("escore.aggregate_id", str(args[1]))
        span.set_attribute("escore.repository", type(args[0]).__name__)
    elif observation.kind == "append" and len(args) > 1:
        appends = args[1]
        if isinstance(appends, str):
            span.set_attribute("escore.stream_ids", [appends])
        else:
            span.set_attribute("escore.stream_ids", [a.stream_id for a in appends])


def _carrier() -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def _with_headers(metadata: Metadata, carrier: Mapping[str, str]) -> Metadata:
    return Metadata(
        correlation_id=metadata.correlation_id,
        causation_id=metadata.causation_id,
        headers={**metadata.headers, **carrier},
    )


def _with_trace_context(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """The append's arguments with the current trace context in every event's metadata."""
    carrier = _carrier()
    if not carrier or len(args) < 2:
        return args

    def traced(events: Sequence[NewEvent]) -> list[NewEvent]:
        return [dataclasses.replace(e, metadata=_with_headers(e.metadata, carrier)) for e in events]

    if isinstance(args[1], str):  # StoreTransaction.append(stream_id, events, ...)
        if len(args) > 2:
            return (args[0], args[1], traced(args[2]), *args[3:])
        kwargs["events"] = traced(kwargs["events"])
        return args
    appends = [StreamAppend(a.stream_id, traced(a.events), a.expected_version) for a in args[1]]
    return (args[0], appends, *args[2:])


def _traced(event: RecordedEvent) -> RecordedEvent:
    """The event with the current (publish) span's context in its headers, for the message."""
    return dataclasses.replace(event, metadata=_with_headers(event.metadata, _carrier()))


def _event_context(event: RecordedEvent) -> context.Context | None:
    traceparent = event.metadata.headers.get(TRACEPARENT)
    if not isinstance(traceparent, str):
        return None
    return propagate.extract({TRACEPARENT: traceparent})
