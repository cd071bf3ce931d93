"""Stream lifecycle: soft delete, truncate-before and archive, each audited."""

from __future__ import annotations

import threading

import psycopg
import pytest

from eventsourcing_core import (
    NO_STREAM,
    AggregateNotFoundError,
    Checkpoint,
    ConcurrencyError,
    InvalidArgumentError,
    PostgresEventStore,
    RecordedEvent,
    Repository,
)
from eventsourcing_core.errors import StreamNotFoundError
from eventsourcing_core.postgres import lifecycle
from eventsourcing_core.postgres.snapshots import PostgresSnapshotStore
from eventsourcing_core.samples.aggregates.user import User
from eventsourcing_core.samples.aggregates.users import register_user
from eventsourcing_core.validation import AUDIT_STREAM
from examples.bank_account import Account
from tests.helpers import numbered


def audit(store: PostgresEventStore) -> list[tuple[str, dict[str, object]]]:
    return [(e.event_type, dict(e.data)) for e in store.read_stream(AUDIT_STREAM)]


def versions(events: list[RecordedEvent]) -> list[int]:
    return [event.version for event in events]


def test_a_deleted_stream_reads_as_not_found_and_keeps_its_version(
    any_pg_store: PostgresEventStore,
) -> None:
    any_pg_store.append("order-1", numbered(3), NO_STREAM)

    assert any_pg_store.delete_stream("order-1") == 3

    assert any_pg_store.read_stream("order-1") == []
    assert any_pg_store.read_stream("order-1", backwards=True) == []
    assert not any_pg_store.stream_exists("order-1")
    assert any_pg_store.stream_version("order-1") == 3
    assert len(any_pg_store.read_all(categories=["order"])) == 3  # still in the global log
    assert audit(any_pg_store) == [
        ("StreamDeleted", {"stream_id": "order-1", "version": 3, "by": "postgres"})
    ]


def test_a_deleted_stream_is_recreated_only_from_its_next_version(
    any_pg_store: PostgresEventStore,
) -> None:
    any_pg_store.append("order-1", numbered(3), NO_STREAM)
    any_pg_store.delete_stream("order-1")

    with pytest.raises(ConcurrencyError):
        any_pg_store.append("order-1", numbered(1), NO_STREAM)
    assert any_pg_store.append("order-1", numbered(1), 3).version == 4

    assert versions(any_pg_store.read_stream("order-1")) == [4]
    assert any_pg_store.stream_exists("order-1")


def test_a_deleted_aggregate_is_not_found(any_pg_store: PostgresEventStore) -> None:
    accounts = Repository(any_pg_store, Account)
    account = accounts.new("7")
    account.open("alice")
    accounts.save(account)

    any_pg_store.delete_stream(account.stream_id)

    with pytest.raises(AggregateNotFoundError):
        accounts.load("7")


def test_truncate_makes_reads_start_at_the_version(any_pg_store: PostgresEventStore) -> None:
    any_pg_store.append("order-1", numbered(5), NO_STREAM)

    assert any_pg_store.truncate_stream("order-1", 4) == 4

    assert versions(any_pg_store.read_stream("order-1")) == [4, 5]
    assert versions(any_pg_store.read_stream("order-1", from_version=2)) == [4, 5]
    assert versions(any_pg_store.read_stream("order-1", backwards=True)) == [5, 4]
    assert any_pg_store.truncate_stream("order-1", 2) == 4  # never moves back
    assert [t for t, _ in audit(any_pg_store)] == ["StreamTruncated", "StreamTruncated"]


