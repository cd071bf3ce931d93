"""The event store contract: reusable test classes that every backend must pass.

Subclass them in a test module and provide a pytest fixture named ``store``
that returns a fresh, empty ``EventStore`` for each test::

    import pytest
    from eventsourcing_core.testing.store_contract import StoreContract, TransactionContract

    @pytest.fixture
    def store() -> EventStore:
        return MyBackendEventStore(...)

    class TestMyBackend(StoreContract): ...
    class TestMyBackendTransactions(TransactionContract): ...
    class TestMyBackendPersonalData(PersonalDataContract): ...

``StoreContract``: appends and expected versions, idempotent retries, stream
reads, the global log and its filters, listings. ``TransactionContract``:
several streams in one transaction, all or nothing, and what a transaction
does with a conflict. ``PersonalDataContract``: crypto-shredding (sealed
personal fields, ``forget``; needs the ``encryption`` extra). Event types
are spelled as an order domain's (streams ``order-1``, ``order-2``...; a
user's, ``user-7``, for personal data), and every test starts from an empty
store.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from eventsourcing_core.crypto import REDACTED
from eventsourcing_core.errors import ConcurrencyError, EventIdConflictError, InvalidArgumentError
from eventsourcing_core.events import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    Checkpoint,
    Metadata,
    NewEvent,
    PersonalData,
    StreamAppend,
)
from eventsourcing_core.store import EventStore
from eventsourcing_core.testing.builders import events, numbered
from eventsourcing_core.validation import AUDIT_STREAM


@dataclasses.dataclass
class _Line:
    sku: str
    quantity: int


def _append_two_then(store: EventStore, failure: Exception) -> None:
    with store.transaction() as tx:
        tx.append("order-1", events("Placed"), NO_STREAM)
        tx.append("order-2", events("Placed"), NO_STREAM)
        raise failure


class StoreContract:
    """Appending, idempotent retries, reading streams and the global log, listings.

    Needs a ``store`` fixture: a fresh, empty ``EventStore`` per test.
    """

    # -- appending and expected versions ---------------------------------------------

    def test_first_append_creates_the_stream_at_version_of_its_event_count(
        self, store: EventStore
    ) -> None:
        result = store.append("order-1", events("Placed", "LineAdded"), NO_STREAM)

        assert result.stream_id == "order-1"
        assert result.version == 2
        assert [e.version for e in store.read_stream("order-1")] == [1, 2]
        assert store.stream_version("order-1") == 2
        assert store.stream_exists("order-1")

    def test_a_missing_stream_has_version_zero_and_reads_empty(self, store: EventStore) -> None:
        assert store.stream_version("order-404") == 0
        assert not store.stream_exists("order-404")
        assert store.read_stream("order-404") == []

    def test_appending_at_the_exact_version_extends_the_stream(self, store: EventStore) -> None:
        store.append("order-1", events("Placed"), NO_STREAM)

        result = store.append("order-1", events("LineAdded", "Paid"), 1)

        assert result.version == 3
        assert [e.event_type for e in store.read_stream("order-1")] == [
            "Placed",
            "LineAdded",
            "Paid",
        ]

    def test_expected_version_zero_means_the_stream_must_not_exist(self, store: EventStore) -> None:
        assert store.append("order-1", events("Placed"), 0).version == 1
        with pytest.raises(ConcurrencyError):
            store.append("order-1", events("Placed"), 0)

    @pytest.mark.parametrize(
        ("expected", "label"), [(5, 5), (0, 0), (NO_STREAM, "no stream")], ids=str
    )
    def test_a_wrong_expected_version_names_stream_expected_and_actual(
        self, store: EventStore, expected: object, label: object
    ) -> None:
        store.append("order-1", events("Placed", "LineAdded"), NO_STREAM)

        with pytest.raises(ConcurrencyError) as raised:
            store.append("order-1", events("Paid"), expected)  # type: ignore[arg-type]

        assert (raised.value.stream_id, raised.value.expected, raised.value.actual) == (
            "order-1",
            label,
            2,
        )
        assert "order-1" in str(raised.value)
        assert f"Wrong expected version: {label}" in str(raised.value)
        assert "stream version: 2" in str(raised.value)

    def test_stream_exists_refuses_a_missing_stream_and_accepts_an_existing_one(
        self,
        store: EventStore,
    ) -> None:
        with pytest.raises(ConcurrencyError) as raised:
            store.append("order-1", events("LineAdded"), STREAM_EXISTS)
        assert (raised.value.expected, raised.value.actual) == ("stream exists", 0)

        store.append("order-1", events("Placed"), NO_STREAM)
        assert store.append("order-1", events("LineAdded"), STREAM_EXISTS).version == 2

    def test_any_appends_whatever_the_stream_version(self, store: EventStore) -> None:
        assert store.append("order-1", events("Placed")).version == 1
        assert store.append("order-1", events("LineAdded"), ANY).version == 2

    def test_a_rejected_append_writes_nothing(self, store: EventStore) -> None:
        store.append("order-1", events("Placed"), NO_STREAM)
        head = store.head()

        with pytest.raises(ConcurrencyError):
            store.append("order-1", events("LineAdded"), 7)

        assert store.stream_version("order-1") == 1
        assert store.head() == head

    # -- idempotent appends ------------------------------------------------------------

    @pytest.mark.parametrize("expected", [NO_STREAM, 0, ANY], ids=str)
    def test_appending_the_same_events_again_is_an_idempotent_retry(
        self, store: EventStore, expected: object
    ) -> None:
        batch = events("Placed", "LineAdded")
        first = store.append("order-1", batch, expected)  # type: ignore[arg-type]

        again = store.append("order-1", batch, expected)  # type: ignore[arg-type]

        assert again == first
        assert len(store.read_stream("order-1")) == 2
        assert len(store.read_all()) == 2

    @pytest.mark.parametrize("expected", [1, STREAM_EXISTS, ANY], ids=str)
    def test_a_retry_is_recognised_after_the_stream_moved_on(
        self, store: EventStore, expected: object
    ) -> None:
        store.append("order-1", events("Placed"), NO_STREAM)
        batch = events("LineAdded")
        first = store.append("order-1", batch, expected)  # type: ignore[arg-type]
        store.append("order-1", events("Paid"), 2)

        again = store.append("order-1", batch, expected)  # type: ignore[arg-type]

        assert again == first
        assert [e.event_type for e in store.read_stream("order-1")] == [
            "Placed",
            "LineAdded",
            "Paid",
        ]

    @pytest.mark.parametrize("expected", [NO_STREAM, ANY, STREAM_EXISTS], ids=str)
    def test_a_retry_inside_a_transaction_is_recognised_too(
        self, store: EventStore, expected: object
    ) -> None:
        store.append("order-1", events("Placed"), ANY)
        batch = events("LineAdded")
        first = store.append("order-2" if expected is NO_STREAM else "order-1", batch, expected)  # type: ignore[arg-type]

        with store.transaction() as tx:
            again = tx.append(first.stream_id, batch, expected)  # type: ignore[arg-type]
            tx.append("order-3", events("Placed"), NO_STREAM)

        assert again == first
        assert len(store.read_all()) == 3

    def test_a_multi_stream_retry_is_idempotent(self, store: EventStore) -> None:
        appends = [
            StreamAppend("user-1", events("Registered"), NO_STREAM),
            StreamAppend("username-alice", events("Reserved"), NO_STREAM),
        ]
        first = store.append_streams(appends)

        assert store.append_streams(appends) == first
        assert len(store.read_all()) == 2

    @pytest.mark.parametrize("expected", [ANY, STREAM_EXISTS, 1], ids=str)
    @pytest.mark.parametrize("retry_first", [False, True], ids=["new_first", "retry_first"])
    def test_a_multi_stream_append_of_a_new_stream_and_a_retry_records_the_new_one(
        self, store: EventStore, expected: object, retry_first: bool
    ) -> None:
        store.append("user-1", events("Registered"), NO_STREAM)
        batch = events("Renamed")
        first = store.append("user-1", batch, expected)  # type: ignore[arg-type]
        appends = [
            StreamAppend("username-carol", events("Reserved"), ANY),
            StreamAppend("user-1", batch, expected),  # type: ignore[arg-type]
        ]
        if retry_first:
            appends.reverse()

        results = store.append_streams(appends)

        by_stream = {r.stream_id: r for r in results}
        assert by_stream["user-1"] == first
        assert by_stream["username-carol"].version == 1
        assert [e.event_type for e in store.read_stream("username-carol")] == ["Reserved"]
        assert len(store.read_all()) == 3

    def test_reusing_an_event_id_with_other_data_is_a_conflict(self, store: EventStore) -> None:
        original = NewEvent("Placed", {"total": 10})
        store.append("order-1", [original], NO_STREAM)
        tampered = dataclasses.replace(original, data={"total": 11})

        with pytest.raises(EventIdConflictError, match="different data") as raised:
            store.append("order-1", [tampered], ANY)

        assert raised.value.event_id == original.event_id
        assert str(original.event_id) in str(raised.value)
        assert len(store.read_all()) == 1

    def test_reusing_an_event_id_with_another_type_is_a_conflict(self, store: EventStore) -> None:
        original = NewEvent("Placed", {"total": 10})
        store.append("order-1", [original], NO_STREAM)

        with pytest.raises(EventIdConflictError, match="as Placed, not Cancelled"):
            store.append("order-1", [dataclasses.replace(original, event_type="Cancelled")])

    def test_reusing_an_event_id_in_another_stream_is_a_conflict(self, store: EventStore) -> None:
        original = NewEvent("Placed", {"total": 10})
        store.append("order-1", [original], NO_STREAM)

        with pytest.raises(EventIdConflictError, match="'order-1'"):
            store.append("order-2", [original], NO_STREAM)

        assert not store.stream_exists("order-2")

    def test_a_batch_that_only_partly_repeats_recorded_events_is_a_conflict(
        self,
        store: EventStore,
    ) -> None:
        recorded = events("Placed")
        store.append("order-1", recorded, NO_STREAM)

        with pytest.raises(EventIdConflictError):
            store.append("order-1", [*recorded, *events("LineAdded")], ANY)
        with pytest.raises(EventIdConflictError):
            store.append("order-1", [*events("LineAdded"), *recorded], ANY)

        assert store.stream_version("order-1") == 1

    def test_a_retry_with_an_expected_version_that_could_not_have_written_it_is_a_conflict(
        self,
        store: EventStore,
    ) -> None:
        store.append("order-1", events("Placed"), NO_STREAM)
        batch = events("LineAdded")
        store.append("order-1", batch, 1)

        with pytest.raises(EventIdConflictError, match="expected version"):
            store.append("order-1", batch, NO_STREAM)

    # -- reading a stream ----------------------------------------------------------------

    def test_a_stream_reads_forward_from_a_version_with_a_limit(self, store: EventStore) -> None:
        store.append("order-1", numbered(10), NO_STREAM)

        page = store.read_stream("order-1", from_version=4, limit=3)

        assert [e.version for e in page] == [4, 5, 6]
        assert [e.data["n"] for e in page] == [3, 4, 5]

    def test_a_stream_reads_backward_from_the_end_or_from_a_version(
        self, store: EventStore
    ) -> None:
        store.append("order-1", numbered(10), NO_STREAM)

        assert [e.version for e in store.read_stream("order-1", backwards=True, limit=3)] == [
            10,
            9,
            8,
        ]
        assert [
            e.version for e in store.read_stream("order-1", from_version=3, backwards=True)
        ] == [
            3,
            2,
            1,
        ]

    def test_reading_past_the_end_of_a_stream_reads_nothing(self, store: EventStore) -> None:
        store.append("order-1", numbered(3), NO_STREAM)

        assert store.read_stream("order-1", from_version=4) == []
        assert [
            e.version for e in store.read_stream("order-1", from_version=9, backwards=True)
        ] == [
            3,
            2,
            1,
        ]

    def test_a_recorded_event_keeps_what_was_appended(self, store: EventStore) -> None:
        correlation, causation = uuid4(), uuid4()
        moment = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
        new = NewEvent(
            "Placed",
            {"total": 12.5, "lines": [{"sku": "A", "qty": 2}], "note": "ünïcödé"},
            timestamp=moment,
            metadata=Metadata(correlation, causation, {"user": "alice", "trace": [1, 2]}),
            schema_version=3,
        )
        store.append("order-1", [new], NO_STREAM)

        [recorded] = store.read_stream("order-1")

        assert recorded.event_id == new.event_id
        assert recorded.event_type == "Placed"
        assert recorded.data == new.data
        assert recorded.metadata == new.metadata
        assert recorded.schema_version == 3
        assert recorded.timestamp == moment
        assert recorded.stream_id == "order-1"
        assert recorded.category == "order"

    def test_uuids_datetimes_and_dataclasses_in_data_are_stored_as_json(
        self, store: EventStore
    ) -> None:
        user_id = uuid4()
        moment = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
        store.append(
            "order-1",
            [NewEvent("Placed", {"user": user_id, "at": moment, "line": _Line("A", 2)})],
            NO_STREAM,
        )

        [recorded] = store.read_stream("order-1")

        assert recorded.data == {
            "user": str(user_id),
            "at": "2026-05-06T07:08:09+00:00",
            "line": {"sku": "A", "quantity": 2},
        }

    def test_a_dataclass_can_be_the_whole_payload(self, store: EventStore) -> None:
        store.append("order-1", [NewEvent("LineAdded", _Line("A", 2))], NO_STREAM)  # type: ignore[arg-type]

        assert store.read_stream("order-1")[0].data == {"sku": "A", "quantity": 2}

    # -- the global log ---------------------------------------------------------------------

    def test_the_global_log_holds_every_stream_in_append_order(self, store: EventStore) -> None:
        store.append("order-1", events("Placed"), NO_STREAM)
        store.append("user-1", events("Registered"), NO_STREAM)
        store.append("order-1", events("Paid"), 1)

        log = store.read_all()

        assert [(e.stream_id, e.event_type) for e in log] == [
            ("order-1", "Placed"),
            ("user-1", "Registered"),
            ("order-1", "Paid"),
        ]
        assert [e.checkpoint for e in log] == sorted(e.checkpoint for e in log)
        assert store.head() == log[-1].checkpoint

    def test_an_empty_store_has_its_head_at_the_start(self, store: EventStore) -> None:
        assert store.head() == Checkpoint.START
        assert store.read_all() == []

    def test_reading_after_a_checkpoint_in_batches_sees_each_event_once(
        self, store: EventStore
    ) -> None:
        for stream in range(7):
            store.append(f"order-{stream}", numbered(3), NO_STREAM)

        seen, after = [], Checkpoint.START
        while batch := store.read_all(after=after, limit=4):
            assert len(batch) <= 4
            seen.extend(batch)
            after = batch[-1].checkpoint

        assert [e.event_id for e in seen] == [e.event_id for e in store.read_all(limit=100)]
        assert len({e.event_id for e in seen}) == 21
        assert [e.event_id for e in store.iter_all(batch_size=5)] == [e.event_id for e in seen]

    def test_the_global_log_filters_by_event_type(self, store: EventStore) -> None:
        store.append("order-1", events("Placed", "Paid"), NO_STREAM)
        store.append("order-2", events("Placed", "Cancelled"), NO_STREAM)

        found = store.read_all(event_types=["Paid", "Cancelled"])

        assert [(e.stream_id, e.event_type) for e in found] == [
            ("order-1", "Paid"),
            ("order-2", "Cancelled"),
        ]

    def test_the_global_log_filters_by_category(self, store: EventStore) -> None:
        store.append("order-1", events("Placed"), NO_STREAM)
        store.append("user-1", events("Registered"), NO_STREAM)
        store.append("order-2", events("Placed"), NO_STREAM)
        store.append("inventory-sku-9", events("Received"), NO_STREAM)
        store.append("orders", events("Counted"), NO_STREAM)

        orders = store.read_all(categories=["order"])
        mixed = store.read_all(categories=["inventory", "order"], limit=2)

        assert [e.stream_id for e in orders] == ["order-1", "order-2"]
        assert [e.stream_id for e in mixed] == ["order-1", "order-2"]
        assert [
            e.stream_id
            for e in store.read_all(after=mixed[-1].checkpoint, categories=["inventory", "order"])
        ] == ["inventory-sku-9"]

    def test_a_name_repeated_in_a_filter_reads_each_event_once(self, store: EventStore) -> None:
        store.append("order-1", events("Placed", "Paid"), NO_STREAM)

        assert len(store.read_all(categories=["order", "order"])) == 2
        assert len(store.read_all(event_types=["Paid", "Paid", "Placed"])) == 2

    def test_the_global_log_filters_by_category_and_event_type_together(
        self, store: EventStore
    ) -> None:
        store.append("order-1", events("Placed", "Paid"), NO_STREAM)
        store.append("user-1", events("Paid"), NO_STREAM)

        found = store.read_all(categories=["order", "user"], event_types=["Paid"])

        assert [e.stream_id for e in found] == ["order-1", "user-1"]

    # -- listing streams and categories ------------------------------------------------------------

    def test_streams_are_listed_in_id_order_with_their_versions(self, store: EventStore) -> None:
        store.append("user-2", numbered(1), NO_STREAM)
        store.append("order-1", numbered(3), NO_STREAM)
        store.append("order-2", numbered(2), NO_STREAM)

        listed = store.list_streams()

        assert [(s.stream_id, s.category, s.version) for s in listed] == [
            ("order-1", "order", 3),
            ("order-2", "order", 2),
            ("user-2", "user", 1),
        ]
        assert all(s.created_at <= s.updated_at for s in listed)

    def test_streams_are_listed_by_category_and_in_pages(self, store: EventStore) -> None:
        for name in ["order-1", "order-2", "order-3", "user-1"]:
            store.append(name, numbered(1), NO_STREAM)

        first = store.list_streams(category="order", limit=2)
        rest = store.list_streams(category="order", after=first[-1].stream_id, limit=2)

        assert [s.stream_id for s in first] == ["order-1", "order-2"]
        assert [s.stream_id for s in rest] == ["order-3"]

    def test_categories_count_their_streams_and_events(self, store: EventStore) -> None:
        store.append("order-1", numbered(3), NO_STREAM)
        store.append("order-2", numbered(2), NO_STREAM)
        store.append("user-1", numbered(1), NO_STREAM)

        summary = [(c.category, c.stream_count, c.event_count) for c in store.list_categories()]

        assert summary == [("order", 2, 5), ("user", 1, 1)]


def _append_then_audit(store: EventStore) -> None:
    with store.transaction() as tx:
        tx.append("user-1", events("Registered"), NO_STREAM)
        tx.append(AUDIT_STREAM, events("StreamDeleted"))


class TransactionContract:
    """Several streams in one transaction, all or nothing; conflicts inside a transaction.

    Needs a ``store`` fixture: a fresh, empty ``EventStore`` per test.
    """

    # -- several streams at once -------------------------------------------------------

    def test_several_streams_append_in_one_transaction(self, store: EventStore) -> None:
        results = store.append_streams(
            [
                StreamAppend("user-1", events("Registered"), NO_STREAM),
                StreamAppend("username-alice", events("Reserved"), NO_STREAM),
            ]
        )

        assert [(r.stream_id, r.version) for r in results] == [("user-1", 1), ("username-alice", 1)]
        assert results[0].checkpoint.tx_id == results[1].checkpoint.tx_id
        assert results[0].checkpoint < results[1].checkpoint

    def test_a_conflict_on_one_stream_writes_none_of_them(self, store: EventStore) -> None:
        store.append("username-alice", events("Reserved"), NO_STREAM)

        with pytest.raises(ConcurrencyError) as raised:
            store.append_streams(
                [
                    StreamAppend("user-2", events("Registered"), NO_STREAM),
                    StreamAppend("username-alice", events("Reserved"), NO_STREAM),
                ]
            )

        assert raised.value.stream_id == "username-alice"
        assert not store.stream_exists("user-2")
        assert len(store.read_all()) == 1

    def test_appends_to_the_audit_stream_are_refused_and_write_nothing(
        self, store: EventStore
    ) -> None:
        # Only the lifecycle operations record events there (delete, truncate, forget).
        for stream in (AUDIT_STREAM, f"{AUDIT_STREAM}-1"):  # the stream, and its category
            with pytest.raises(InvalidArgumentError, match="audit stream"):
                store.append(stream, events("SubjectForgotten"))
        with pytest.raises(InvalidArgumentError, match="audit stream"):
            store.append_streams(
                [
                    StreamAppend("user-1", events("Registered"), NO_STREAM),
                    StreamAppend(AUDIT_STREAM, events("StreamDeleted"), ANY),
                ]
            )
        with pytest.raises(InvalidArgumentError, match="audit stream"):
            _append_then_audit(store)

        assert store.read_all() == []
        assert store.list_streams() == []

    def test_a_transaction_that_raises_rolls_back_its_appends(self, store: EventStore) -> None:
        with pytest.raises(RuntimeError, match="changed my mind"):
            _append_two_then(store, RuntimeError("changed my mind"))

        assert store.read_all() == []
        assert store.list_streams() == []

    def test_a_transaction_raises_a_conflict_at_the_append_that_conflicts(
        self, store: EventStore
    ) -> None:
        store.append("order-1", events("Placed"), NO_STREAM)

        def conflicting_transaction() -> None:
            with store.transaction() as tx:
                tx.append("order-2", events("Placed"), NO_STREAM)
                tx.append("order-1", events("Placed"), NO_STREAM)

        with pytest.raises(ConcurrencyError):
            conflicting_transaction()

        assert not store.stream_exists("order-2")

    def test_a_multi_stream_append_returns_results_in_the_callers_order(
        self, store: EventStore
    ) -> None:
        results = store.append_streams(
            [
                StreamAppend("username-bob", events("Reserved"), NO_STREAM),
                StreamAppend("user-2", events("Registered", "Named"), NO_STREAM),
                StreamAppend("username-bob", events("Confirmed"), 1),
            ]
        )

        assert [(r.stream_id, r.version) for r in results] == [
            ("username-bob", 1),
            ("user-2", 2),
            ("username-bob", 2),
        ]
        # Streams are written in id order (one lock order for every writer: no deadlock).
        assert [(e.stream_id, e.version) for e in store.read_all()] == [
            ("user-2", 1),
            ("user-2", 2),
            ("username-bob", 1),
            ("username-bob", 2),
        ]
        assert [r.checkpoint for r in results] == [
            store.read_stream(r.stream_id)[r.version - 1].checkpoint for r in results
        ]

    def test_a_conflict_caught_inside_a_transaction_leaves_the_transaction_usable(
        self,
        store: EventStore,
    ) -> None:
        store.append("order-1", events("Placed"), NO_STREAM)
        recorded = events("Paid")
        store.append("order-9", recorded, NO_STREAM)

        with store.transaction() as tx:
            tx.append("order-2", events("Placed"), NO_STREAM)
            with pytest.raises(ConcurrencyError):
                tx.append("order-1", events("Placed"), NO_STREAM)
            with pytest.raises(EventIdConflictError):
                tx.append("order-3", recorded, NO_STREAM)
            tx.append("order-1", events("LineAdded"), 1)

        assert [(e.stream_id, e.event_type) for e in store.read_all()] == [
            ("order-1", "Placed"),
            ("order-9", "Paid"),
            ("order-2", "Placed"),
            ("order-1", "LineAdded"),
        ]
        assert not store.stream_exists("order-3")


class PersonalDataContract:
    """Crypto-shredding: personal fields read back until ``forget``, then as ``REDACTED``.

    Every backend seals the fields an event declares personal
    (``NewEvent(personal=PersonalData(subject, fields))``), opens them on every
    read path, and after ``store.forget(subject)`` reads each of them as
    ``crypto.REDACTED`` while everything else stays as written. Needs the
    ``encryption`` extra (``cryptography``).
    """

    def test_personal_fields_read_back_as_written_until_forgotten(self, store: EventStore) -> None:
        store.append("user-7", [user_registered()], NO_STREAM)

        assert store.read_stream("user-7")[0].data == {
            "user_id": "7",
            "username": "alice",
            "email": EMAIL,
        }
        assert store.read_all()[0].data["email"] == EMAIL

    def test_after_forget_every_read_returns_the_marker_and_keeps_the_rest(
        self, store: EventStore
    ) -> None:
        store.append("user-7", [user_registered()], NO_STREAM)
        store.append("order-1", [NewEvent("OrderPlaced", {"user_id": "7"})], NO_STREAM)

        assert store.forget("7") is True

        for read in (store.read_stream("user-7"), store.read_all(categories=["user"])):
            assert read[0].data == {"user_id": "7", "username": "alice", "email": REDACTED}
        assert store.read_stream("order-1")[0].data == {"user_id": "7"}
        assert store.forget("7") is False  # nothing left to forget

    def test_every_read_path_opens_the_fields_and_redacts_them_once_forgotten(
        self, store: EventStore
    ) -> None:
        store.append("user-7", [user_registered()], NO_STREAM)
        with store.transaction() as tx:
            tx.append("user-8", [user_registered("8", "bob@example.com")], NO_STREAM)

        def emails() -> list[list[str]]:
            with store.transaction():  # reads inside a caller's transaction, too
                inside = [e.data["email"] for e in store.read_stream("user-7")]
            return [
                inside,
                [e.data["email"] for e in store.read_stream("user-7", backwards=True)],
                [e.data["email"] for e in store.read_all(categories=["user"])],
                [e.data["email"] for e in store.iter_all(categories=["user"])],
            ]

        assert emails() == [
            [EMAIL],
            [EMAIL],
            [EMAIL, "bob@example.com"],
            [EMAIL, "bob@example.com"],
        ]
        store.forget("7")
        assert emails() == [
            [REDACTED],
            [REDACTED],
            [REDACTED, "bob@example.com"],
            [REDACTED, "bob@example.com"],
        ]

    def test_forgetting_one_subject_leaves_the_others_readable(self, store: EventStore) -> None:
        store.append("user-7", [user_registered("7")], NO_STREAM)
        store.append("user-8", [user_registered("8", "bob@example.com")], NO_STREAM)

        store.forget("7")

        assert store.read_stream("user-8")[0].data["email"] == "bob@example.com"
        assert store.read_stream("user-7")[0].data["email"] == REDACTED

    def test_retrying_a_personal_append_is_still_idempotent(self, store: EventStore) -> None:
        event = user_registered()
        first = store.append("user-7", [event], NO_STREAM)

        assert store.append("user-7", [event], NO_STREAM) == first
        assert len(store.read_stream("user-7")) == 1

    def test_a_subject_forgotten_and_seen_again_gets_a_new_key(self, store: EventStore) -> None:
        store.append("user-7", [user_registered()], NO_STREAM)
        store.forget("7")

        store.append("user-7", [user_registered(email="new@example.com")], 1)

        emails = [event.data["email"] for event in store.read_stream("user-7")]
        assert emails == [REDACTED, "new@example.com"]

    def test_bad_personal_declarations_are_refused_before_anything_is_written(
        self, store: EventStore
    ) -> None:
        missing = NewEvent("E", {"a": 1}, personal=PersonalData("7", ("email",)))
        reserved = NewEvent("E", {"$personal": 1})
        blank = NewEvent("E", {"email": "x"}, personal=PersonalData(" ", ("email",)))
        for bad in (missing, reserved, blank):
            with pytest.raises(InvalidArgumentError):
                store.append("user-7", [bad])
        assert store.stream_version("user-7") == 0

    def test_personal_fields_in_a_callers_transaction(self, store: EventStore) -> None:
        with store.transaction() as tx:
            tx.append("user-7", [user_registered()], NO_STREAM)

        assert store.read_stream("user-7")[0].data["email"] == EMAIL

    def test_a_key_made_in_a_rolled_back_transaction_is_not_used_afterwards(
        self, store: EventStore
    ) -> None:
        def append_then_fail() -> None:
            with store.transaction() as tx:
                tx.append("user-7", [user_registered()], NO_STREAM)
                raise RuntimeError("roll back")

        with pytest.raises(RuntimeError):
            append_then_fail()

        store.append("user-7", [user_registered(email="after@example.com")], NO_STREAM)

        assert store.read_stream("user-7")[0].data["email"] == "after@example.com"


EMAIL = "alice.personal@example.com"
"""The personal field's value in ``PersonalDataContract``'s events."""


def user_registered(user_id: str = "7", email: str = EMAIL) -> NewEvent:
    """A user's registration whose ``email`` is personal data of subject ``user_id``."""
    return NewEvent(
        "UserRegistered",
        {"user_id": user_id, "username": "alice", "email": email},
        personal=PersonalData(user_id, ("email",)),
    )
