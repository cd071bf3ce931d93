"""What the server alone allows: the store's append statement against a bare insert, from pgbench.

Run: ``python -m benchmarks.server_ceiling [--dsn DSN] [--quick] [--json]``

pgbench (PostgreSQL's own benchmark client, written in C) sends one event per
autocommit transaction, so no Python client cost is in these figures: they
are what the server does for ``store_benchmark``'s raw side (one ``INSERT``
into the bare ``raw.events`` table of ``ceiling.py``) and for the store (its
own fast statement for an exact expected version, taken from
``Statements.fast_append_one``: the stream row's version check, then the
event into the store's ``events`` table with its indexes and checks). Each
client appends to a stream of its own; the store's side carries the version
each append returns into the next (``\\gset``). Payloads are
``store_benchmark``'s event, sent as parameters (pgbench variables), so the
server parses both JSON documents at every append, as it does for the store
and for raw psycopg. Event ids are time-ordered (as ``uuid7``) and made by
the server on both sides (pgbench has no uuid of its own): a cost the real
paths leave to the client, the same on both sides.

Three workloads: 1 client and 8 clients with the server's durable commit
(``synchronous_commit`` on, every commit waits for its WAL flush), and 8
clients with ``synchronous_commit=off`` (no flush wait: what the statements
cost in server CPU alone). Rounds are interleaved, the best of each reported.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass

import orjson
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from benchmarks import ceiling
from benchmarks.harness import Measure, Sample, cli, fresh_database, interleave, machine_facts
from benchmarks.report import Report, Result, Table
from benchmarks.store_benchmark import EVENT
from eventsourcing_core import NewEvent, PostgresEventStore

BENCH_DATABASE = "escore_server_ceiling"
RAW = "raw table, INSERT"
STORE = "the store's statement"
SIDES = (RAW, STORE)


@dataclass(frozen=True, slots=True)
class Plan:
    """How long each pgbench run lasts, and how many rounds."""

    rounds: int
    seconds: int


FULL = Plan(rounds=3, seconds=5)
QUICK = Plan(rounds=2, seconds=1)


@dataclass(frozen=True, slots=True)
class Workload:
    """One row: how many pgbench clients, and whether commits wait for their flush."""

    name: str
    clients: int
    synchronous_commit: bool


WORKLOADS = (
    Workload("1 client", 1, synchronous_commit=True),
    Workload("8 clients", 8, synchronous_commit=True),
    Workload("8 clients, synchronous_commit=off (server CPU)", 8, synchronous_commit=False),
)

# A time-ordered event id, as uuid7 makes them: milliseconds first, then random bits.
EVENT_ID = (
    "(lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')"
    " || substr(md5(random()::text), 1, 20))::uuid"
)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _values(stream: str) -> dict[str, str]:
    """pgbench's SQL for each of the store's parameters.

    ``:version`` is carried by ``\\gset``; ``:data`` and ``:metadata`` are
    defined once per run (``PAYLOAD``) and sent as parameters at every append.
    """
    return {
        "stream_id": stream,
        "count": "1",
        "expected": ":version",
        "first_id": EVENT_ID,
        "event_type": _literal(EVENT.event_type),
        "schema_version": "1",
        "data": ":data",
        "metadata": ":metadata",
        "timestamp": "now()",
    }


PAYLOAD = {
    "data": orjson.dumps(EVENT.data).decode(),
    "metadata": orjson.dumps(EVENT.metadata).decode(),
}
"""The pgbench variables holding the event's JSON documents."""


def raw_script(stream: str) -> str:
    """``ceiling.RAW_INSERT`` with its parameters as SQL (its ``%s`` in column order)."""
    values = _values(stream)
    ordered = iter(
        (
            values["stream_id"],
            "1",
            values["first_id"],
            values["event_type"],
            values["schema_version"],
            values["data"] + "::jsonb",  # as psycopg's Jsonb sends it
            values["metadata"] + "::jsonb",
            values["timestamp"],
        )
    )
    return re.sub(r"%s", lambda _: next(ordered), ceiling.RAW_INSERT) + ";\n"


def store_script(statement: str, stream: str) -> str:
    """The store's statement with its parameters as SQL; its new version goes to ``:version``."""
    if statement.count("%(first_id)s") != 1:
        # The ANY and STREAM_EXISTS forms also check the id: one expression
        # would make two different ids. Only the exact-version form is run.
        raise ValueError("the statement must use its first event id once")
    values = _values(stream)
    rendered = re.sub(r"%\((\w+)\)s", lambda match: values[match.group(1)], statement)
    return rendered.strip() + "\n\\gset\n"


