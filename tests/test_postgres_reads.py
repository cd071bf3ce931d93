"""How the PostgreSQL store builds the events it reads (the read path's fast row builder)."""

from __future__ import annotations

import copy
import dataclasses
import gc
import os
import pickle
import time
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import pytest

from eventsourcing_core import (
    NO_STREAM,
    Checkpoint,
    InvalidArgumentError,
    Metadata,
    NewEvent,
    PostgresEventStore,
    RecordedEvent,
)
from eventsourcing_core.events import NO_METADATA
from eventsourcing_core.postgres import rows
from eventsourcing_core.postgres.rows import collector_paused

pytestmark = pytest.mark.postgres

CORRELATION, CAUSATION = uuid4(), uuid4()
METADATA = {
    "none": Metadata(),
    "headers only": Metadata(headers={"user": "alice", "trace": [1, 2]}),
    "correlation only": Metadata(correlation_id=CORRELATION),
    "causation only": Metadata(causation_id=CAUSATION),
    "everything": Metadata(CORRELATION, CAUSATION, {"user": "bob"}),
}


def read_all_eventually(
    store: PostgresEventStore, count: int, **filters: object
) -> list[RecordedEvent]:
    """The global log, once ``count`` events are visible (another session's running
    transaction on a shared server can hold readers back for a moment)."""
    deadline = time.monotonic() + 30
    while len(events := store.read_all(**filters)) < count and time.monotonic() < deadline:  # type: ignore[arg-type]
        time.sleep(0.05)
    return events


def test_an_event_read_back_is_an_ordinary_frozen_recorded_event(
    pg_store: PostgresEventStore,
) -> None:
    metadata = METADATA["everything"]
    pg_store.append("order-1", [NewEvent("Placed", {"total": 3}, metadata=metadata)], NO_STREAM)

    [recorded] = pg_store.read_stream("order-1")

    assert type(recorded) is RecordedEvent
    assert isinstance(recorded, RecordedEvent)
    with pytest.raises(dataclasses.FrozenInstanceError):
        recorded.version = 2  # type: ignore[misc]
    assert dataclasses.replace(recorded) == recorded
    assert pickle.loads(pickle.dumps(recorded)) == recorded
    assert copy.deepcopy(recorded) == recorded
    assert repr(recorded).startswith("RecordedEvent(stream_id='order-1', version=1,")
    assert dataclasses.asdict(recorded)["data"] == {"total": 3}


@pytest.mark.parametrize("kind", list(METADATA))
def test_metadata_reads_back_as_appended_from_streams_and_the_log(
    pg_store: PostgresEventStore, kind: str
) -> None:
    metadata = METADATA[kind]
    pg_store.append("order-1", [NewEvent("Placed", {}, metadata=metadata)], NO_STREAM)

    [from_stream] = pg_store.read_stream("order-1")
    [from_log] = read_all_eventually(pg_store, 1)

    assert from_stream.metadata == metadata
    assert from_log.metadata == metadata
    assert from_stream == from_log


def test_events_without_metadata_share_one_immutable_instance(pg_store: PostgresEventStore) -> None:
    pg_store.append("order-1", [NewEvent("Placed", {}), NewEvent("Paid", {})], NO_STREAM)

    first, second = pg_store.read_stream("order-1")

    assert first.metadata is NO_METADATA
    assert second.metadata is NO_METADATA
    assert pickle.loads(pickle.dumps(first)).metadata is NO_METADATA
    assert copy.deepcopy(first).metadata is NO_METADATA
    with pytest.raises(TypeError):
        first.metadata.headers["x"] = 1  # type: ignore[index]


def test_filtered_reads_of_several_values_build_the_same_events(
    pg_store: PostgresEventStore,
) -> None:
    everything = METADATA["everything"]
    pg_store.append("order-1", [NewEvent("Placed", {"n": 1}, metadata=everything)], NO_STREAM)
    pg_store.append("user-1", [NewEvent("Registered", {"n": 2})], NO_STREAM)

    log = read_all_eventually(pg_store, 2)
    merged = read_all_eventually(pg_store, 2, categories=("order", "user"))
    by_type = read_all_eventually(pg_store, 2, event_types=("Placed", "Registered"))

    assert merged == log
    assert by_type == log
    assert [event.metadata for event in log] == [everything, NO_METADATA]


