"""The read bound: only transactions that can write this database hold its readers back.

Real server, real transactions: a holder in a second database (created and
dropped here), a holder in this database, a role of our own without
privileges, and what status and the command line say about the holder.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from eventsourcing_core import NO_STREAM, Checkpoint, PostgresEventStore
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.pytest_plugin import Server
from eventsourcing_core.samples.projections import UserDirectory
from tests.helpers import numbered
from tests.tally import Tally
from tests.workers import ROOT, wait_until

_numbers = itertools.count(1)


@pytest.fixture
def other_dsn(server: Server) -> Iterator[str]:
    """A second database on the same server, dropped afterwards."""
    name = f"escore_test_{os.getpid()}_other_{next(_numbers)}"
    with server.janitor(name):
        yield server.dsn(name)


@contextmanager
def holding(dsn: str, statement: str, app: str = "escore-test-holder") -> Iterator[int]:
    """A session on ``dsn`` inside a transaction that ran ``statement``; yields its pid."""
    with psycopg.connect(dsn, application_name=app) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS held (id int PRIMARY KEY)")
        conn.execute("INSERT INTO held VALUES (1) ON CONFLICT DO NOTHING")
        conn.commit()
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        conn.commit()
        conn.execute(statement)  # the transaction's last query, as the holder shows it
        try:
            yield int(row[0])
        finally:
            conn.rollback()


TAKES_AN_ID = [
    "SELECT pg_current_xact_id()",
    "SELECT id FROM held FOR UPDATE",
    "INSERT INTO held VALUES (2)",
]


@pytest.mark.parametrize("statement", TAKES_AN_ID)
def test_a_transaction_in_another_database_never_holds_readers_back(
    dsn: str, other_dsn: str, statement: str
) -> None:
    # Without wake-ups: the store's own NOTIFY takes an id in this database for
    # an instant, a legitimate holder that would race the last assertion.
    with (
        PostgresEventStore.connect(dsn, notify=False) as store,
        holding(other_dsn, statement),
    ):
        result = store.append("order-1", numbered(2), NO_STREAM)
        appended = [e.event_id for e in store.read_stream("order-1")]

        # The other database's holder stays open throughout. Something in this
        # database (autovacuum's ANALYZE of the new tables) may take an id for an
        # instant, a legitimate holder: the reads must pass once it has ended.
        def unheld() -> bool:
            return (
                [e.event_id for e in store.read_all()] == appended
                and store.head() == result.checkpoint
                and not store.read_bound().held_back
            )

        wait_until(unheld, timeout=5)


@pytest.mark.parametrize("statement", TAKES_AN_ID)
def test_a_transaction_in_this_database_holds_readers_back_and_is_named(
    pg_store: PostgresEventStore, dsn: str, statement: str
) -> None:
    with holding(dsn, statement, app="the-holder") as pid:
        pg_store.append("order-1", numbered(1), NO_STREAM)

        assert pg_store.read_all() == []
        assert pg_store.head() == Checkpoint.START
        bound = pg_store.read_bound()
        holder = pg_store.oldest_running_transaction()

    assert bound.held_back
    assert bound.per_database
    assert bound.fallback is None
    assert holder is not None
    assert bound.holder is not None
    assert holder.tx_id == bound.holder.tx_id == bound.tx_id
    assert (holder.pid, holder.application_name) == (pid, "the-holder")
    assert holder.database == conninfo_to_dict(dsn)["dbname"]
    assert (holder.state, holder.user, holder.cluster_wide) == (
        "idle in transaction",
        "postgres",
        False,
    )
    assert holder.query == statement
    assert holder.age is not None
    assert holder.age.total_seconds() >= 0
    assert f"pid {pid}" in holder.describe()
    assert len(pg_store.read_all()) == 1


@pytest.fixture
def own_role(dsn: str) -> Iterator[str]:
    """A login role of this test's own, with read access to the store and nothing else."""
    role = f"escore_test_role_{os.getpid()}_{next(_numbers)}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'GRANT USAGE ON SCHEMA escore TO "{role}"')
        conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA escore TO "{role}"')
        try:
            yield role
        finally:
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


def test_a_role_without_privileges_still_sees_other_sessions_transaction_ids(
    pg_store: PostgresEventStore, dsn: str, other_dsn: str, own_role: str
) -> None:
    role_dsn = make_conninfo(dsn, user=own_role)
    with PostgresEventStore.connect(role_dsn, notify=False) as reader:
        with holding(other_dsn, "SELECT id FROM held FOR UPDATE"):
            pg_store.append("order-1", numbered(1), NO_STREAM)
            assert len(reader.read_all()) == 1, "another role's holder elsewhere must not count"

        with holding(dsn, "SELECT pg_current_xact_id()") as pid:
            pg_store.append("order-2", numbered(1), NO_STREAM)
            assert len(reader.read_all()) == 1
            holder = reader.oldest_running_transaction()
        assert len(reader.read_all()) == 2

    assert holder is not None
    assert holder.pid == pid
    assert (holder.state, holder.query) == (None, "<insufficient privilege>"), (
        "another role's session stays hidden without pg_read_all_stats"
    )


