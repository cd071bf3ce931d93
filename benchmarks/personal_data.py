"""Workloads of the personal-data mode of ``store_benchmark.py`` (``--personal-data``).

What crypto-shredding costs, same run, rounds interleaved, best of each side:

- appends, 1 event per transaction, 1 writer: no personal field (the plain
  store), one personal field of a subject whose key the process knows
  (sealed: the common case), one of a subject never seen (a key is made
  first: one more statement), and the plain store in a schema without the
  partial index on sealed subjects (what that index costs appends that have
  no personal field).
- reads of the global log in pages: plain events, and events with one
  sealed field (one key fetch per page, one decryption per event).
- the in-process checks every append and every page pays even without
  personal fields, timed alone against an append and a page.
"""

from __future__ import annotations

import itertools
import random
import statistics
import time
import timeit
from collections.abc import Callable
from typing import Any

from psycopg import sql

from benchmarks.harness import Step, StreamVersions, log
from benchmarks.report import Result, Target
from eventsourcing_core import (
    Checkpoint,
    Metadata,
    NewEvent,
    PostgresEventStore,
    StreamAppend,
    crypto,
    migrate,
)
from eventsourcing_core.events import PersonalData
from eventsourcing_core.postgres.statements import render
from eventsourcing_core.validation import prepare_appends

PLAIN, SEALED = "no personal field", "1 personal field"
NEW_SUBJECT, NO_INDEX = "1 personal field, new subject", "no personal field, no subject index"
SIDES = (PLAIN, SEALED, NEW_SUBJECT, NO_INDEX)
NO_INDEX_SCHEMA = "escore_no_subject_index"


def _event(data: dict[str, Any], metadata: Metadata, subject: str | None) -> NewEvent:
    personal = None if subject is None else PersonalData(subject, ("note",))
    return NewEvent("ItemAdded", data, metadata=metadata, personal=personal)


def append_step(
    store: PostgresEventStore,
    streams: StreamVersions,
    data: dict[str, Any],
    metadata: Metadata,
    subject: Callable[[str], str | None],
) -> Step:
    """One event per append to the next stream; ``subject(stream)`` names whose field it is."""

    def step() -> int:
        stream, version = streams.take(1)
        store.append(stream, [_event(data, metadata, subject(stream))], version)
        return 1

    return step


def pages_step(store: PostgresEventStore, category: str, page_size: int) -> Step:
    after = Checkpoint.START

    def step() -> int:
        nonlocal after
        batch = store.read_all(after=after, limit=page_size, categories=[category])
        if batch:
            after = batch[-1].checkpoint
        return len(batch)

    return step


def store_without_subject_index(bench: str) -> PostgresEventStore:
    """A store in a schema of its own whose events table lacks the partial subject index."""
    migrate.upgrade(bench, schema=NO_INDEX_SCHEMA)
    store = PostgresEventStore.connect(bench, schema=NO_INDEX_SCHEMA)
    drop = sql.SQL("DROP INDEX {}.events_personal_subject_idx").format(
        sql.Identifier(NO_INDEX_SCHEMA)
    )
    store.execute(drop.as_string())
    return store


def append_steps(
    store: PostgresEventStore, no_index: PostgresEventStore, data: dict[str, Any], meta: Metadata
) -> dict[str, Step]:
    fresh = (f"subject-{n}" for n in itertools.count())
    return {
        PLAIN: append_step(store, StreamVersions("plain"), data, meta, lambda _: None),
        SEALED: append_step(store, StreamVersions("sealed"), data, meta, lambda stream: stream),
        NEW_SUBJECT: append_step(store, StreamVersions("new"), data, meta, lambda _: next(fresh)),
        NO_INDEX: append_step(no_index, StreamVersions("plain"), data, meta, lambda _: None),
    }


