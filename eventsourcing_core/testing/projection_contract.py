"""The projection runner contract: reusable test classes every projection runner must pass.

Subclass ``ProjectionRunnerContract`` in a test module and provide a pytest
fixture named ``store`` (a fresh, empty ``EventStore`` per test). The default
``make_runner`` fixture runs a projection with ``runner_for``: the in-memory
runner on an ``InMemoryEventStore``, ``postgres.projections.ProjectionRunner``
on a ``PostgresEventStore``; a runner of your own overrides ``make_runner``::

    class TestMyRunner(ProjectionRunnerContract):
        @pytest.fixture
        def make_runner(self, store: EventStore) -> RunnerFactory:
            return lambda projection: MyRunner(store, projection)

What it holds a runner to: every wanted event applied once, in log order, the
checkpoint after the last one; filters; a reset that clears and replays; a
failing batch rolled back whole (read model and checkpoint); a handler that
keeps failing stops the projection there, or parks the event and goes on;
``UnprocessableEventError`` parks at once; processed ids kept across resets;
a side effect that acts once per event.

The projections here keep their read model in the store itself (each applied
event appends a ``Seen`` event to a stream of its own through ``sql.append``,
in the batch's transaction), so the one suite runs on runners with and
without SQL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol

import pytest

from eventsourcing_core.errors import ProjectionFailedError, UnprocessableEventError
from eventsourcing_core.events import ANY, Checkpoint, NewEvent, RecordedEvent
from eventsourcing_core.memory import InMemoryEventStore
from eventsourcing_core.projection import (
    ErrorPolicy,
    ParkedEvent,
    Projection,
    SideEffect,
    SqlSession,
)
from eventsourcing_core.store import EventStore
from eventsourcing_core.testing.builders import events


class ProjectionRunnerLike(Protocol):
    """What the contract drives: the test-facing part of a projection runner."""

    def setup(self) -> None: ...
    def run_batch(self) -> int: ...
    def checkpoint(self) -> Checkpoint: ...
    def reset(self) -> None: ...
    def parked(self) -> Sequence[ParkedEvent]: ...
    def retry_parked(self) -> int: ...


RunnerFactory = Callable[[Projection], ProjectionRunnerLike]
"""Makes the runner of one projection on the test's store."""


def runner_for(store: EventStore, projection: Projection) -> ProjectionRunnerLike:
    """The runner for ``store``'s backend: in memory, or PostgreSQL (imported only then)."""
    if isinstance(store, InMemoryEventStore):
        from eventsourcing_core.testing.projection_runner import InMemoryProjectionRunner

        return InMemoryProjectionRunner(store, projection)
    from eventsourcing_core.postgres.projections import ProjectionRunner
    from eventsourcing_core.postgres.store import PostgresEventStore

    if not isinstance(store, PostgresEventStore):
        raise TypeError(f"no runner for {type(store).__name__}: override make_runner")
    return ProjectionRunner(store, projection)


def catch_up(runner: ProjectionRunnerLike, target: Checkpoint, *, timeout: float = 10.0) -> None:
    """Run batches until the runner's checkpoint reaches ``target``.

    On PostgreSQL the global log may be held back for a moment by transactions
    still running elsewhere on the server; this waits for them.
    """
    deadline = time.monotonic() + timeout
    while runner.checkpoint() < target:
        if runner.run_batch():
            continue
        if time.monotonic() > deadline:
            raise TimeoutError(f"the runner did not reach {target} within {timeout:g}s")
        time.sleep(0.01)


def last_checkpoint(store: EventStore, stream_id: str) -> Checkpoint:
    """The checkpoint of a stream's newest event."""
    return store.read_stream(stream_id, backwards=True, limit=1)[0].checkpoint


class Seen(Projection):
    """Keeps its read model in the store: one ``Seen`` event per event it applies.

    ``clear`` appends a ``Cleared`` marker; ``seen`` reads what came after the last one.
    """

    name = "seen"
    categories: ClassVar[tuple[str, ...] | None] = ("order",)
    max_attempts = 2

    def __init__(self) -> None:
        self.failures_left = 0
        """How many more times a ``Poison`` event fails (transient failures)."""
        self.poisoned = True
        """Whether a ``Poison`` event fails every time (until healed)."""

    @property
    def stream(self) -> str:
        return f"seen-{self.name}"

    def apply(self, event: RecordedEvent, sql: SqlSession) -> None:
        if event.event_type == "Poison" and self._fails():
            self.fail(event)
        sql.append(self.stream, [NewEvent("Seen", self.record(event, sql))], ANY)

    def _fails(self) -> bool:
        if self.failures_left:
            self.failures_left -= 1
            return True
        return self.poisoned

    def fail(self, event: RecordedEvent) -> None:
        raise RuntimeError(f"poison in {event.stream_id}")

    def record(self, event: RecordedEvent, sql: SqlSession) -> dict[str, Any]:
        return {"stream": event.stream_id, "version": event.version}

    def clear(self, sql: SqlSession) -> None:
        sql.append(self.stream, [NewEvent("Cleared", {})], ANY)


