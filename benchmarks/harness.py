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
import json
import math
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow

from eventsourcing_core import Checkpoint, PostgresEventStore, migrate, observe

Connection = psycopg.Connection[TupleRow]
Step = Callable[[], int]
"""One unit of work; returns how many events it wrote or read (0: nothing left)."""
Measure = Callable[[], "Sample"]
"""One timed round of one side."""
PlanT = TypeVar("PlanT")

DEFAULT_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"

SERVER_SETTINGS = (
    "server_version",
    "synchronous_commit",
    "fsync",
    "wal_sync_method",
    "full_page_writes",
    "wal_compression",
    "commit_delay",
    "shared_buffers",
    "max_wal_size",
    "jit",
)


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
    """A new database ``dbname`` on the server of ``dsn`` (migrated); dropped when done.

    ``ESCORE_BENCH_DATABASE`` overrides the name: two runs on one shared server
    must not drop each other's database.
    """
    dbname = os.environ.get("ESCORE_BENCH_DATABASE", dbname)
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


# -- results and the report -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """``subject / versus`` must reach ``ratio`` (or, with ``at_most``, stay at or below it)."""

    versus: str
    ratio: float
    at_most: bool = False

    def met(self, value: float) -> bool:
        return value <= self.ratio if self.at_most else value >= self.ratio

    def describe(self, value: float | None) -> str:
        sign = "<=" if self.at_most else ">="
        if value is None:
            return f"{sign} {self.ratio:.2f}x {self.versus}: not measured"
        verdict = "PASS" if self.met(value) else "BELOW"
        # Rounded towards the verdict, so that 0.598 reads 0.59 BELOW, not 0.60 BELOW.
        shown = math.floor(value * 100) / 100 if not self.at_most else math.ceil(value * 100) / 100
        return f"{shown:.2f}x {self.versus} (target {sign} {self.ratio:.2f}) {verdict}"


@dataclass(frozen=True, slots=True)
class Result:
    """One workload's best figure per side (None: that side did not run), and its targets."""

    workload: str
    values: Mapping[str, float | None]
    subject: str = "ours"
    targets: tuple[Target, ...] = ()
    note: str = ""

    def ratio(self, side: str, versus: str) -> float | None:
        value, base = self.values.get(side), self.values.get(versus)
        if value is None or not base:
            return None
        return value / base

    def verdicts(self) -> list[str]:
        return [t.describe(self.ratio(self.subject, t.versus)) for t in self.targets]

    def as_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "values": {k: None if v is None else round(v, 3) for k, v in self.values.items()},
            "subject": self.subject,
            "targets": [
                {
                    "versus": t.versus,
                    "ratio": t.ratio,
                    "at_most": t.at_most,
                    "measured": _rounded(self.ratio(self.subject, t.versus)),
                    "met": None if (m := self.ratio(self.subject, t.versus)) is None else t.met(m),
                }
                for t in self.targets
            ],
            "note": self.note,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass(frozen=True, slots=True)
class Table:
    """Results with the same sides; every figure is printed with its ratio to ``ceiling``."""

    title: str
    sides: Sequence[str]
    ceiling: str
    unit: str = "events/s"
    results: list[Result] = field(default_factory=list)
    decimals: int = 0

    def markdown(self) -> str:
        header = [self.title, *(f"{side} ({self.unit})" for side in self.sides), "targets"]
        lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * len(self.sides) + "---|"]
        for result in self.results:
            cells = [result.workload, *(self._cell(result, side) for side in self.sides)]
            cells.append("; ".join(result.verdicts()) or result.note)
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def _cell(self, result: Result, side: str) -> str:
        value = result.values.get(side)
        if value is None:
            return "-"
        text = f"{value:,.{self.decimals}f}"
        ratio = result.ratio(side, self.ceiling)
        if side == self.ceiling or ratio is None:
            return text
        return f"{text} ({ratio:.2f}x)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "sides": list(self.sides),
            "ceiling": self.ceiling,
            "unit": self.unit,
            "results": [result.as_dict() for result in self.results],
        }


@dataclass(frozen=True, slots=True)
class Report:
    """Everything a run measured, with the facts needed to read it."""

    facts: Mapping[str, Any]
    plan: Any
    tables: Sequence[Table]
    notes: Sequence[str] = ()
    sections: Sequence[str] = ()
    """More Markdown, after the tables: what a script reports in another shape."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """More JSON, beside the tables."""

    def markdown(self) -> str:
        facts = self.facts
        settings = ", ".join(
            f"{name}={facts[name]}" for name in SERVER_SETTINGS[1:] if name in facts
        )
        extra = [f"{k}: {v}" for k, v in facts.items() if k not in _SHOWN_FACTS]
        lines = [
            f"PostgreSQL {facts.get('postgres')}; {settings}",
            f"machine: {facts.get('cores')} cores, load average {facts.get('load')}; "
            f"Python {facts.get('python')}, psycopg {facts.get('psycopg')}"
            + (f"; {'; '.join(extra)}" if extra else ""),
            f"plan: {plan_text(self.plan)}",
        ]
        for table in self.tables:
            lines += ["", table.markdown()]
        for section in self.sections:
            lines += ["", section]
        if self.notes:
            lines += ["", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines)

    def json(self) -> str:
        return json.dumps(
            {
                "facts": dict(self.facts),
                "plan": plan_dict(self.plan),
                "tables": [table.as_dict() for table in self.tables],
                "notes": list(self.notes),
                **self.extra,
            },
            indent=2,
            default=str,
        )


_SHOWN_FACTS = {"postgres", "cores", "load", "python", "psycopg", *SERVER_SETTINGS}


def plan_dict(plan: Any) -> dict[str, Any]:
    return asdict(plan) if is_dataclass(plan) and not isinstance(plan, type) else {}


def plan_text(plan: Any) -> str:
    values = plan_dict(plan)
    return ", ".join(
        f"{key}={value:,}" if isinstance(value, int) else f"{key}={value}"
        for key, value in values.items()
    )


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
