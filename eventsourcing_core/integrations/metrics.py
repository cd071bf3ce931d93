"""Prometheus metrics for the store, projections, relay and consumers (the ``[metrics]`` extra).

    registry = prometheus_client.CollectorRegistry()      # or leave the default one
    metrics = StoreMetrics(registry)                       # counters and histograms
    metrics.install()                                      # start counting
    registry.register(ProjectionCollector(store, runners)) # lag, status, held back

Counters and histograms are updated by an ``observe`` hook, per operation (an
append, a read, a batch), never per event; without ``install()`` nothing is
counted and the store pays one global lookup per call. Lag, parked events,
status and what holds the log back are asked of the database when Prometheus
scrapes (``ProjectionCollector``), not on every batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from eventsourcing_core.extras import missing_extra

try:
    import prometheus_client
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector, CollectorRegistry
except ImportError:  # pragma: no cover (the test runs without the extra in a subprocess)
    raise missing_extra("metrics", "prometheus_client") from None

from eventsourcing_core import observe
from eventsourcing_core.errors import (
    ConcurrencyError,
    DatabaseUnavailableError,
    EventIdConflictError,
    EventStoreError,
)
from eventsourcing_core.observe import Observation
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.postgres.store import PostgresEventStore

logger = logging.getLogger(__name__)

STATUSES = ("idle", "running", "stopped", "failed", "never_run")
"""Values of ``escore_projection_status``'s ``status`` label (one is 1, the others 0)."""

_CONFLICTS = (ConcurrencyError, EventIdConflictError)


class StoreMetrics:
    """Counters and histograms fed by the ``observe`` hook; register them in any registry."""

    def __init__(self, registry: CollectorRegistry | None = prometheus_client.REGISTRY) -> None:
        """``registry=None`` creates them unregistered (register them yourself)."""
        c, h = prometheus_client.Counter, prometheus_client.Histogram
        self.appends = c("escore_appends", "Appends by outcome.", ["outcome"], registry=registry)
        self.append_duration = h(
            "escore_append_duration_seconds", "Time per append call.", registry=registry
        )
        self.events_read = c("escore_events_read", "Events returned by reads.", registry=registry)
        self.read_duration = h(
            "escore_read_duration_seconds", "Time per read call.", registry=registry
        )
        self.batch_duration = h(
            "escore_projection_batch_duration_seconds",
            "Time per projection batch.",
            ["projection"],
            registry=registry,
        )
        self.events_applied = c(
            "escore_projection_events_applied",
            "Events a projection applied.",
            ["projection"],
            registry=registry,
        )
        self.relay = c(
            "escore_relay_messages",
            "Relay messages: published (sent), confirmed (the broker has them).",
            ["outcome"],
            registry=registry,
        )
        self.consumer = c(
            "escore_consumer_messages",
            "Consumer deliveries: consumed, redelivered, failed, dead_lettered.",
            ["consumer", "outcome"],
            registry=registry,
        )
        # Labelled children looked up once: ``labels()`` takes a lock per call.
        self._outcomes = {
            outcome: self.appends.labels(outcome)
            for outcome in ("ok", "conflict", "idempotent_retry", "error")
        }
        self._published = self.relay.labels("published")
        self._confirmed = self.relay.labels("confirmed")

    def install(self) -> StoreMetrics:
        """Start counting (every store, runner and relay in this process)."""
        observe.install(self)
        return self

    def uninstall(self) -> None:
        """Stop counting."""
        observe.uninstall(self)

    def observe(self, observation: Observation) -> _Timed:
        return _Timed(self, observation)

    def count(self, name: str, labels: dict[str, str]) -> None:
        if name == "consumer_failed":
            consumer = labels.get("consumer", "")
            self.consumer.labels(consumer, "failed").inc()
            if labels.get("dead_lettered") == "yes":
                self.consumer.labels(consumer, "dead_lettered").inc()

    def done(self, observation: Observation, seconds: float, error: bool) -> None:
        """Record one finished operation (called by ``_Timed``)."""
        kind = observation.kind
        if kind == "append":
            self.append_duration.observe(seconds)
        elif kind == "read":
            self.read_duration.observe(seconds)
            self.events_read.inc(observation.count or 0)
        elif kind == "batch":
            name = observation.target.name
            self.batch_duration.labels(name).observe(seconds)
            self.events_applied.labels(name).inc(observation.count or 0)
        elif kind == "publish":  # one message built for the broker
            self._published.inc()
        elif kind == "confirm" and not error:  # a batch the broker confirmed, every message
            self._confirmed.inc(len(observation.args[1]))
        elif kind == "consume":
            consumer = getattr(observation.target, "_name", "")
            self.consumer.labels(consumer, "consumed").inc()
            if getattr(observation.args[2], "redelivered", False):
                self.consumer.labels(consumer, "redelivered").inc()