class ParkingSeen(Seen):
    name = "parking_seen"
    on_error = ErrorPolicy.PARK


class NeverSeen(Seen):
    """Fails with ``UnprocessableEventError``: parked at once, whatever ``on_error`` says."""

    name = "never_seen"

    def fail(self, event: RecordedEvent) -> None:
        raise UnprocessableEventError(f"{event.stream_id} can never be handled")


class PlacedSeen(Seen):
    name = "placed_seen"
    categories = None
    event_types = ("Placed",)


class MarkingSeen(Seen):
    """Records what ``mark_processed`` answered, twice per event."""

    name = "marking_seen"

    def record(self, event: RecordedEvent, sql: SqlSession) -> dict[str, Any]:
        first = sql.mark_processed(self.name, event.event_id)
        second = sql.mark_processed(self.name, event.event_id)
        return {"stream": event.stream_id, "first": first, "second": second}


class Acting(SideEffect):
    name = "acting"
    categories = ("order",)

    def __init__(self) -> None:
        self.acted: list[tuple[str, int]] = []

    def act(self, event: RecordedEvent) -> None:
        self.acted.append((event.stream_id, event.version))


def seen(store: EventStore, projection: Seen) -> list[dict[str, Any]]:
    """The read model: what the projection recorded since it was last cleared."""
    recorded = store.read_stream(projection.stream)
    cleared = [index for index, event in enumerate(recorded) if event.event_type == "Cleared"]
    since = cleared[-1] + 1 if cleared else 0
    return [dict(event.data) for event in recorded[since:]]


def at(*streams: tuple[str, int]) -> list[dict[str, Any]]:
    """What ``Seen`` records for these (stream, version) pairs."""
    return [{"stream": stream, "version": version} for stream, version in streams]


