"""Event records: ids, checkpoints, categories."""

from __future__ import annotations

import dataclasses
import pickle
import time
import uuid
from uuid import uuid4

import pytest

from eventsourcing_core import Checkpoint, Metadata, NewEvent, category_of, uuid7
from eventsourcing_core.events import NO_METADATA


def test_default_event_ids_are_version_7_uuids_ordered_by_time() -> None:
    first = NewEvent("Placed", {}).event_id
    time.sleep(0.002)
    later = [uuid7() for _ in range(1000)]

    assert first.version == 7
    assert first.variant == uuid.RFC_4122
    assert all(first < other for other in later)
    assert len(set(later)) == 1000


def test_a_version_7_uuid_carries_the_current_unix_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    stamped = uuid7().int >> 80
    after = time.time_ns() // 1_000_000

    assert before <= stamped <= after


def test_checkpoints_order_by_transaction_then_position() -> None:
    assert Checkpoint(5, 90) < Checkpoint(6, 1) < Checkpoint(6, 2)
    assert Checkpoint(0, 1) > Checkpoint.START


def test_the_category_is_the_stream_id_up_to_the_first_dash() -> None:
    assert category_of("order-42") == "order"
    assert category_of("inventory-sku-9") == "inventory"
    assert category_of("orders") == "orders"


def test_metadata_read_back_from_json_is_an_ordinary_frozen_metadata() -> None:
    original = Metadata(uuid4(), uuid4(), {"user": "alice"})

    read = Metadata.from_json(original.to_json())

    assert type(read) is Metadata
    assert read == original
    with pytest.raises(dataclasses.FrozenInstanceError):
        read.headers = {}  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(read)) == original


def test_metadata_of_nothing_reads_back_as_the_shared_instance() -> None:
    assert Metadata.from_json(Metadata().to_json()) is NO_METADATA
    assert pickle.loads(pickle.dumps(NO_METADATA)) is NO_METADATA
    assert Metadata() == NO_METADATA