def test_a_prepared_transaction_here_holds_readers_back_and_one_elsewhere_does_not(
    pg_store: PostgresEventStore, dsn: str, other_dsn: str
) -> None:
    row = pg_store.fetch_one("SELECT current_setting('max_prepared_transactions')::int")
    if row is None or row[0] == 0:
        pytest.skip("the server has max_prepared_transactions = 0")
    gid = f"escore-test-{os.getpid()}-{next(_numbers)}"
    for where, held in ((other_dsn, False), (dsn, True)):
        with psycopg.connect(where, autocommit=True) as conn:
            conn.execute("BEGIN")
            conn.execute("SELECT pg_current_xact_id()")
            conn.execute(f"PREPARE TRANSACTION '{gid}'")
            try:
                pg_store.append(f"order-{int(held)}", numbered(1), NO_STREAM)
                bound = pg_store.read_bound()
                assert bound.held_back is held
                if held:
                    assert bound.holder is not None
                    assert bound.holder.prepared == gid
            finally:
                conn.execute(f"ROLLBACK PREPARED '{gid}'")


def test_status_counts_the_events_held_back_and_names_the_holder(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    runner = ProjectionRunner(pg_store, Tally())
    runner.setup()
    with holding(dsn, "SELECT id FROM held FOR UPDATE") as pid:
        pg_store.append("tally-1", numbered(3), NO_STREAM)
        held = runner.status()
        assert runner.run_batch() == 0

    assert (held.lag, held.held_back) == (3, 3), "committed events held back are still lag"
    assert held.held_back_by is not None
    assert held.held_back_by.pid == pid
    assert held.held_back_for is not None
    free = runner.status()
    assert (free.lag, free.held_back, free.held_back_by) == (3, 0, None)
    assert runner.run_batch() == 3
    assert runner.status().lag == 0


def test_the_command_line_status_shows_who_holds_the_log_back(
    pg_store: PostgresEventStore, dsn: str
) -> None:
    ProjectionRunner(pg_store, UserDirectory()).setup()
    with holding(dsn, "SELECT pg_current_xact_id()", app="stuck-job") as pid:
        pg_store.append("user-1", numbered(1, "UserRegistered"), NO_STREAM)
        as_json = _escore("--dsn", dsn, "projections", "status", "user_directory", "--json")
        as_table = _escore("--dsn", dsn, "projections", "status", "user_directory")

    row: dict[str, Any] = json.loads(as_json)
    assert (row["lag"], row["held back"]) == (1, 1)
    assert f"pid {pid}" in row["held back by"]
    assert "stuck-job" in row["held back by"]
    assert f"user_directory: the log is held back by pid {pid}" in as_table


def _escore(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "eventsourcing_core.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


STANDBY = os.environ.get("ESCORE_TEST_STANDBY_DSN")
PRIMARY = os.environ.get("ESCORE_TEST_PRIMARY_DSN")


@pytest.mark.skipif(
    not (STANDBY and PRIMARY),
    reason="needs ESCORE_TEST_PRIMARY_DSN and ESCORE_TEST_STANDBY_DSN (a hot standby of it)",
)
def test_a_reader_on_a_hot_standby_waits_for_the_primarys_running_writers() -> None:
    """On a standby the snapshot lists no running xid: the bound must fall back."""
    assert PRIMARY is not None
    assert STANDBY is not None
    stream = f"standby{os.getpid()}"
    with PostgresEventStore.connect(PRIMARY) as primary:
        start = primary.head()
        with psycopg.connect(PRIMARY) as early:
            early.execute("SELECT pg_current_xact_id()")  # takes its id first
            primary.append(f"{stream}-late", numbered(1, "Late"), NO_STREAM)
            with PostgresEventStore.connect(STANDBY, notify=False) as standby:
                wait_for_replay(primary, standby)
                assert standby.read_all(after=start) == [], "the reader passed a running writer"
                bound = standby.read_bound()
                early.execute(
                    "INSERT INTO escore.events (stream_id, version, event_id, event_type,"
                    " data, metadata, created_at) VALUES (%s, 1, gen_random_uuid(), 'Early',"
                    " '{}', '{}', now())",
                    [f"{stream}-early"],
                )
                early.commit()
                wait_for_replay(primary, standby)
                seen = [e.event_type for e in standby.read_all(after=start)]

    assert (bound.per_database, bound.held_back) == (False, True)
    assert bound.fallback is not None
    assert "standby" in bound.fallback
    assert seen == ["Early", "Late"]


def wait_for_replay(primary: PostgresEventStore, standby: PostgresEventStore) -> None:
    row = primary.fetch_one("SELECT pg_current_wal_lsn()::text")
    assert row is not None
    for _ in range(500):
        replayed = standby.fetch_one("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [row[0]])
        if replayed == (True,):
            return
        time.sleep(0.01)
    raise AssertionError("the standby did not replay in 5 s")
