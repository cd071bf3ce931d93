"""What every benchmark here shares: a fresh database, bounded and interleaved rounds, the report.

A benchmark script keeps only its workloads. It builds one callable per side
of a workload (each returns a ``Sample``: events over seconds), and
``interleave`` measures all sides round after round, rotating their order so
that no side always runs first or last on a machine whose speed drifts (other
processes, caches, the disk); the best round of each side is kept. Results go
into ``Table``s with the ceiling's figure, each side's ratio to it and each
target's verdict (PASS or BELOW), and a ``Report`` prints the tables as
Markdown or JSON with the facts that decide the numbers: cores, load, the
PostgreSQL version and the settings that bound commits and reads.

``cli`` is the command line every script has:
``--dsn DSN`` (default ``$DATABASE_URL`` or the local server), ``--quick`` (a
short plan) and ``--json``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow

from benchmarks.report import SERVER_SETTINGS, Report
from eventsourcing_core import Checkpoint, PostgresEventStore, migrate, observe

Connection = psycopg.Connection[TupleRow]
Step = Callable[[], int]
"""One unit of work; returns how many events it wrote or read (0: nothing left)."""
AsyncStep = Callable[[], Awaitable[int]]
"""A ``Step`` of an asyncio side: awaited on the benchmark's event loop."""
Measure = Callable[[], "Sample"]
"""One timed round of one side."""
PlanT = TypeVar("PlanT")

DEFAULT_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def log(message: str) -> None:
    """Progress, on stderr (the report goes to stdout)."""
    print(message, file=sys.stderr, flush=True)


# -- the database ------------------------------------------------------------------


def server_dsn(dsn: str, dbname: str) -> str:
    """``dsn`` pointed at another database of the same server."""
    return make_conninfo(dsn, dbname=dbname)


def safe_dsn(dsn: str) -> str:
    """The DSN without its password, for the log."""
    params = conninfo_to_dict(dsn)
    params.pop("password", None)
    return " ".join(f"{key}={value}" for key, value in params.items())


@contextmanager
def fresh_database(dsn: str, dbname: str, *, migrated: bool = True) -> Iterator[str]:
    """A new database ``<dbname>_<pid>`` on the server of ``dsn`` (migrated); dropped when done.

    The pid keeps two runs on one server (two people, two branches) apart;
    ``ESCORE_BENCH_DATABASE`` names it outright.
    """
    dbname = os.environ.get("ESCORE_BENCH_DATABASE") or f"{dbname}_{os.getpid()}"
    name = sql.Identifier(dbname)
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
    try:
        bench = server_dsn(dsn, dbname)
        if migrated:
            migrate.upgrade(bench)
        yield bench
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def wait_until_visible(store: PostgresEventStore, events: int, timeout: float = 120.0) -> None:
    """Until the store's global log shows at least ``events`` events.

    The log hides events behind any transaction that was already running,
    anywhere in the cluster, when they were written (on a shared server:
    other people's tests), so a read timed before those end would stop
    short. Transactions that start later cannot hide them.
    """
    deadline = time.monotonic() + timeout
    while (seen := _count_visible(store, events)) < events:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {seen:,} of {events:,} events became visible")
        log(f"  {seen:,} of {events:,} events visible, waiting for older transactions...")
        time.sleep(1)


def _count_visible(store: PostgresEventStore, events: int) -> int:
    seen, after = 0, Checkpoint.START
    while seen < events and (page := store.read_all(after=after, limit=10_000)):
        seen, after = seen + len(page), page[-1].checkpoint
    return seen


def machine_facts(conn: Connection) -> dict[str, Any]:
    """The machine and the server settings that bound the figures, printed with them."""
    names = sql.SQL(", ").join(
        sql.SQL("current_setting({})").format(sql.Literal(name)) for name in SERVER_SETTINGS
    )
    row = conn.execute(sql.SQL("SELECT {}").format(names)).fetchone()
    assert row is not None
    facts: dict[str, Any] = {"cores": os.cpu_count(), "load": _load()}
    facts["python"] = platform.python_version()
    facts["psycopg"] = f"{psycopg.__version__} ({psycopg.pq.__impl__})"
    facts.update(zip(("postgres", *SERVER_SETTINGS[1:]), row, strict=True))
    return facts


def _load() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:  # pragma: no cover - not on every platform
        return "?"


# -- what the workloads write ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Payload:
    """One event's content, written by every side of a workload."""

    event_type: str
    data: Mapping[str, Any]
    metadata: Mapping[str, Any]


class StreamVersions:
    """A writer's streams, visited in turn, with the version each has reached."""

    def __init__(self, prefix: str, count: int = 4) -> None:
        self._streams = [f"{prefix}-{index}" for index in range(count)]
        self._versions = dict.fromkeys(self._streams, 0)
        self._turn = 0

    def take(self, events: int) -> tuple[str, int]:
        """The next stream and its current version; the version then advances by ``events``."""
        stream = self._streams[self._turn % len(self._streams)]
        self._turn += 1
        version = self._versions[stream]
        self._versions[stream] = version + events
        return stream, version