class ProjectionRunnerContract:
    """Catch-up, checkpoints, filters, resets, failures and parking, side effects.

    Needs a ``store`` fixture: a fresh, empty ``EventStore`` per test.
    """

    @pytest.fixture
    def make_runner(self, store: EventStore) -> RunnerFactory:
        """The runner of a projection on ``store`` (override it for a runner of your own)."""
        return lambda projection: runner_for(store, projection)

    def started(self, make_runner: RunnerFactory, projection: Projection) -> ProjectionRunnerLike:
        runner = make_runner(projection)
        runner.setup()
        return runner

    def test_a_new_projection_starts_at_the_start_of_the_log(
        self, store: EventStore, make_runner: RunnerFactory
    ) -> None:
        store.append("order-1", events("Placed"))

        runner = self.started(make_runner, Seen())

        assert runner.checkpoint() == Checkpoint.START

    def test_every_wanted_event_is_applied_once_in_log_order(
        self, store: EventStore, make_runner: RunnerFactory
    ) -> None:
        store.append("order-1", events("Placed", "LineAdded"))
        store.append("user-1", events("Registered"))
        store.append("order-2", events("Placed"))
        store.append("order-1", events("Paid"))
        projection = Seen()
        runner = self.started(make_runner, projection)

        catch_up(runner, last_checkpoint(store, "order-1"))

        assert seen(store, projection) == at(
            ("order-1", 1), ("order-1", 2), ("order-2", 1), ("order-1", 3)
        )
        assert runner.run_batch() == 0
        assert runner.checkpoint() == last_checkpoint(store, "order-1")

    def test_events_appended_later_are_applied_by_a_later_batch(
        self, store: EventStore, make_runner: RunnerFactory
    ) -> None:
        store.append("order-1", events("Placed"))
        projection = Seen()
        runner = self.started(make_runner, projection)
        catch_up(runner, last_checkpoint(store, "order-1"))

        store.append("order-2", events("Placed"))
        catch_up(runner, last_checkpoint(store, "order-2"))

        assert seen(store, projection) == at(("order-1", 1), ("order-2", 1))

    def test_an_event_type_filter_passes_only_those_types(
        self, store: EventStore, make_runner: RunnerFactory
    ) -> None:
        store.append("order-1", events("Placed", "Paid"))
        store.append("user-1", events("Placed"))
        projection = PlacedSeen()
        runner = self.started(make_runner, projection)

        catch_up(runner, last_checkpoint(store, "user-1"))

        assert seen(store, projection) == at(("order-1", 1), ("user-1", 1))

    def test_a_reset_clears_the_read_model_and_applies_everything_again(
        self, store: EventStore, make_runner: RunnerFactory
    ) -> None:
        store.append("order-1", events("Placed", "Paid"))
        projection = Seen()
        runner = self.started(make_runner, projection)
        catch_up(runner, last_checkpoint(store, "order-1"))

        runner.reset()

        assert runner.checkpoint() == Checkpoint.START
        assert seen(store, projection) == []
        catch_up(runner, last_checkpoint(store, "order-1"))
        assert seen(store, projection) == at(("order-1", 1), ("order-1", 2))

    def test_a_batch_whose_handler_fails_is_rolled_back_whole_then_applied_one_by_one(
        self, store: EventStore, make_runner: RunnerFactory
    ) -> None:
        store.append("order-1", events("Placed"))
        store.append("order-2", events("Placed"))
        store.append("order-3", events("Poison"))
        projection = Seen()
        projection.poisoned, projection.failures_left = False, 1  # fails once, then passes
        runner = self.started(make_runner, projection)

        catch_up(runner, last_checkpoint(store, "order-3"))

        assert seen(store, projection) == at(("order-1", 1), ("order-2", 1), ("order-3", 1))

    def test_a_handler_that_keeps_failing_stops_the_projection_at_that_event(
        self, store: EventStore, make_runner: RunnerFactory
    ) -> None:
        store.append("order-1", events("Placed"))
        store.append("order-2", events("Poison"))
        store.append("order-3", events("Placed"))
        projection = Seen()
        runner = self.started(make_runner, projection)

        with pytest.raises(ProjectionFailedError) as failed:
            catch_up(runner, last_checkpoint(store, "order-3"))

        assert (failed.value.stream_id, failed.value.version) == ("order-2", 1)
        assert "poison in order-2" in str(failed.value)
        assert runner.checkpoint() == last_checkpoint(store, "order-1")
        assert seen(store, projection) == at(("order-1", 1))
        with pytest.raises(ProjectionFailedError):
            runner.run_batch()  # still stopped there

        projection.poisoned = False  # the handler is fixed
        catch_up(runner, last_checkpoint(store, "order-3"))
        assert seen(store, projection) == at(("order-1", 1), ("order-2", 1), ("order-3", 1))

    def test_a_parking_projection_puts_the_event_aside_and_goes_on(
        self, store: EventStore, make_runner: RunnerFactory
    ) -> None:
        store.append("order-1", events("Placed"))
        store.append("order-2", events("Poison"))
        store.append("order-3", events("Placed"))
        projection = ParkingSeen()
        runner = self.started(make_runner, projection)

        catch_up(runner, last_checkpoint(store, "order-3"))

        assert seen(store, projection) == at(("order-1", 1), ("order-3", 1))
        [parked] = runner.parked()
        poison = store.read_stream("order-2")[0]
        assert (parked.event_id, parked.stream_id, parked.version) == (
            poison.event_id,
            "order-2",
            1,
        )
        assert (parked.event_type, parked.attempts) == ("Poison", ParkingSeen.max_attempts)
        assert "poison in order-2" in parked.error

        projection.poisoned = False
        assert runner.retry_parked() == 1
        assert runner.parked() == []
        assert seen(store, projection)[-1] == {"stream": "order-2", "version": 1}

    def test_a_parked_event_that_fails_again_stays_parked(
        self, store: EventStore, make_runner: RunnerFactory
    ) -> None:
        store.append("order-1", events("Poison"))
        runner = self.started(make_runner, ParkingSeen())
        catch_up(runner, last_checkpoint(store, "order-1"))

        assert runner.retry_parked() == 0

        [parked] = runner.parked()
        assert parked.attempts == ParkingSeen.max_attempts + 1

    def test_an_unprocessable_event_is_parked_at_once_even_by_a_stopping_projection(
        self, store: EventStore, make_runner: RunnerFactory
    ) -> None:
        store.append("order-1", events("Poison"))
        store.append("order-2", events("Placed"))
        projection = NeverSeen()
        runner = self.started(make_runner, projection)

        catch_up(runner, last_checkpoint(store, "order-2"))

        assert [(p.stream_id, p.attempts) for p in runner.parked()] == [("order-1", 1)]
        assert seen(store, projection) == at(("order-2", 1))

    def test_a_reset_forgets_the_parked_events(
        self, store: EventStore, make_runner: RunnerFactory
    ) -> None:
        store.append("order-1", events("Poison"))
        runner = self.started(make_runner, ParkingSeen())
        catch_up(runner, last_checkpoint(store, "order-1"))

        runner.reset()

        assert runner.parked() == []

    def test_mark_processed_is_true_once_per_handler_and_event_across_resets(
        self, store: EventStore, make_runner: RunnerFactory
    ) -> None:
        store.append("order-1", events("Placed"))
        projection = MarkingSeen()
        runner = self.started(make_runner, projection)
        catch_up(runner, last_checkpoint(store, "order-1"))
        first_run = seen(store, projection)

        runner.reset()
        catch_up(runner, last_checkpoint(store, "order-1"))

        assert first_run == [{"stream": "order-1", "first": True, "second": False}]
        assert seen(store, projection) == [{"stream": "order-1", "first": False, "second": False}]

    def test_a_side_effect_acts_once_per_event_even_after_a_reset(
        self, store: EventStore, make_runner: RunnerFactory
    ) -> None:
        store.append("order-1", events("Placed", "Paid"))
        projection = Acting()
        runner = self.started(make_runner, projection)
        catch_up(runner, last_checkpoint(store, "order-1"))

        runner.reset()
        catch_up(runner, last_checkpoint(store, "order-1"))

        assert projection.acted == [("order-1", 1), ("order-1", 2)]