def test_a_read_leaves_the_garbage_collector_as_it_found_it(pg_store: PostgresEventStore) -> None:
    pg_store.append("order-1", [NewEvent("Placed", {"total": 3})], NO_STREAM)
    assert gc.isenabled()

    pg_store.read_stream("order-1")
    assert gc.isenabled()

    gc.disable()
    try:
        pg_store.read_all()
        assert not gc.isenabled(), "a read enabled a collector the application had disabled"
    finally:
        gc.enable()


def test_overlapping_pauses_enable_the_collector_when_the_last_one_ends() -> None:
    first, second = collector_paused(), collector_paused()
    first.__enter__()
    second.__enter__()
    assert not gc.isenabled()
    first.__exit__(None, None, None)
    assert not gc.isenabled(), "enabled while another page was still being built"
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_reads_from_many_threads_leave_the_collector_enabled(pg_store: PostgresEventStore) -> None:
    pg_store.append("order-1", [NewEvent("Placed", {"n": n}) for n in range(50)], NO_STREAM)

    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = list(pool.map(lambda _: len(pg_store.read_stream("order-1")), range(200)))

    assert counts == [50] * 200
    assert gc.isenabled()


def test_a_child_forked_during_a_pause_starts_with_the_collector_enabled() -> None:
    with collector_paused():
        pid = os.fork()
        if pid == 0:  # the child: a page it builds pauses and re-enables as usual
            with collector_paused():
                paused = not gc.isenabled()
            os._exit(0 if paused and gc.isenabled() else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert gc.isenabled()


FILTERS: dict[str, dict[str, object]] = {
    "no filter": {},
    "one category": {"categories": ("user",)},
    "two categories": {"categories": ("order", "user")},
    "one event type": {"event_types": ("Registered",)},
    "two event types": {"event_types": ("Placed", "Shipped")},
    "category and type": {"categories": ("order",), "event_types": ("Shipped",)},
    "nothing matches": {"event_types": ("Cancelled",)},
}


@pytest.mark.parametrize("filters", FILTERS.values(), ids=FILTERS.keys())
def test_next_checkpoint_is_where_the_next_filtered_read_starts(
    any_pg_store: PostgresEventStore, filters: dict[str, object]
) -> None:
    for n in range(3):
        any_pg_store.append(f"order-{n}", [NewEvent("Placed", {}), NewEvent("Shipped", {})])
        any_pg_store.append(f"user-{n}", [NewEvent("Registered", {})])
    log = read_all_eventually(any_pg_store, 9)
    wanted = any_pg_store.read_all(**filters)  # type: ignore[arg-type]

    for after in [Checkpoint.START, *(event.checkpoint for event in log)]:
        later = [event.checkpoint for event in wanted if event.checkpoint > after]
        expected = later[0] if later else None
        assert any_pg_store.next_checkpoint(after=after, **filters) == expected  # type: ignore[arg-type]
    for partition in range(2):
        in_partition = any_pg_store.read_partition(partition=partition, partitions=2, **filters)  # type: ignore[arg-type]
        first = in_partition[0].checkpoint if in_partition else None
        assert any_pg_store.next_checkpoint(partition=(partition, 2), **filters) == first  # type: ignore[arg-type]


def test_next_checkpoint_refuses_a_partition_outside_its_count(
    pg_store: PostgresEventStore,
) -> None:
    with pytest.raises(InvalidArgumentError, match=r"partition must be in 0\.\.1"):
        pg_store.next_checkpoint(partition=(2, 2))


def test_overlapping_pauses_keep_the_collector_off_for_a_bounded_stretch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Reader threads whose pages overlap without a gap must not hold the
    # collector off for as long as reads keep coming.
    now = [100.0]
    monkeypatch.setattr(rows, "_clock", lambda: now[0])
    collections: list[int] = []
    monkeypatch.setattr(gc, "collect", lambda generation=2: collections.append(generation))
    first, late = collector_paused(), collector_paused()

    first.__enter__()
    now[0] += rows.MAX_COLLECTOR_PAUSE  # a page begun this late does not extend the stretch
    late.__enter__()
    assert not gc.isenabled()
    first.__exit__(None, None, None)
    assert gc.isenabled(), "the stretch outlived the pages begun within it"
    assert collections == [0], "the young generation held back was not collected"
    late.__exit__(None, None, None)
    assert gc.isenabled()

    with collector_paused():  # the next page starts a new stretch
        assert not gc.isenabled()
    assert gc.isenabled()
    assert collections == [0]  # a short stretch leaves collecting to the collector