# -- measuring ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """What one measurement did: events over seconds."""

    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def run_bounded(step: Step, max_events: int, seconds: float) -> Sample:
    """Repeat ``step`` until ``max_events``, ``seconds`` or a step that does nothing."""
    events = 0
    start = time.perf_counter()
    deadline = start + seconds
    while events < max_events and time.perf_counter() < deadline:
        done = step()
        if done == 0:
            break
        events += done
    return Sample(events, time.perf_counter() - start)


def run_concurrent(steps: Sequence[Step], max_events: int, seconds: float) -> Sample:
    """Run each step in its own thread, started together; total events over wall time."""
    barrier = threading.Barrier(len(steps) + 1)
    samples: list[Sample] = []
    errors: list[BaseException] = []

    def work(step: Step) -> None:
        barrier.wait()
        try:
            samples.append(run_bounded(step, max_events // len(steps), seconds))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(step,)) for step in steps]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return Sample(sum(sample.events for sample in samples), elapsed)


async def run_bounded_async(step: AsyncStep, max_events: int, seconds: float) -> Sample:
    """``run_bounded`` for an async step: awaited one after another on the running loop."""
    events = 0
    start = time.perf_counter()
    deadline = start + seconds
    while events < max_events and time.perf_counter() < deadline:
        done = await step()
        if done == 0:
            break
        events += done
    return Sample(events, time.perf_counter() - start)


async def run_tasks(steps: Sequence[AsyncStep], max_events: int, seconds: float) -> Sample:
    """``run_concurrent`` for async steps: each in its own task on one loop, started together."""
    start = time.perf_counter()
    samples = await asyncio.gather(
        *(run_bounded_async(step, max_events // len(steps), seconds) for step in steps)
    )
    return Sample(sum(sample.events for sample in samples), time.perf_counter() - start)


def warm_up(*steps: Step, runs: int) -> None:
    """Run each step a few times (psycopg prepares a statement after 5 executions)."""
    for step in steps:
        for _ in range(runs):
            step()


def rotations(sides: Sequence[str], rounds: int) -> Iterator[tuple[int, list[str]]]:
    """Each round's order: rotated by one side per round, every other round reversed.

    With two sides this is ABBA; with more, every side runs first, last and
    in between over the rounds, so a drift in the machine's speed is shared.
    """
    count = len(sides)
    for number in range(rounds):
        shift = (number // 2) % count if count > 2 else 0
        order = list(sides[shift:]) + list(sides[:shift])
        yield number, order if number % 2 == 0 else order[::-1]


def hooked_step(step: Step, hook: observe.Hook) -> Step:
    """``step`` with ``hook`` installed while it runs: the instrumented side of an A/B.

    Installing and removing the hook per step is charged to this side, so the
    measured cost is, if anything, a little high.
    """

    def run() -> int:
        observe.install(hook)
        try:
            return step()
        finally:
            observe.uninstall(hook)

    return run


def metrics_hook() -> observe.Hook | None:
    """Prometheus counters in a registry of their own, or None without the [metrics] extra."""
    try:
        from prometheus_client import CollectorRegistry

        from eventsourcing_core.integrations.metrics import StoreMetrics
    except ImportError:
        log("prometheus_client is not installed: the metrics A/B is skipped")
        return None
    return StoreMetrics(CollectorRegistry())


def interleave(name: str, sides: Mapping[str, Measure], rounds: int) -> dict[str, float]:
    """Measure every side ``rounds`` times in rotating order; the best rate of each."""
    best = dict.fromkeys(sides, 0.0)
    for number, order in rotations(list(sides), rounds):
        for side in order:
            sample = sides[side]()
            log(f"  {name} round {number + 1} {side}: {sample.rate:,.0f} events/s")
            best[side] = max(best[side], sample.rate)
    return best


def alternate(name: str, ours: Measure, raw: Measure, rounds: int) -> tuple[float, float]:
    """Two sides in ABBA order: the best rate of ``ours`` and of ``raw``."""
    best = interleave(name, {"ours": ours, "raw": raw}, rounds)
    return best["ours"], best["raw"]


def lowest(name: str, sides: Mapping[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Like ``interleave`` for figures where lower is better (latencies): the lowest of each."""
    best = dict.fromkeys(sides, math.inf)
    for number, order in rotations(list(sides), rounds):
        for side in order:
            value = sides[side]()
            log(f"  {name} round {number + 1} {side}: {value:.3f}")
            best[side] = min(best[side], value)
    return best


# -- the command line -----------------------------------------------------------------


def cli(
    description: str | None,
    run: Callable[[argparse.Namespace, PlanT], Report],
    *,
    full: PlanT,
    quick: PlanT,
    argv: Sequence[str] | None = None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """Parse ``--dsn``/``--quick``/``--json`` (and the script's own), run, print the report."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--dsn",
        default=os.environ.get("DATABASE_URL", DEFAULT_DSN),
        help="a PostgreSQL server to benchmark on (default: $DATABASE_URL or the local server)",
    )
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    plan = quick if args.quick else full
    log(f"benchmarking on {safe_dsn(args.dsn)} ({'quick' if args.quick else 'full'} run)")
    started = time.perf_counter()
    report = run(args, plan)
    log(f"done in {time.perf_counter() - started:.0f}s")
    print(report.json() if args.json else report.markdown())
    return 0