def test_lifecycle_operations_refuse_bad_arguments_and_change_nothing(
    any_pg_store: PostgresEventStore,
) -> None:
    any_pg_store.append("order-1", numbered(2), NO_STREAM)

    with pytest.raises(InvalidArgumentError, match="version is 2"):
        any_pg_store.truncate_stream("order-1", 4)
    with pytest.raises(InvalidArgumentError):
        any_pg_store.truncate_stream("order-1", 0)
    with pytest.raises(StreamNotFoundError):
        any_pg_store.delete_stream("order-404")
    with pytest.raises(StreamNotFoundError):
        any_pg_store.truncate_stream("order-404", 1)
    with pytest.raises(InvalidArgumentError, match="audit stream"):
        any_pg_store.delete_stream(AUDIT_STREAM)

    assert versions(any_pg_store.read_stream("order-1")) == [1, 2]
    assert not any_pg_store.stream_exists(AUDIT_STREAM)


def test_archive_moves_hidden_events_out_of_the_hot_log_and_keeps_them_in_order(
    any_pg_store: PostgresEventStore,
) -> None:
    any_pg_store.append("order-1", numbered(3), NO_STREAM)
    any_pg_store.append("order-2", numbered(3), NO_STREAM)
    any_pg_store.append("order-3", numbered(2), NO_STREAM)
    before = any_pg_store.read_all()
    any_pg_store.delete_stream("order-1")
    any_pg_store.truncate_stream("order-2", 3)

    assert any_pg_store.lifecycle.archive() == 5

    hot = [(e.stream_id, e.version) for e in any_pg_store.read_all(categories=["order"])]
    assert hot == [("order-2", 3), ("order-3", 1), ("order-3", 2)]
    with_archive = any_pg_store.lifecycle.read_all_with_archive()
    assert [e.event_id for e in with_archive][: len(before)] == [e.event_id for e in before]
    assert versions(any_pg_store.read_stream("order-2")) == [3]
    assert any_pg_store.lifecycle.archive() == 0  # nothing left to move
    assert audit(any_pg_store)[-1] == (
        "EventsArchived",
        {"stream_id": None, "events": 5, "by": "postgres"},
    )


