"""Concurrency on the real server: racing writers, open transactions, rollbacks, readers.

The property: under concurrent writers, long transactions and rollbacks,
every catch-up reader sees every committed event exactly once, none of the
rolled-back ones, and all readers see the same order. And writers to
different streams never wait for each other.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

from eventsourcing_core import (
    ANY,
    NO_STREAM,
    Checkpoint,
    ConcurrencyError,
    NewEvent,
    PostgresEventStore,
    RecordedEvent,
    StreamAppend,
    TransactionConflictError,
    retry_on_conflict,
)
from tests.helpers import numbered

pytestmark = pytest.mark.slow

WRITERS = 8
TRANSACTIONS_PER_WRITER = 30


class _Rollback(Exception):
    """Raised inside a writer's transaction to roll it back on purpose."""


def test_a_reader_waits_for_an_open_transaction_then_sees_both_in_order(
    pg_store: PostgresEventStore,
) -> None:
    opened, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with pg_store.transaction() as tx:
            tx.append("slow-1", numbered(1, "Slow"), NO_STREAM)
            opened.set()
            release.wait(10)

    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(slow_writer)
        assert opened.wait(10)
        pg_store.append("fast-1", numbered(1, "Fast"), NO_STREAM)

        assert pg_store.read_all() == [], "the fast event must wait behind the open transaction"
        assert pg_store.head() == Checkpoint.START
        holder = pg_store.oldest_running_transaction()
        assert holder is not None
        assert holder.state == "idle in transaction"

        release.set()
        slow.result(10)

    assert [e.event_type for e in pg_store.read_all()] == ["Slow", "Fast"]


def test_rolled_back_events_never_reach_a_reader(pg_store: PostgresEventStore) -> None:
    def rolled_back() -> None:
        with pg_store.transaction() as tx:
            tx.append("order-1", numbered(2), NO_STREAM)
            raise _Rollback

    with pytest.raises(_Rollback):
        rolled_back()

    pg_store.append("order-2", numbered(1), NO_STREAM)

    assert [e.stream_id for e in pg_store.read_all()] == ["order-2"]
    assert not pg_store.stream_exists("order-1")


def test_writers_to_different_streams_do_not_wait_for_each_other(
    pg_store: PostgresEventStore,
) -> None:
    opened, release = threading.Event(), threading.Event()

    def holder() -> None:
        with pg_store.transaction() as tx:
            tx.append("held-1", numbered(1), NO_STREAM)
            opened.set()
            release.wait(10)

    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(holder)
        assert opened.wait(10)
        other = pool.submit(pg_store.append, "free-1", numbered(1), NO_STREAM)
        try:
            assert other.result(timeout=2).version == 1, "no global lock may block this append"
        finally:
            release.set()
        held.result(10)


def _writer(
    store: PostgresEventStore, writer: int, committed: list[UUID], rolled_back: list[UUID]
) -> None:
    """Append in transactions that sometimes linger and sometimes roll back."""
    rng = random.Random(writer)
    for n in range(TRANSACTIONS_PER_WRITER):
        written = numbered(rng.randint(1, 3), f"Written{writer}")
        try:
            with store.transaction() as tx:
                tx.append(f"writer{writer}-{n % 3}", written, ANY)
                if rng.random() < 0.3:
                    also = numbered(1, "AlsoWritten")
                    tx.append(f"shared-{writer}", also, ANY)
                    written += also
                time.sleep(rng.choice([0, 0.001, 0.005, 0.02, 0.2]))
                if rng.random() < 0.2:
                    raise _Rollback
        except _Rollback:
            rolled_back.extend(event.event_id for event in written)
        else:
            committed.extend(event.event_id for event in written)


def _follow(
    store: PostgresEventStore, batch_size: int, done: threading.Event
) -> list[RecordedEvent]:
    """A catch-up reader: follow the log until the writers are done and it reached the head."""
    seen: list[RecordedEvent] = []
    after = Checkpoint.START
    while True:
        finished = done.is_set()
        batch = store.read_all(after=after, limit=batch_size)
        seen.extend(batch)
        if batch:
            after = batch[-1].checkpoint
        elif finished:
            return seen
        else:
            time.sleep(0.002)