class Pgbench:
    """Runs a script for a number of seconds; the transactions it completed."""

    def __init__(self, executable: str, dsn: str, directory: str) -> None:
        self._executable = executable
        self._dsn = dsn
        self._directory = directory
        self._names = itertools.count()

    def run(self, script: str, workload: Workload, seconds: int, *, version: int = 1) -> Sample:
        path = os.path.join(self._directory, f"script_{next(self._names)}.sql")
        with open(path, "w", encoding="utf-8") as file:
            file.write(script)
        threads = min(workload.clients, os.cpu_count() or 1)
        completed = subprocess.run(
            [
                self._executable,
                "--no-vacuum",
                "--protocol=prepared",
                f"--client={workload.clients}",
                f"--jobs={threads}",
                f"--time={seconds}",
                f"--define=version={version}",
                *(f"--define={name}={value}" for name, value in PAYLOAD.items()),
                f"--file={path}",
                with_commit_setting(self._dsn, workload.synchronous_commit),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        return parse_output(completed.returncode, completed.stdout + completed.stderr)


def with_commit_setting(dsn: str, synchronous_commit: bool) -> str:
    """``dsn`` with ``synchronous_commit=off`` added to its ``options`` (kept otherwise).

    In the connection string rather than ``PGOPTIONS``, which libpq ignores
    when the string has ``options`` of its own (so a string without them
    starts from ``PGOPTIONS``, as the other rows do).
    """
    if synchronous_commit:
        return dsn
    params = conninfo_to_dict(dsn)
    given = params.get("options") or os.environ.get("PGOPTIONS", "")
    options = f"{given} -c synchronous_commit=off".strip()
    return make_conninfo(dsn, options=options)


def parse_output(returncode: int, output: str) -> Sample:
    """pgbench's transactions and rate, or an error naming what went wrong."""
    processed = re.search(r"number of transactions actually processed: (\d+)", output)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
    if returncode != 0 or processed is None or tps is None or (failed and int(failed.group(1))):
        raise RuntimeError(f"pgbench failed (exit {returncode}):\n{output[-2000:]}")
    transactions, rate = int(processed.group(1)), float(tps.group(1))
    if transactions == 0 or rate <= 0:
        raise RuntimeError(f"pgbench completed no transaction:\n{output[-2000:]}")
    return Sample(transactions, transactions / rate)


def sides_of(
    store: PostgresEventStore,
    pgbench: Pgbench,
    workload: Workload,
    plan: Plan,
    runs: Iterator[int],
) -> dict[str, Measure]:
    """Both sides of one workload; each store run appends to streams of its own, made first."""
    statement = store.statements.fast_append_one["at"]

    def raw() -> Sample:
        return pgbench.run(raw_script("'raw-' || :client_id"), workload, plan.seconds)

    def ours() -> Sample:
        prefix = f"server{next(runs)}"
        for client in range(workload.clients):
            store.append(f"{prefix}-{client}", [NewEvent(EVENT.event_type, EVENT.data)], 0)
        script = store_script(statement, f"'{prefix}-' || :client_id")
        return pgbench.run(script, workload, plan.seconds, version=1)

    return {RAW: raw, STORE: ours}


def run(args: argparse.Namespace, plan: Plan) -> Report:
    executable = shutil.which("pgbench")
    if executable is None:
        raise SystemExit("pgbench is not on PATH (Debian: postgresql-client, or the server's bin)")
    results: list[Result] = []
    with fresh_database(args.dsn, BENCH_DATABASE) as bench, ExitStack() as stack:
        conn = stack.enter_context(ceiling.connect(bench))
        ceiling.create_raw(conn)
        facts = machine_facts(conn)
        store = PostgresEventStore.connect(bench, notify=False)
        stack.callback(store.close)
        pgbench = Pgbench(executable, bench, stack.enter_context(tempfile.TemporaryDirectory()))
        version = subprocess.run([executable, "--version"], capture_output=True, text=True)
        runs = itertools.count()
        for workload in WORKLOADS:
            sides = sides_of(store, pgbench, workload, plan, runs)
            for measure in sides.values():  # a warm-up run of each
                measure()
            best = interleave(workload.name, sides, plan.rounds)
            results.append(Result(workload.name, best, STORE))
    table = Table(
        "pgbench, one event per transaction", SIDES, RAW, unit="transactions/s", results=results
    )
    return Report(facts, plan, [table], [f"client: {version.stdout.strip()}"])


def main(argv: Sequence[str] | None = None) -> int:
    title = __doc__.splitlines()[0] if __doc__ else None
    return cli(title, run, full=FULL, quick=QUICK, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