def paired_rates(steps: dict[str, Step], appends: int) -> dict[str, float]:
    """1 / the median latency of each side's appends, taken in turns one append at a time.

    On a shared machine a single writer's rate drifts by 2x between one-second
    rounds (fsync and other tenants), more than the difference sought; sides
    taken in turns, append by append (the order rotating), see the same
    drift, and the median ignores the stalls. The order is shuffled each turn
    (seeded): a fixed rotation makes each side always follow the same one, and
    an append right after the new-subject side's extra statements was slower.
    """
    sides = list(steps)
    latencies: dict[str, list[float]] = {side: [] for side in sides}
    order = random.Random(15)
    for _ in range(appends):
        for side in order.sample(sides, len(sides)):
            started = time.perf_counter()
            steps[side]()
            latencies[side].append(time.perf_counter() - started)
    for side, values in latencies.items():
        log(f"  personal data, {side}: median {statistics.median(values) * 1e6:,.0f} us")
    return {side: 1 / statistics.median(values) for side, values in latencies.items()}


def append_result(best: dict[str, float]) -> Result:
    return Result(
        "1 event per transaction, 1 writer (1 / median latency, appends taken in turns)",
        best,
        PLAIN,
        # Sealing may cost at most 20% of an append: a rate of at least 1/1.2 of the plain one.
        (Target(SEALED, 1.2, at_most=True), Target(NO_INDEX, 0.97)),
        note="ratios of 'no personal field' to each side: plain/sealed <= 1.2 means sealing "
        "one field costs at most 20% of an append; plain/no-index >= 0.97 means the subject "
        "index costs plain appends nothing measurable",
    )


def fill_for_reads(store: PostgresEventStore, data: dict[str, Any], meta: Metadata, n: int) -> None:
    """``n`` plain events (category ``plainread``) and ``n`` sealed ones (``sealedread``)."""
    size = 1000
    for index in range(n // size):
        store.append(f"plainread-{index}", [_event(data, meta, None) for _ in range(size)])
        subject = f"reader-{index}"
        store.append(f"sealedread-{index}", [_event(data, meta, subject) for _ in range(size)])
    log(f"filled {n:,} plain and {n:,} sealed events")


# read_stream as it was before streams had a first version (revision 0006): the
# same index range without the stream row's lookup, for the A/B below.
_READ_STREAM_BEFORE = """
SELECT {columns} FROM {schema}.events
 WHERE stream_id = %s AND version >= %s
 ORDER BY version
 LIMIT %s
"""
NOW, BEFORE = "read_stream", "its statement before 0006"
STREAM_SIDES = (NOW, BEFORE)


def read_stream_steps(store: PostgresEventStore, stream: str) -> dict[str, Step]:
    """``read_stream`` of one stream, and the statement it ran before revision 0006."""
    before = render(_READ_STREAM_BEFORE, store.schema)
    return {
        NOW: lambda: len(store.read_stream(stream)),
        BEFORE: lambda: len(store.fetch_events(before, (stream, 1, None))),
    }


def read_stream_result(best: dict[str, float], events: int) -> Result:
    return Result(f"a {events:,}-event stream", best, NOW, (Target(BEFORE, 0.97),))


def read_result(best: dict[str, float], page_size: int) -> Result:
    return Result(f"read the global log, pages of {page_size:,}", best, PLAIN)


def check_costs(
    store: PostgresEventStore,
    data: dict[str, Any],
    meta: Metadata,
    append_rate: float,
    page_rate: float,
) -> str:
    """What the checks paid without personal fields cost, timed alone, as shares."""
    prepared = prepare_appends([StreamAppend("plain-x", [_event(data, meta, None)])])
    page = store.read_all(limit=1000, categories=["plainread"])
    append_check = min(
        timeit.repeat(lambda: crypto.has_personal(prepared), number=10_000, repeat=5)
    )
    page_check = min(timeit.repeat(lambda: crypto.sealed_subjects(page), number=100, repeat=5))
    per_append, per_page = append_check / 10_000, page_check / 100
    return (
        f"without personal fields an append pays {per_append * 1e6:.2f} us of checks "
        f"({per_append * append_rate:.3%} of an append) and a 1,000-event page "
        f"{per_page * 1e6:.0f} us ({per_page * page_rate / 1000:.3%} of reading it)"
    )