def _run_writers_and_readers(
    store: PostgresEventStore,
    writer: Callable[[PostgresEventStore, int, list[UUID], list[UUID]], None],
) -> tuple[list[UUID], list[UUID], list[list[RecordedEvent]]]:
    committed: list[UUID] = []
    rolled_back: list[UUID] = []
    done = threading.Event()
    with ThreadPoolExecutor(WRITERS + 2) as pool:
        readers = [pool.submit(_follow, store, size, done) for size in (7, 50)]
        writers = [pool.submit(writer, store, w, committed, rolled_back) for w in range(WRITERS)]
        for future in writers:
            future.result(timeout=120)
        done.set()
        seen = [reader.result(timeout=60) for reader in readers]
    return committed, rolled_back, seen


def test_catch_up_readers_see_every_committed_event_once_in_one_order(
    pg_store: PostgresEventStore,
) -> None:
    committed, rolled_back, (small_batches, large_batches) = _run_writers_and_readers(
        pg_store, _writer
    )
    everything = pg_store.read_all(limit=100_000)

    seen_ids = [e.event_id for e in small_batches]
    assert len(seen_ids) == len(set(seen_ids)), "a reader saw an event twice"
    assert seen_ids == [e.event_id for e in everything], "a reader skipped an event"
    assert [e.event_id for e in large_batches] == seen_ids, "two readers disagree on order"
    assert set(seen_ids) == set(committed)
    assert not set(rolled_back) & set(seen_ids), "a rolled-back event was read"
    assert len(rolled_back) > 0, "the race rolled nothing back"
    assert len(committed) > 100, "the race committed too little"
    assert [e.checkpoint for e in everything] == sorted(e.checkpoint for e in everything)


def test_racing_writers_at_one_expected_version_have_exactly_one_winner(
    pg_store: PostgresEventStore,
) -> None:
    rounds = 15
    barrier = threading.Barrier(WRITERS)
    outcomes: dict[int, list[tuple[int, object]]] = {n: [] for n in range(rounds)}
    winners: dict[int, NewEvent] = {}

    def racer(writer: int) -> None:
        for version in range(rounds):
            barrier.wait(timeout=30)
            event = NewEvent("Raced", {"writer": writer, "round": version})
            try:
                pg_store.append("race-1", [event], version)
            except ConcurrencyError as lost:
                outcomes[version].append((writer, lost))
            else:
                outcomes[version].append((writer, "won"))
                winners[version] = event
            barrier.wait(timeout=30)

    with ThreadPoolExecutor(WRITERS) as pool:
        for future in [pool.submit(racer, w) for w in range(WRITERS)]:
            future.result(timeout=120)

    for version, results in outcomes.items():
        assert [r for _, r in results].count("won") == 1, f"round {version}: {results}"
        for _, result in results:
            if result != "won":
                assert isinstance(result, ConcurrencyError)
                assert (result.expected, result.actual) == (version, version + 1)
    stream = pg_store.read_stream("race-1")
    assert [e.event_id for e in stream] == [winners[v].event_id for v in range(rounds)]
    assert [e.position for e in stream] == list(range(1, rounds + 1)), (
        "a rejected append consumed a global position"
    )


def test_two_clients_retrying_the_same_append_at_once_record_it_once(
    pg_store: PostgresEventStore,
) -> None:
    def client(stream_id: str, events: list[NewEvent], barrier: threading.Barrier) -> object:
        barrier.wait(timeout=10)
        return pg_store.append(stream_id, events, ANY)

    for attempt in range(20):
        calls = [(f"retry-{attempt}", numbered(3), threading.Barrier(2))] * 2
        with ThreadPoolExecutor(2) as pool:
            first, second = pool.map(lambda args: client(*args), calls, timeout=30)

        assert first == second
        assert len(pg_store.read_stream(f"retry-{attempt}")) == 3