def test_a_plain_delete_is_still_refused_even_for_the_owner(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    pg_store.append("order-1", numbered(1), NO_STREAM)
    pg_store.delete_stream("order-1")

    with psycopg.connect(dsn) as conn, pytest.raises(psycopg.Error, match="append-only"):
        conn.execute("DELETE FROM escore.events WHERE stream_id = 'order-1'")
    with psycopg.connect(dsn) as conn, pytest.raises(psycopg.Error, match="append-only"):
        conn.execute("DELETE FROM escore.events_archive")


def test_a_reader_of_the_archived_log_sees_every_event_once_while_archiving_runs(
    any_pg_store: PostgresEventStore,
) -> None:
    for index in range(20):
        any_pg_store.append(f"order-{index}", numbered(5), NO_STREAM)
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        n = 0
        while not stop.is_set():
            any_pg_store.append(f"cart-{n}", numbered(2), NO_STREAM)
            n += 1

    def archive() -> None:
        try:
            for index in range(20):
                if index % 2:
                    any_pg_store.delete_stream(f"order-{index}")
                else:
                    any_pg_store.truncate_stream(f"order-{index}", 3)
                any_pg_store.lifecycle.archive(f"order-{index}")
        except BaseException as exc:
            errors.append(exc)

    seen: list[RecordedEvent] = []
    writer, archiver = threading.Thread(target=write), threading.Thread(target=archive)
    writer.start()
    archiver.start()
    after = Checkpoint.START
    while archiver.is_alive() or len(seen) < 100:
        page = any_pg_store.lifecycle.read_all_with_archive(after=after, limit=7)
        seen += page
        after = page[-1].checkpoint if page else after
    stop.set()
    writer.join()
    archiver.join()
    while page := any_pg_store.lifecycle.read_all_with_archive(after=after, limit=7):
        seen += page
        after = page[-1].checkpoint

    assert not errors
    everything = any_pg_store.lifecycle.read_all_with_archive(limit=100_000)
    assert [e.event_id for e in seen] == [e.event_id for e in everything]
    assert len({e.event_id for e in seen}) == len(seen)


def test_the_archive_table_refuses_changes_like_the_log(dsn: str) -> None:
    with psycopg.connect(dsn) as conn, pytest.raises(psycopg.Error, match="append-only"):
        conn.execute("TRUNCATE escore.events_archive")
    with psycopg.connect(dsn) as conn, pytest.raises(psycopg.Error, match="append-only"):
        conn.execute("UPDATE escore.events_archive SET version = 1")


def _snapshotted(pg_store: PostgresEventStore, changes: int) -> Repository[User]:
    """User 7, registered, its email changed ``changes`` times, snapshotted at that version."""
    users = Repository(pg_store, User, snapshots=PostgresSnapshotStore(pg_store))
    register_user(pg_store, "7", "alice", "a0@example.com")
    for n in range(1, changes + 1):
        user = users.load("7")
        user.change_email(f"a{n}@example.com")
        users.save(user)
    users.take_snapshot(users.load("7"))
    return users


def test_deleting_a_snapshotted_aggregate_drops_its_snapshot(
    any_pg_store: PostgresEventStore,
) -> None:
    users = _snapshotted(any_pg_store, 3)

    any_pg_store.delete_stream("user-7")

    with pytest.raises(AggregateNotFoundError):
        users.load("7")


def test_truncating_keeps_a_snapshot_that_covers_the_gap_and_drops_one_that_does_not(
    any_pg_store: PostgresEventStore,
) -> None:
    users = _snapshotted(any_pg_store, 3)  # snapshot at version 4
    users.execute("7", lambda user: user.change_email("a4@example.com"))

    any_pg_store.truncate_stream("user-7", 5)  # the snapshot (4), then events from 5: whole
    assert PostgresSnapshotStore(any_pg_store).get("user-7") is not None
    assert users.load("7").email == "a4@example.com"

    any_pg_store.truncate_stream("user-7", 6)  # a gap at 5: the snapshot must go
    assert PostgresSnapshotStore(any_pg_store).get("user-7") is None


def test_archive_leaves_events_a_projection_has_not_reached(pg_store: PostgresEventStore) -> None:
    pg_store.append("order-1", numbered(3), NO_STREAM)
    first, *_ = pg_store.read_stream("order-1")
    pg_store.execute(
        "INSERT INTO escore.checkpoints (name, tx_id, position) VALUES ('lagging', %s, %s)",
        [first.checkpoint.tx_id, first.checkpoint.position],
    )
    pg_store.delete_stream("order-1")

    assert pg_store.lifecycle.archive() == 1  # only the event the projection has passed
    assert [e.version for e in pg_store.read_all(categories=["order"])] == [2, 3]

    head = pg_store.head()
    pg_store.execute(
        "UPDATE escore.checkpoints SET tx_id = %s, position = %s", [head.tx_id, head.position]
    )
    assert pg_store.lifecycle.archive() == 2
    assert pg_store.read_all(categories=["order"]) == []


def test_archive_moves_events_in_bounded_transactions(
    pg_store: PostgresEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "ARCHIVE_BATCH", 2)
    pg_store.append("order-1", numbered(5), NO_STREAM)
    pg_store.delete_stream("order-1")

    assert pg_store.lifecycle.archive() == 5

    batches = [data["events"] for kind, data in audit(pg_store) if kind == "EventsArchived"]
    assert batches == [2, 2, 1]


def test_forget_drops_a_snapshot_whose_personal_events_were_archived(
    pg_store: PostgresEventStore,
) -> None:
    snapshots = PostgresSnapshotStore(pg_store)
    users = Repository(pg_store, User, snapshots=snapshots)
    register_user(pg_store, "7", "alice", "alice@example.com")
    users.take_snapshot(users.load("7"))
    pg_store.truncate_stream("user-7", 2)  # the snapshot covers the gap: kept
    assert pg_store.lifecycle.archive() >= 1
    assert snapshots.get("user-7") is not None

    assert pg_store.forget("7") is True

    assert snapshots.get("user-7") is None
