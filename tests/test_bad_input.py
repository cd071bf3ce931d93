"""Bad input gets a clear error naming the problem, and leaves nothing written."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any
from uuid import uuid4

import pytest

from eventsourcing_core import (
    NO_STREAM,
    Checkpoint,
    ConcurrencyError,
    EventStore,
    InvalidArgumentError,
    Metadata,
    NewEvent,
    SerializationError,
    StreamAppend,
    serialization,
)
from eventsourcing_core.events import NO_METADATA
from eventsourcing_core.validation import (
    MAX_BATCH_SIZE,
    MAX_BIGINT,
    MAX_INTEGER,
    MAX_NAME_LENGTH,
    PreparedEvent,
    prepare_append,
)
from tests.helpers import numbered
from tests.workers import wait_until


@pytest.fixture
def seeded(store: EventStore) -> Iterator[EventStore]:
    """A store holding one event, checked afterwards to hold exactly that."""
    store.append("order-1", numbered(1), NO_STREAM)
    # The global log shows an event once every older transaction in the cluster
    # has ended: on a shared server, wait for it rather than compare to nothing.
    wait_until(lambda: len(store.read_all()) == 1, timeout=30)
    before = (store.read_all(), store.list_streams())
    yield store
    # Every write moves a stream's row, which no transaction elsewhere hides; the
    # log itself may be held back for a moment by one that started before ours.
    assert store.list_streams() == before[1], "bad input wrote something"
    wait_until(lambda: store.read_all() == before[0], timeout=30)


BAD_STREAM_IDS = {
    "empty": ("", "must not be empty"),
    "blank": ("   ", "must not be empty"),
    "oversized": ("s" * (MAX_NAME_LENGTH + 1), "the limit is 255"),
    "NUL": ("order-\x001", "control characters"),
    "newline": ("order-1\n", "control characters"),
    "not a str": (42, "must be a str, got int"),
    "lone surrogate": ("order-\ud800", "lone surrogate"),
}


@pytest.mark.parametrize(("stream_id", "message"), BAD_STREAM_IDS.values(), ids=BAD_STREAM_IDS)
def test_a_bad_stream_id_is_refused(seeded: EventStore, stream_id: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        seeded.append(stream_id, numbered(1))
    with pytest.raises(InvalidArgumentError, match=message):
        seeded.read_stream(stream_id)


class _Opaque:
    pass


@dataclass
class _Reading:
    value: float


BAD_DATA = {
    "set": ({"tags": {"a", "b"}}, "set"),
    "decimal": ({"price": Decimal("1.10")}, "Decimal"),
    "object": ({"thing": _Opaque()}, "_Opaque"),
    "bytes": ({"blob": b"\x00\x01"}, "bytes"),
    "int keys": ({1: "one"}, "not JSON-serializable"),
    "NUL in a string": ({"name": "a\x00b"}, "NUL character"),
    "huge int": ({"n": 2**70}, "not JSON-serializable"),
    "NaN": ({"price": float("nan")}, r"nan at \['price'\]: NaN and Infinity have no JSON form"),
    "Infinity in a list": ({"t": [1.5, float("inf")]}, r"inf at \['t'\]\[1\]"),
    "-Infinity in a dataclass": ({"r": _Reading(float("-inf"))}, r"-inf at \['r'\]\['value'\]"),
    "lone surrogate in a string": ({"name": "\udc80"}, "surrogates not allowed"),
}


@pytest.mark.parametrize(("data", "message"), BAD_DATA.values(), ids=BAD_DATA)
def test_data_that_cannot_be_stored_as_json_is_refused(
    seeded: EventStore, data: dict[Any, Any], message: str
) -> None:
    event = NewEvent("Placed", data)

    with pytest.raises(SerializationError, match=message) as raised:
        seeded.append("order-2", [numbered(1)[0], event])

    assert "Placed" in str(raised.value)
    assert str(event.event_id) in str(raised.value)


def test_none_is_still_stored_as_null_next_to_finite_floats(store: EventStore) -> None:
    store.append("order-1", [NewEvent("Placed", {"note": None, "price": 1.5, "tags": [None]})])

    [event] = store.read_stream("order-1")

    assert event.data == {"note": None, "price": 1.5, "tags": [None]}


def test_a_payload_that_is_not_an_object_is_refused(seeded: EventStore) -> None:
    with pytest.raises(InvalidArgumentError, match="must be a dict or a dataclass instance"):
        seeded.append("order-2", [NewEvent("Placed", [1, 2])])  # type: ignore[arg-type]


def test_metadata_headers_that_cannot_be_stored_are_refused(seeded: EventStore) -> None:
    from eventsourcing_core import Metadata

    event = NewEvent("Placed", {}, metadata=Metadata(headers={"when": {1, 2}}))
    with pytest.raises(SerializationError, match="metadata"):
        seeded.append("order-2", [event])


def test_metadata_headers_holding_nan_are_refused(seeded: EventStore) -> None:
    event = NewEvent("Placed", {}, metadata=Metadata(headers={"score": float("nan")}))
    with pytest.raises(SerializationError, match=f"metadata of event {event.event_id}.*NaN"):
        seeded.append("order-2", [event])


BAD_EXPECTED = {
    "str": ("3", "got str: '3'"),
    "float": (1.0, "got float"),
    "bool": (True, "got bool"),
    "None": (None, "got NoneType"),
    "negative": (-1, "must be >= 0"),
    "beyond bigint": (MAX_BIGINT + 1, f"must be at most {MAX_BIGINT}"),
}


@pytest.mark.parametrize(("expected", "message"), BAD_EXPECTED.values(), ids=BAD_EXPECTED)
def test_a_wrong_expected_version_type_is_refused(
    seeded: EventStore, expected: Any, message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        seeded.append("order-1", numbered(1), expected)


def test_duplicate_event_ids_inside_one_batch_are_refused(seeded: EventStore) -> None:
    event = numbered(1)[0]
    with pytest.raises(InvalidArgumentError, match=f"{event.event_id} appears twice"):
        seeded.append("order-2", [event, event])


def test_duplicate_event_ids_across_streams_of_one_append_are_refused(seeded: EventStore) -> None:
    event = numbered(1)[0]
    with pytest.raises(InvalidArgumentError, match="appears twice"):
        seeded.append_streams([StreamAppend("a-1", [event]), StreamAppend("b-1", [event])])


BAD_BATCHES: dict[str, tuple[Any, str]] = {
    "empty list": ([], "the events list is empty"),
    "one event, not a list": (NewEvent("Placed", {}), "must be a list of NewEvent"),
    "a dict": ([{"event_type": "Placed"}], "must be NewEvent instances"),
    "too many": (numbered(MAX_BATCH_SIZE + 1), "the limit is 10000"),
    "bad event type": ([NewEvent("", {})], "event type must not be empty"),
    "naive timestamp": ([NewEvent("Placed", {}, timestamp=datetime(2026, 1, 1))], "timezone"),
    "schema version 0": ([NewEvent("Placed", {}, schema_version=0)], "schema_version"),
    "schema version beyond integer": (
        [NewEvent("Placed", {}, schema_version=MAX_INTEGER + 1)],
        f"schema_version must be at most {MAX_INTEGER}",
    ),
    "event type with a lone surrogate": ([NewEvent("Pl\udcaced", {})], "lone surrogate"),
}


@pytest.mark.parametrize(("batch", "message"), BAD_BATCHES.values(), ids=BAD_BATCHES)
def test_a_bad_batch_is_refused(seeded: EventStore, batch: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        seeded.append("order-2", batch)


def test_an_empty_multi_stream_append_is_refused(seeded: EventStore) -> None:
    with pytest.raises(InvalidArgumentError, match="no streams given"):
        seeded.append_streams([])


BAD_READS: dict[str, Callable[[EventStore], object]] = {
    "read_stream limit 0": lambda store: store.read_stream("order-1", limit=0),
    "read_stream limit -1": lambda store: store.read_stream("order-1", limit=-1),
    "read_stream from_version 0": lambda store: store.read_stream("order-1", from_version=0),
    "read_all limit -5": lambda store: store.read_all(limit=-5),
    "read_all limit as str": lambda store: store.read_all(limit="10"),  # type: ignore[arg-type]
    "read_all after an int": lambda store: store.read_all(after=5),  # type: ignore[arg-type]
    "read_all negative checkpoint": lambda store: store.read_all(after=Checkpoint(-1, 0)),
    "read_all types as str": lambda store: store.read_all(event_types="Placed"),
    "read_all empty categories": lambda store: store.read_all(categories=[]),
    "list_streams limit 0": lambda store: store.list_streams(limit=0),
    "read_stream limit beyond bigint": lambda store: store.read_stream("o-1", limit=2**63),
    "read_stream from beyond bigint": lambda store: store.read_stream("o-1", from_version=2**63),
    "read_all limit beyond bigint": lambda store: store.read_all(limit=2**63),
    "read_all tx_id beyond bigint": lambda store: store.read_all(after=Checkpoint(2**63, 0)),
    "read_all position beyond bigint": lambda store: store.read_all(after=Checkpoint(0, 2**63)),
    "list_streams limit beyond bigint": lambda store: store.list_streams(limit=2**63),
    "read_all category with a lone surrogate": lambda store: store.read_all(
        categories=["or\ud800der"]
    ),
    "read_all event type with a lone surrogate": lambda store: store.read_all(
        event_types=["Pl\udcaced"]
    ),
    "list_streams category with a lone surrogate": lambda store: store.list_streams(
        category="or\ud800der"
    ),
    "list_streams after a lone surrogate": lambda store: store.list_streams(after="o-\ud800"),
}


@pytest.mark.parametrize("read", BAD_READS.values(), ids=BAD_READS)
def test_bad_read_arguments_are_refused(
    seeded: EventStore, read: Callable[[EventStore], object]
) -> None:
    with pytest.raises(InvalidArgumentError):
        read(seeded)


def test_the_largest_values_postgresql_holds_are_accepted(store: EventStore) -> None:
    store.append("order-1", [NewEvent("Placed", {}, schema_version=MAX_INTEGER)])
    with pytest.raises(ConcurrencyError):
        store.append("order-1", numbered(1), MAX_BIGINT)

    assert store.read_stream("order-1")[0].schema_version == MAX_INTEGER
    assert len(store.read_stream("order-1", limit=MAX_BIGINT)) == 1
    assert len(store.read_stream("order-1", from_version=MAX_BIGINT, backwards=True)) == 1
    assert store.read_all(after=Checkpoint(MAX_BIGINT, MAX_BIGINT), limit=MAX_BIGINT) == []
    assert len(store.list_streams(limit=MAX_BIGINT)) == 1


def test_a_malformed_checkpoint_string_is_refused() -> None:
    assert Checkpoint.parse(str(Checkpoint(12, 34))) == Checkpoint(12, 34)
    with pytest.raises(InvalidArgumentError, match="'12-34'"):
        Checkpoint.parse("12-34")
    with pytest.raises(InvalidArgumentError, match="'²:1'"):
        Checkpoint.parse("²:1")


class _TaggedMetadata(Metadata):
    """A subclass whose JSON the store must take from its own ``to_json``."""

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "tagged": True}


@pytest.mark.parametrize(
    "metadata",
    [
        Metadata(),
        NO_METADATA,
        Metadata(correlation_id=uuid4()),
        Metadata(causation_id=uuid4()),
        Metadata(uuid4(), uuid4(), {"user": "alice", "trace": [1, 2.5, None]}),
        Metadata(headers=MappingProxyType({"user": "bob"})),
        _TaggedMetadata(uuid4(), None, {"x": 1}),
    ],
    ids=repr,
)
def test_metadata_is_stored_as_its_to_json_says(metadata: Metadata) -> None:
    [prepared] = prepare_append("order-1", [NewEvent("Placed", {}, metadata=metadata)], 0).events

    assert prepared.metadata == serialization.dumps(metadata.to_json())


def test_a_prepared_event_is_an_ordinary_frozen_prepared_event() -> None:
    event = NewEvent("Placed", {"total": 3})
    [prepared] = prepare_append("order-1", [event], 0).events

    assert type(prepared) is PreparedEvent
    assert prepared == PreparedEvent(
        event.event_id, "Placed", 1, '{"total":3}', prepared.metadata, event.timestamp
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        prepared.data = "{}"  # type: ignore[misc]