class _Timed:
    """The hook's context: a plain class, cheaper than a generator context manager."""

    __slots__ = ("_metrics", "_observation", "_started")

    def __init__(self, metrics: StoreMetrics, observation: Observation) -> None:
        self._metrics = metrics
        self._observation = observation

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        seconds = time.perf_counter() - self._started
        observation = self._observation
        if observation.kind == "append":
            if exc is None:
                outcome = observation.outcome
            else:
                outcome = "conflict" if isinstance(exc, _CONFLICTS) else "error"
            self._metrics._outcomes[outcome].inc()
        self._metrics.done(observation, seconds, exc is not None)


class ProjectionCollector(Collector):
    """Lag, parked events, status and the log's holder, read from the database at scrape time.

    One ``read_bound()`` plus, per projection, ``status()`` and a one-event
    read (the age of the oldest unapplied event). A failing database makes
    ``escore_collector_up`` 0 instead of failing the scrape.
    """

    def __init__(self, store: PostgresEventStore, runners: Sequence[ProjectionRunner]) -> None:
        self._store = store
        self._runners = list(runners)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        up = GaugeMetricFamily("escore_collector_up", "1 when the last scrape read the database.")
        try:
            families = list(self._families())
        except EventStoreError as exc:
            logger.warning("metrics scrape failed: %s", exc)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [*families, up]

    def _families(self) -> Iterator[GaugeMetricFamily]:
        yield from self._held_back()
        gauge = GaugeMetricFamily
        lag = gauge(
            "escore_projection_lag_events",
            "Committed events a projection has still to apply.",
            labels=["projection", "partition"],
        )
        age = gauge(
            "escore_projection_lag_seconds",
            "Age of the oldest event a projection has not applied (0 when caught up).",
            labels=["projection", "partition"],
        )
        parked = gauge(
            "escore_projection_parked_events", "Events put aside.", labels=["projection"]
        )
        status = gauge(
            "escore_projection_status", "1 for the current status.", labels=["projection", "status"]
        )
        for runner in self._runners:
            state = _projection_state(self._store, runner)
            # Partitioned projections (another change) add one sample per partition here.
            lag.add_metric([runner.name, ""], state.lag)
            age.add_metric([runner.name, ""], state.lag_seconds)
            parked.add_metric([runner.name], state.parked)
            for value in STATUSES:
                status.add_metric([runner.name, value], 1 if value == state.status else 0)
        yield from (lag, age, parked, status)

    def _held_back(self) -> Iterator[GaugeMetricFamily]:
        bound = self._store.read_bound()
        holder = bound.holder
        seconds = GaugeMetricFamily(
            "escore_global_log_held_back_seconds",
            "How long the transaction holding global readers back has been running (0: none).",
        )
        info = GaugeMetricFamily(
            "escore_global_log_holder",
            "1 for the transaction holding global readers back, by pid.",
            labels=["pid", "application_name", "state"],
        )
        age = holder.age if holder is not None else None
        seconds.add_metric([], age.total_seconds() if age is not None else 0.0)
        if holder is not None:
            pid = holder.prepared or str(holder.pid or "")
            info.add_metric([pid, holder.application_name or "", holder.state or ""], 1)
        yield seconds
        yield info


class _State:
    __slots__ = ("lag", "lag_seconds", "parked", "status")

    def __init__(self, status: str, lag: int, lag_seconds: float, parked: int) -> None:
        self.status, self.lag, self.lag_seconds, self.parked = status, lag, lag_seconds, parked


def _projection_state(store: PostgresEventStore, runner: ProjectionRunner) -> _State:
    try:
        status = runner.status()
    except DatabaseUnavailableError:
        raise
    except EventStoreError:  # no checkpoint row yet
        return _State("never_run", 0, 0.0, 0)
    seconds = 0.0
    if status.lag:
        projection = runner._projection
        oldest = store.read_all(
            after=status.checkpoint,
            limit=1,
            event_types=projection.event_types,
            categories=projection.categories,
        )
        if oldest:
            seconds = max(0.0, (datetime.now(UTC) - oldest[0].timestamp).total_seconds())
        elif status.held_back_for is not None:
            seconds = status.held_back_for.total_seconds()
    return _State(status.status, status.lag, seconds, status.parked)


def serve(
    port: int,
    store: PostgresEventStore,
    runners: Sequence[ProjectionRunner],
    *,
    addr: str = "0.0.0.0",  # a metrics endpoint is meant to be scraped
) -> Any:
    """Count, and serve ``/metrics`` on ``port`` from a background thread (the CLI's flag)."""
    StoreMetrics().install()
    prometheus_client.REGISTRY.register(ProjectionCollector(store, runners))
    server, _thread = prometheus_client.start_http_server(port, addr=addr)
    logger.info("serving /metrics on port %d", port)
    return server
