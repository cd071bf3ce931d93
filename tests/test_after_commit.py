"""Publishing after commit: never before it, never for a rollback, on both stores."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from eventsourcing_core import NO_STREAM, ConcurrencyError, EventStore, NewEvent
from eventsourcing_core.bus import EventBus, publish_to
from eventsourcing_core.store import CommittedEvent
from tests.helpers import events


class Recorder:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.told: list[tuple[str, int, str]] = []
        self.visible_when_told: list[bool] = []

    def __call__(self, committed: Sequence[CommittedEvent]) -> None:
        for event in committed:
            self.told.append((event.stream_id, event.version, event.event_type))
            stored = self.store.read_stream(event.stream_id, from_version=event.version, limit=1)
            self.visible_when_told.append(bool(stored))


@pytest.fixture
def recorder(store: EventStore) -> Recorder:
    recorder = Recorder(store)
    store.on_commit(recorder)
    return recorder


def test_an_append_is_told_after_it_committed(store: EventStore, recorder: Recorder) -> None:
    store.append("order-1", events("Placed", "LineAdded"), NO_STREAM)

    assert recorder.told == [("order-1", 1, "Placed"), ("order-1", 2, "LineAdded")]
    assert recorder.visible_when_told == [True, True]


def test_a_transaction_is_told_once_it_commits_and_not_before(
    store: EventStore, recorder: Recorder
) -> None:
    with store.transaction() as tx:
        tx.append("order-1", events("Placed"), NO_STREAM)
        tx.append("user-1", events("Registered"), NO_STREAM)
        assert recorder.told == []

    assert recorder.told == [("order-1", 1, "Placed"), ("user-1", 1, "Registered")]
    assert recorder.visible_when_told == [True, True]


def test_a_rolled_back_or_refused_append_is_never_told(
    store: EventStore, recorder: Recorder
) -> None:
    def rolled_back() -> None:
        with store.transaction() as tx:
            tx.append("order-1", events("Placed"), NO_STREAM)
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        rolled_back()
    store.append("order-2", events("Placed"), NO_STREAM)
    with pytest.raises(ConcurrencyError):
        store.append("order-2", events("Placed"), NO_STREAM)

    assert recorder.told == [("order-2", 1, "Placed")]


def test_committed_events_reach_the_event_bus(store: EventStore) -> None:
    bus, seen = EventBus(), []
    bus.subscribe("Placed", lambda committed: seen.append(committed.stream_id))
    store.on_commit(publish_to(bus))

    store.append("order-1", [NewEvent("Placed", {})], NO_STREAM)

    assert seen == ["order-1"]