def test_a_session_idle_in_a_writing_transaction_holds_readers_back_until_it_ends(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    with psycopg.connect(dsn) as idle:
        idle.execute("SELECT pg_current_xact_id()")  # takes a transaction id, writes nothing
        pg_store.append("order-1", numbered(1), NO_STREAM)
        assert pg_store.read_all() == []
        idle.rollback()

    assert len(pg_store.read_all()) == 1


# -- crossed writers: one lock order, and retryable conflicts ---------------------------


def test_crossed_multi_stream_appends_never_deadlock(pg_store: PostgresEventStore) -> None:
    rounds = 20
    barrier = threading.Barrier(2)

    def writer(streams: list[str]) -> None:
        for _ in range(rounds):
            barrier.wait(timeout=30)
            pg_store.append_streams([StreamAppend(s, numbered(1), ANY) for s in streams])

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(writer, s) for s in (["a-1", "b-1"], ["b-1", "a-1"])]
        for future in futures:
            future.result(timeout=120)

    assert (pg_store.stream_version("a-1"), pg_store.stream_version("b-1")) == (40, 40)


def _crossed_transactions(
    store: PostgresEventStore, conflicts: list[TransactionConflictError]
) -> None:
    """Two transactions that lock a-1 and b-1 in opposite orders: a certain deadlock."""
    for stream in ("a-1", "b-1"):
        store.append(stream, numbered(1), NO_STREAM)
    barrier = threading.Barrier(2)

    def writer(first: str, second: str) -> None:
        def once() -> None:
            with store.transaction() as tx:
                tx.append(first, numbered(1), ANY)
                if not barrier.broken:
                    barrier.wait(timeout=10)  # both hold their first stream's row
                tx.append(second, numbered(1), ANY)

        def counted() -> None:
            try:
                once()
            except TransactionConflictError as conflict:
                conflicts.append(conflict)
                barrier.abort()  # the retry goes alone
                raise

        retry_on_conflict(counted)

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(writer, *pair) for pair in (("a-1", "b-1"), ("b-1", "a-1"))]
        for future in futures:
            future.result(timeout=60)


def test_a_deadlock_between_transactions_is_a_retryable_conflict_that_retry_on_conflict_retries(
    pg_store: PostgresEventStore,
) -> None:
    conflicts: list[TransactionConflictError] = []

    _crossed_transactions(pg_store, conflicts)

    assert [c.sqlstate for c in conflicts] == ["40P01"], "exactly one deadlock victim"
    assert "deadlock" in str(conflicts[0])
    assert (pg_store.stream_version("a-1"), pg_store.stream_version("b-1")) == (3, 3)


@contextmanager
def _stream_row_locked(dsn: str, stream_id: str, seconds: float) -> Iterator[None]:
    """Hold a stream's row lock from another session for ``seconds`` (in a thread)."""
    locked = threading.Event()

    def hold() -> None:
        with psycopg.connect(dsn) as conn:
            conn.execute("SELECT FROM escore.streams WHERE stream_id = %s FOR UPDATE", [stream_id])
            locked.set()
            time.sleep(seconds)

    with ThreadPoolExecutor(1) as pool:
        holder = pool.submit(hold)
        assert locked.wait(10)
        yield
        holder.result(timeout=10)


