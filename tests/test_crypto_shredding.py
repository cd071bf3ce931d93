"""Crypto-shredding: personal fields are encrypted at rest and unreadable once forgotten.

The store-level behaviour (sealing, every read path, forget) is the reusable
``PersonalDataContract`` (``tests/test_store_contract.py``, on all four stores);
here: aggregates, projections, snapshots, what reaches the disk, several processes.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from datetime import date

import psycopg
import psycopg_pool
import pytest

from eventsourcing_core import (
    NO_STREAM,
    AsyncInMemoryEventStore,
    AsyncPostgresEventStore,
    AsyncRepository,
    EventStore,
    NewEvent,
    PostgresEventStore,
    Repository,
)
from eventsourcing_core.aggregate import Aggregate, DomainEvent, evolves
from eventsourcing_core.crypto import REDACTED, SubjectKey
from eventsourcing_core.errors import EventStoreError, InvalidArgumentError
from eventsourcing_core.events import PersonalData
from eventsourcing_core.postgres.keys import KeyRing
from eventsourcing_core.postgres.snapshots import PostgresSnapshotStore
from eventsourcing_core.pytest_plugin import run_to_head
from eventsourcing_core.samples.aggregates.user import User, UserRegistered
from eventsourcing_core.samples.aggregates.users import register_user
from eventsourcing_core.samples.projections.user_directory import UserDirectory
from eventsourcing_core.testing.store_contract import EMAIL, user_registered
from tests.helpers import numbered
from tests.raw_bytes import relation_bytes


def test_partition_reads_open_and_redact_personal_fields(
    any_pg_store: PostgresEventStore,
) -> None:
    any_pg_store.append("user-7", [user_registered()], NO_STREAM)

    def emails() -> list[str]:
        return [
            event.data["email"]
            for partition in range(4)
            for event in any_pg_store.read_partition(
                partition=partition, partitions=4, categories=["user"]
            )
        ]

    assert emails() == [EMAIL]
    any_pg_store.forget("7")
    assert emails() == [REDACTED]


@pytest.mark.parametrize("backend", ["async_memory", "async_postgres"])
def test_the_async_repository_seals_a_users_email_and_loads_it_redacted(
    backend: str, request: pytest.FixtureRequest
) -> None:
    dsn = request.getfixturevalue("dsn") if backend == "async_postgres" else ""

    async def main() -> None:
        store = (
            await AsyncPostgresEventStore.connect(dsn, notify=False)
            if dsn
            else AsyncInMemoryEventStore()
        )
        async with store:
            users = AsyncRepository(store, User)
            user = users.new("7")
            user.register("alice", EMAIL)
            await users.save(user)
            [stored] = await store.read_stream("user-7")
            assert stored.data["email"] == EMAIL
            assert (await users.load("7")).email == EMAIL

            assert await store.forget("7") is True

            assert (await users.load("7")).email == REDACTED
            assert await store.forget("7") is False

    asyncio.run(main())


# -- aggregates -------------------------------------------------------------------


def test_a_forgotten_users_aggregate_loads_with_the_marker(store: EventStore) -> None:
    register_user(store, "7", "alice", EMAIL)

    store.forget("7")

    user = Repository(store, User).load("7")
    assert (user.username, user.email, user.active) == ("alice", REDACTED, True)


@dataclass(frozen=True)
class BirthdayNoted(DomainEvent):
    personal_fields = ("born",)
    subject_field = "person"
    person: str
    born: date


class Card(Aggregate):
    category = "card"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.born: object = None

    @evolves(BirthdayNoted)
    def _noted(self, event: BirthdayNoted) -> None:
        self.born = event.born


def test_a_typed_personal_field_of_any_type_reads_as_the_marker_and_replay_does_not_fail(
    store: EventStore,
) -> None:
    cards = Repository(store, Card)
    card = cards.new("c1")
    card.record(BirthdayNoted("p9", date(1990, 5, 17)))
    cards.save(card)
    assert cards.load("c1").born == date(1990, 5, 17)

    store.forget("p9")  # the subject named by the event's field, not the aggregate id

    assert cards.load("c1").born == REDACTED


def test_a_personal_field_that_is_not_a_field_is_refused_when_the_class_is_used() -> None:
    @dataclass(frozen=True)
    class Typo(DomainEvent):
        personal_fields = ("emial",)
        email: str

    with pytest.raises(TypeError, match="emial"):
        Typo.codec()


# -- what the database holds ------------------------------------------------------------


def test_the_plaintext_never_reaches_the_events_table(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    visible = "visible-marker-4711"
    pg_store.append(
        "user-7",
        [
            NewEvent(
                "UserRegistered",
                {"username": visible, "email": EMAIL},
                personal=PersonalData("7", ("email",)),
            )
        ],
    )

    with psycopg.connect(dsn, autocommit=True) as conn:
        text = conn.execute("SELECT string_agg(data::text, '') FROM escore.events").fetchone()
        raw = relation_bytes(conn, "escore.events")
    assert text is not None
    assert EMAIL not in text[0]
    assert visible.encode() in raw  # the search finds what is stored in clear...
    assert EMAIL.encode() not in raw  # ...and the email is not


def test_after_forget_the_key_row_is_gone_and_vacuum_removes_its_bytes(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    pg_store.append("user-7", [user_registered()])
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT secret FROM escore.subject_keys WHERE subject = '7'").fetchone()
        assert row is not None
        secret = bytes(row[0])
        assert secret in relation_bytes(conn, "escore.subject_keys")

        pg_store.forget("7")

        assert conn.execute("SELECT count(*) FROM escore.subject_keys").fetchone() == (0,)
        conn.execute("VACUUM escore.subject_keys")
        assert secret not in relation_bytes(conn, "escore.subject_keys")
        audit = conn.execute(
            "SELECT event_type, data->>'subject' FROM escore.events WHERE stream_id = '$lifecycle'"
        ).fetchall()
    assert audit == [("SubjectForgotten", "7")]


def test_forget_drops_the_snapshots_that_may_hold_the_fields_in_clear(
    pg_store: PostgresEventStore,
) -> None:
    snapshots = PostgresSnapshotStore(pg_store)
    users = Repository(pg_store, User, snapshots=snapshots, snapshot_every=1)
    register_user(pg_store, "7", "alice", EMAIL)
    users.take_snapshot(users.load("7"))
    assert snapshots.get("user-7") is not None

    pg_store.forget("7")

    assert snapshots.get("user-7") is None
    assert users.load("7").email == REDACTED


def test_a_rebuilt_read_model_holds_no_personal_data(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    register_user(pg_store, "7", "alice", EMAIL)
    pg_store.forget("7")

    run_to_head(pg_store, UserDirectory())

    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT user_id, username, email FROM escore.user_directory").fetchall()
    assert rows == [("7", "alice", REDACTED)]


def test_a_live_read_model_scrubs_the_email_when_the_user_is_forgotten(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    register_user(pg_store, "7", "alice", EMAIL)
    run_to_head(pg_store, UserDirectory())

    pg_store.forget("7")
    run_to_head(pg_store, UserDirectory())

    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT email FROM escore.user_directory").fetchall() == [(REDACTED,)]


# -- the key cache ------------------------------------------------------------------------


def test_a_key_cached_by_another_process_is_never_resurrected(dsn: str) -> None:
    with (
        PostgresEventStore.connect(dsn, notify=False) as cached,
        PostgresEventStore.connect(dsn, notify=False) as other,
    ):
        cached.append("user-7", [user_registered()])  # caches the subject's key
        other.forget("7")

        # The stale process seals a new field under the destroyed key: it reads
        # as redacted, and the destroyed key is not written back.
        cached.append("user-7", [user_registered(email="late@example.com")])
        assert [e.data["email"] for e in other.read_stream("user-7")] == [REDACTED, REDACTED]
        assert cached.fetch_one("SELECT count(*) FROM escore.subject_keys") == (0,)

        # Its next read found the key gone and dropped it: the next append makes a new one.
        cached.read_stream("user-7")
        cached.append("user-7", [user_registered(email="again@example.com")])
        emails = [e.data["email"] for e in other.read_stream("user-7")]
    assert emails == [REDACTED, REDACTED, "again@example.com"]


def test_a_stale_cached_key_is_used_for_appends_at_most_cache_seconds(dsn: str) -> None:
    # Without a read of the subject, a process that cached a key before another
    # process forgot the subject notices at the latest when the entry expires.
    now = [0.0]
    with (
        PostgresEventStore.connect(dsn, notify=False) as cached,
        PostgresEventStore.connect(dsn, notify=False) as other,
    ):
        cached._keys = KeyRing("escore", cache_seconds=60, clock=lambda: now[0])
        cached.append("user-7", [user_registered()])  # caches the subject's key
        other.forget("7")

        now[0] = 59.0  # within the bound: sealed under the destroyed key (reads redacted)
        cached.append("user-7", [user_registered(email="late@example.com")])
        now[0] = 61.0  # past it: the key is fetched again, found gone, and a new one made
        cached.append("user-7", [user_registered(email="again@example.com")])

        emails = [e.data["email"] for e in other.read_stream("user-7")]
        keys = other.fetch_one("SELECT count(*) FROM escore.subject_keys")
    assert emails == [REDACTED, REDACTED, "again@example.com"]
    assert keys == (1,)


def test_key_cache_seconds_zero_fetches_the_key_at_every_append(dsn: str) -> None:
    # The option behind the bound above: with 0, a later append fetches the key,
    # finds it gone and makes a new one (a forget committing between one append's
    # fetch and its commit still leaves that append sealed under the old key).
    with (
        PostgresEventStore.connect(dsn, notify=False, key_cache_seconds=0) as uncached,
        PostgresEventStore.connect(dsn, notify=False) as other,
    ):
        uncached.append("user-7", [user_registered()])
        other.forget("7")
        uncached.append("user-7", [user_registered(email="after@example.com")])

        emails = [e.data["email"] for e in other.read_stream("user-7")]
    assert emails == [REDACTED, "after@example.com"]


@pytest.mark.parametrize("bad", [-1, float("inf"), float("nan"), 10**400, "60", True, None])
def test_a_bad_key_cache_seconds_is_refused_before_connecting(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="key_cache_seconds"):
        PostgresEventStore.connect("postgresql://nobody@127.0.0.1:1/none", key_cache_seconds=bad)  # type: ignore[arg-type]


def test_the_constructors_refuse_a_bad_key_cache_seconds_too(dsn: str) -> None:
    pool = psycopg_pool.ConnectionPool(dsn, open=False)
    with pytest.raises(InvalidArgumentError, match="key_cache_seconds"):
        PostgresEventStore(pool, key_cache_seconds=-1)
    async_pool = psycopg_pool.AsyncConnectionPool(dsn, open=False)
    with pytest.raises(InvalidArgumentError, match="key_cache_seconds"):
        AsyncPostgresEventStore(async_pool, key_cache_seconds=float("nan"))


def test_the_async_store_takes_key_cache_seconds(dsn: str) -> None:
    async def main() -> list[object]:
        store = await AsyncPostgresEventStore.connect(dsn, notify=False, key_cache_seconds=0)
        try:
            await store.append("user-7", [user_registered()])
            with PostgresEventStore.connect(dsn, notify=False) as other:
                other.forget("7")
            await store.append("user-7", [user_registered(email="after@example.com")])
            return [e.data["email"] for e in await store.read_stream("user-7")]
        finally:
            await store.close()

    assert asyncio.run(main()) == [REDACTED, "after@example.com"]


def test_racing_first_appends_for_one_subject_share_one_key(dsn: str) -> None:
    stores = [PostgresEventStore.connect(dsn, notify=False) for _ in range(4)]
    barrier = threading.Barrier(len(stores))

    def append(index: int) -> None:
        barrier.wait()
        stores[index].append(f"user-7x{index}", [user_registered("7", f"u{index}@example.com")])

    threads = [threading.Thread(target=append, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        emails = sorted(e.data["email"] for e in stores[0].read_all(categories=["user"]))
        assert emails == [f"u{i}@example.com" for i in range(4)]
        assert stores[0].fetch_one("SELECT count(*) FROM escore.subject_keys") == (1,)
    finally:
        for store in stores:
            store.close()


def test_user_registered_declares_the_email_personal() -> None:
    assert UserRegistered.personal_fields == ("email",)
    assert UserRegistered("alice", EMAIL).personal_data("7") == PersonalData("7", ("email",))


def test_keys_fetched_before_a_forget_in_this_process_are_not_cached_after_it() -> None:
    # A read or append whose key fetch ran before a forget here committed may hold
    # the destroyed key; the forget evicts after its commit, and a fetch that
    # began before that eviction must not put the key back into the cache.
    ring = KeyRing("escore")
    key = SubjectKey.new("7")
    fetched_before = ring._evictions
    ring.evict(["7"])  # the forget's eviction, after its DELETE committed

    ring._remember([("7", key.key_id, key.secret)], fetched_before)

    assert ring._cached({"7"}) == {}
    ring._remember([("7", key.key_id, key.secret)], ring._evictions)  # a fresh fetch
    assert ring._cached({"7"}) == {"7": key}


def test_a_failing_key_statement_in_a_transaction_undoes_itself_alone(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    with psycopg.connect(dsn) as other:
        # Another session is making subject 9's key and has not committed.
        other.execute(
            "INSERT INTO escore.subject_keys (subject, key_id, secret)"
            " VALUES ('9', gen_random_uuid(), decode(repeat('ab', 32), 'hex'))"
        )
        with pg_store.transaction() as tx:
            tx.connection.execute("SET LOCAL lock_timeout = '100ms'")
            tx.append("order-1", numbered(1), NO_STREAM)
            with pytest.raises(EventStoreError):
                tx.append("user-9", [user_registered("9")], NO_STREAM)  # waits, times out
            tx.append("order-2", numbered(1), NO_STREAM)
        other.rollback()

    assert [e.stream_id for e in pg_store.read_all(categories=["order", "user"])] == [
        "order-1",
        "order-2",
    ]


def test_a_snapshot_put_after_a_forget_of_its_subject_is_not_written(
    pg_store: PostgresEventStore,
) -> None:
    snapshots = PostgresSnapshotStore(pg_store)
    users = Repository(pg_store, User, snapshots=snapshots)
    register_user(pg_store, "7", "alice", EMAIL)
    user = users.load("7")  # decrypted while the key still existed

    pg_store.forget("7")
    users.take_snapshot(user)  # a snapshot that raced the forget, arriving after it

    assert snapshots.get("user-7") is None
    assert users.load("7").email == REDACTED
