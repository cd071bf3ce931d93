"""The pgbench scripts of benchmarks/server_ceiling.py run the store's own statement, checked."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from benchmarks import ceiling
from benchmarks.server_ceiling import (
    EVENT_ID,
    Pgbench,
    Workload,
    parse_output,
    raw_script,
    store_script,
    with_commit_setting,
)
from benchmarks.store_benchmark import EVENT
from eventsourcing_core import NewEvent, PostgresEventStore

PGBENCH = shutil.which("pgbench")
needs_pgbench = pytest.mark.skipif(
    PGBENCH is None, reason="pgbench is not on PATH (Debian: postgresql-client)"
)
ONE_CLIENT = Workload("1 client", 1, synchronous_commit=True)


def test_scripts_fill_every_parameter() -> None:
    statement = "SELECT %(stream_id)s, %(expected)s, %(first_id)s, %(data)s::jsonb"
    script = store_script(statement, "'s-' || :client_id")
    assert "%" not in script
    assert script.startswith("SELECT 's-' || :client_id, :version, " + EVENT_ID + ", :data::jsonb")
    assert script.endswith("\n\\gset\n")
    raw = raw_script("'raw-' || :client_id")
    assert "%s" not in raw
    assert raw.count(EVENT_ID) == 1
    assert raw.endswith(";\n")


def test_a_statement_that_uses_the_event_id_twice_is_refused() -> None:
    # One SQL expression per use would make two different ids.
    with pytest.raises(ValueError, match="first event id once"):
        store_script("SELECT %(first_id)s WHERE NOT EXISTS (SELECT %(first_id)s)", "'s'")


def test_synchronous_commit_off_joins_the_connection_strings_own_options() -> None:
    dsn = "host=localhost dbname=bench options='-c work_mem=64MB'"
    assert with_commit_setting(dsn, True) == dsn
    params = conninfo_to_dict(with_commit_setting(dsn, False))
    assert params["options"] == "-c work_mem=64MB -c synchronous_commit=off"
    assert params["dbname"] == "bench"


def test_parse_output_refuses_a_failed_run() -> None:
    good = (
        "number of transactions actually processed: 50\n"
        "tps = 25.0 (without initial connection time)\n"
    )
    sample = parse_output(0, good)
    assert (sample.events, sample.seconds) == (50, 2.0)
    with pytest.raises(RuntimeError, match="exit 2"):
        parse_output(2, good)
    with pytest.raises(RuntimeError, match="pgbench failed"):
        parse_output(0, good + "number of failed transactions: 3 (6.000%)\n")
    with pytest.raises(RuntimeError, match="no transaction"):
        parse_output(0, good.replace(": 50", ": 0"))


@needs_pgbench
def test_the_store_script_appends_through_the_version_check(dsn: str, tmp_path: Path) -> None:
    assert PGBENCH is not None
    pgbench = Pgbench(PGBENCH, dsn, str(tmp_path))
    with PostgresEventStore.connect(dsn, notify=False) as store:
        store.append("bench-0", [NewEvent("Registered", {"n": 1})], 0)
        statement = store.statements.fast_append_one["at"]
        sample = pgbench.run(store_script(statement, "'bench-' || :client_id"), ONE_CLIENT, 1)
        events = store.read_stream("bench-0")
        # Every transaction pgbench counted is one event, at the next version,
        # holding the benchmark's event.
        assert len(events) == 1 + sample.events
        assert [event.version for event in events] == list(range(1, len(events) + 1))
        assert {event.event_type for event in events[1:]} == {EVENT.event_type}
        assert all(event.data == EVENT.data for event in events[1:])
        assert all(event.metadata.to_json() == EVENT.metadata for event in events[1:])
        assert len({event.event_id for event in events}) == len(events)
        # A wrong expected version is refused: the script's \gset finds no row.
        with pytest.raises(RuntimeError, match="pgbench failed"):
            pgbench.run(store_script(statement, "'bench-' || :client_id"), ONE_CLIENT, 1, version=1)
        assert len(store.read_stream("bench-0")) == len(events)


@needs_pgbench
def test_the_raw_script_inserts_into_the_raw_table(dsn: str, tmp_path: Path) -> None:
    assert PGBENCH is not None
    with psycopg.connect(dsn, autocommit=True) as conn:
        ceiling.create_raw(conn)
        sample = Pgbench(PGBENCH, dsn, str(tmp_path)).run(
            raw_script("'raw-' || :client_id"), ONE_CLIENT, 1
        )
        row = conn.execute(
            "SELECT count(*), min(stream_id), max(stream_id) FROM raw.events"
        ).fetchone()
    assert row == (sample.events, "raw-0", "raw-0")