def test_a_lock_timeout_in_a_transaction_is_a_retryable_conflict(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    pg_store.append("order-1", numbered(1), NO_STREAM)

    def impatient() -> None:
        with pg_store.transaction() as tx:
            tx.connection.execute("SET LOCAL lock_timeout = '50ms'")
            tx.append("order-1", numbered(1), 1)

    with _stream_row_locked(dsn, "order-1", 0.5), pytest.raises(TransactionConflictError) as raised:
        impatient()

    assert raised.value.sqlstate == "55P03"
    assert pg_store.stream_version("order-1") == 1


def test_the_store_retries_its_own_append_after_a_lock_timeout(dsn: str) -> None:
    with PostgresEventStore.connect(f"{dsn} options='-c lock_timeout=50'") as store:
        store.append("order-1", numbered(1), NO_STREAM)
        with _stream_row_locked(dsn, "order-1", 0.15):
            started = time.monotonic()
            result = store.append("order-1", numbered(1), 1)

        assert time.monotonic() - started >= 0.1, "the append did not wait for the lock"
        assert result.version == 2
        assert [e.version for e in store.read_stream("order-1")] == [1, 2]


def _early_id_writer(
    store: PostgresEventStore, writer: int, committed: list[UUID], rolled_back: list[UUID]
) -> None:
    """Transactions that take their id long before they append (they write elsewhere first)."""
    rng = random.Random(100 + writer)
    for n in range(TRANSACTIONS_PER_WRITER):
        written = numbered(rng.randint(1, 2), f"Early{writer}")
        try:
            with store.transaction() as tx:
                tx.connection.execute("INSERT INTO side_table (writer) VALUES (%s)", [writer])
                time.sleep(rng.choice([0.001, 0.02, 0.1]))  # readers pass by meanwhile
                tx.append(f"early{writer}-{n % 3}", written, ANY)
                time.sleep(rng.choice([0, 0.005]))
                if rng.random() < 0.2:
                    raise _Rollback
        except _Rollback:
            rolled_back.extend(event.event_id for event in written)
        else:
            committed.extend(event.event_id for event in written)


def _savepoint_writer(
    store: PostgresEventStore, writer: int, committed: list[UUID], rolled_back: list[UUID]
) -> None:
    """Events written inside savepoints, some released, some rolled back."""
    rng = random.Random(200 + writer)
    for n in range(TRANSACTIONS_PER_WRITER):
        outer, inner = numbered(1, f"Outer{writer}"), numbered(2, f"Inner{writer}")
        kept: list[NewEvent] = []
        dropped: list[NewEvent] = []
        try:
            with store.transaction() as tx:
                if rng.random() < 0.5:
                    tx.append(f"savepoint{writer}-{n}", outer, ANY)
                    kept += outer
                try:
                    with tx.connection.transaction():  # a savepoint
                        tx.append(f"inner{writer}-{n}", inner, ANY)
                        time.sleep(rng.choice([0, 0.005, 0.05]))
                        if rng.random() < 0.3:
                            raise _Rollback
                    kept += inner
                except _Rollback:
                    dropped += inner
                if rng.random() < 0.15:
                    raise _Rollback
        except _Rollback:
            dropped += kept
            kept = []
        committed.extend(event.event_id for event in kept)
        rolled_back.extend(event.event_id for event in dropped)


def _follow_in_repeatable_read(
    store: PostgresEventStore, dsn: str, done: threading.Event
) -> list[UUID]:
    """A reader whose transactions are REPEATABLE READ, each reading two pages in one snapshot."""
    query = store.statements.read_all(event_types=None, categories=None)
    seen: list[UUID] = []
    after = Checkpoint.START
    with psycopg.connect(dsn) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        while True:
            finished = done.is_set()
            pages = 0
            with conn.transaction():
                for _ in range(2):
                    params = {"tx_id": after.tx_id, "position": after.position, "limit": 5}
                    rows = conn.cursor(row_factory=dict_row).execute(query, params).fetchall()
                    seen.extend(row["event_id"] for row in rows)
                    if rows:
                        after = Checkpoint(rows[-1]["tx_id"], rows[-1]["position"])
                    pages += len(rows)
                    time.sleep(0.002)
            if not pages and finished:
                return seen


def test_readers_miss_nothing_from_early_ids_savepoints_and_in_repeatable_read(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    pg_store.execute("CREATE TABLE side_table (writer int NOT NULL)")
    writers = [_writer, _early_id_writer, _savepoint_writer]
    committed: list[UUID] = []
    rolled_back: list[UUID] = []
    done = threading.Event()
    with ThreadPoolExecutor(WRITERS + 3) as pool:
        readers = [pool.submit(_follow, pg_store, size, done) for size in (7, 50)]
        repeatable = pool.submit(_follow_in_repeatable_read, pg_store, dsn, done)
        running = [
            pool.submit(writers[w % 3], pg_store, w, committed, rolled_back) for w in range(WRITERS)
        ]
        for future in running:
            future.result(timeout=120)
        done.set()
        small, large = (reader.result(timeout=60) for reader in readers)
        in_repeatable_read = repeatable.result(timeout=60)

    everything = [e.event_id for e in pg_store.read_all(limit=100_000)]
    assert [e.event_id for e in small] == everything, "a reader skipped or repeated an event"
    assert [e.event_id for e in large] == everything, "two readers disagree on order"
    assert in_repeatable_read == everything, "a REPEATABLE READ reader skipped an event"
    assert set(everything) == set(committed)
    assert len(everything) == len(committed)
    assert not set(rolled_back) & set(everything), "a rolled-back event was read"
    assert len(rolled_back) > 0
    assert len(committed) > 100
