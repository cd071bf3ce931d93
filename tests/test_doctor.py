"""``escore doctor``: healthy is exit 0; each problem is one line with its remedy, exit 1."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from eventsourcing_core import NewEvent, PostgresEventStore
from eventsourcing_core.logs import JsonFormatter, OperationFields, quiet_pika
from eventsourcing_core.observe import hooked
from eventsourcing_core.postgres.projections import ProjectionRunner
from tests.tally import ParkingTally
from tests.test_read_bound import holding
from tests.workers import ROOT

ESCORE = [sys.executable, "-m", "eventsourcing_core.cli"]
# The samples' projections (never run here: fine) plus the test's tally.
APP = ["--projections", "tests.test_doctor:projections"]


def projections(store: PostgresEventStore) -> list[ParkingTally]:
    """The app the doctor checks: one projection that parks what it cannot apply."""
    return [ParkingTally()]


def doctor(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ESCORE, "--dsn", dsn, *APP, "doctor", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


@pytest.fixture
def tuned(dsn: str) -> str:
    """The test database with the settings the doctor asks for."""
    name = sql.Identifier(str(conninfo_to_dict(dsn)["dbname"]))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET idle_in_transaction_session_timeout = '60s'").format(
                name
            )
        )
    return dsn


def test_a_healthy_store_exits_0(tuned: str) -> None:
    out = doctor(tuned)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "PROBLEM" not in out.stdout
    assert "ok       schema: revision" in out.stdout


def test_an_unmigrated_database_is_one_problem_saying_migrate(empty_dsn: str) -> None:
    out = doctor(empty_dsn)
    assert out.returncode == 1
    [line] = out.stdout.splitlines()
    assert line.startswith("PROBLEM  schema:")
    assert line.endswith("-> run `escore migrate`")


def test_the_idle_timeout_left_off_is_a_problem(dsn: str) -> None:
    out = doctor(dsn, "--json")
    assert out.returncode == 1
    [report] = [json.loads(line) for line in out.stdout.splitlines()]
    assert report["healthy"] is False
    [problem] = [c for c in report["checks"] if not c["ok"]]
    assert problem["check"] == "idle_in_transaction_session_timeout"
    assert "idle_in_transaction_session_timeout = '60s'" in problem["remedy"]


def test_a_transaction_holding_the_log_back_is_named_with_its_pid(
    tuned: str, pg_store: PostgresEventStore
) -> None:
    with holding(tuned, "SELECT pg_current_xact_id()", app="doctor-holder") as pid:
        pg_store.append("tally-1", [NewEvent("Counted", {})])  # a later transaction finishes
        out = doctor(tuned, "--max-held-back", "0")
    assert out.returncode == 1
    problems = [line for line in out.stdout.splitlines() if line.startswith("PROBLEM")]
    assert len(problems) == 1
    assert f"pid {pid}" in problems[0]
    assert f"pg_terminate_backend({pid})" in problems[0]


def test_parked_and_behind_projections_are_problems(
    tuned: str, pg_store: PostgresEventStore
) -> None:
    runner = ProjectionRunner(pg_store, ParkingTally(), batch_size=10)
    runner.setup()
    pg_store.append("tally-1", [NewEvent("Counted", {"poison": True})])
    while runner.run_batch():
        pass
    pg_store.append("tally-1", [NewEvent("Counted", {}) for _ in range(3)])
    out = doctor(tuned, "--max-lag", "2")
    assert out.returncode == 1
    problems = [line for line in out.stdout.splitlines() if line.startswith("PROBLEM")]
    assert any("tally: 1 parked event(s)" in line for line in problems), problems
    assert any("tally: 3 events behind" in line for line in problems), problems
    assert any("tally: stopped" in line for line in problems), "running, but no worker owns it"


def test_log_records_carry_the_operation_s_fields_as_json(
    pg_store: PostgresEventStore, caplog: pytest.LogCaptureFixture
) -> None:
    runner = ProjectionRunner(pg_store, ParkingTally(), batch_size=10)
    runner.setup()
    pg_store.append("tally-1", [NewEvent("Counted", {"poison": True})])
    handler = logging.StreamHandler()
    from eventsourcing_core.logs import _AddFields

    handler.addFilter(_AddFields())
    records: list[logging.LogRecord] = []
    handler.emit = records.append  # type: ignore[method-assign,assignment]
    logger = logging.getLogger("eventsourcing_core")
    logger.addHandler(handler)
    try:
        with hooked(OperationFields()):
            while runner.run_batch():
                pass
    finally:
        logger.removeHandler(handler)
    parked = [r for r in records if "parked" in r.getMessage()]
    assert parked
    line = json.loads(JsonFormatter().format(parked[0]))
    assert line["projection"] == "tally"
    assert line["level"] == "ERROR"
    assert "\n" not in JsonFormatter().format(parked[0])


def test_pika_connection_tracebacks_become_one_line_or_none() -> None:
    handler = logging.StreamHandler()
    quiet_pika(handler)
    try:
        raise ConnectionRefusedError("refused")
    except ConnectionRefusedError:
        failure = sys.exc_info()

    def record(name: str, message: str) -> logging.LogRecord:
        return logging.getLogger(name).makeRecord(name, logging.ERROR, "x", 1, message, (), failure)

    attempt = record("pika.adapters.utils.connection_workflow", "TCP Connection attempt failed")
    channel = record("pika.channel", "channel closed")
    ours = record("eventsourcing_core", "kept")
    assert not handler.filter(attempt)  # the relay says "broker unreachable ...; reconnecting"
    assert handler.filter(channel)
    assert handler.format(channel) == "channel closed (ConnectionRefusedError('refused'))"
    assert handler.filter(ours)
    assert "Traceback" in handler.format(ours)
