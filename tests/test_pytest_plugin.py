"""The pytest plugin, used as an application outside this repository would use it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

APP_TESTS = """
import asyncio
from dataclasses import dataclass

import pytest

from eventsourcing_core import (
    Aggregate,
    AsyncRepository,
    DomainEvent,
    NewEvent,
    Repository,
    evolves,
)
from eventsourcing_core.projection import Projection

pytest_plugins = ["eventsourcing_core.pytest_plugin"]


@dataclass(frozen=True)
class Tallied(DomainEvent):
    amount: int


class Tally(Aggregate):
    category = "tally"

    def __init__(self, id):
        super().__init__(id)
        self.total = 0

    @evolves(Tallied)
    def _tallied(self, event):
        self.total += event.amount


class Totals(Projection):
    name = "totals"
    tables = ("totals",)

    def setup(self, sql):
        sql.execute("CREATE TABLE IF NOT EXISTS {totals} (id text PRIMARY KEY, total int)")

    def apply(self, event, sql):
        sql.execute(
            "INSERT INTO {totals} VALUES (%s, %s) ON CONFLICT (id) "
            "DO UPDATE SET total = {totals}.total + excluded.total",
            [event.stream_id, event.data["amount"]],
        )

    def clear(self, sql):
        sql.execute("DELETE FROM {totals}")


@pytest.fixture(params=["memory", "postgres"])
def store(request):
    return request.getfixturevalue(
        "escore_memory_store" if request.param == "memory" else "escore_store"
    )


def test_an_async_store_opens_on_the_test_database(escore_open_async_store, escore_store):
    async def scenario():
        async with escore_open_async_store() as store:
            tallies = AsyncRepository(store, Tally)
            tally = tallies.new("7")
            tally.record(Tallied(3))
            await tallies.save(tally)
            return (await tallies.load("7")).total

    assert asyncio.run(scenario()) == 3
    assert [e.stream_id for e in escore_store.read_stream("tally-7")] == ["tally-7"]


def test_an_aggregate_round_trips_through_each_store(store):
    tallies = Repository(store, Tally)
    tally = tallies.new("1")
    tally.record(Tallied(5))
    tallies.save(tally)
    assert tallies.load("1").total == 5


def test_each_test_gets_a_database_of_its_own(escore_store):
    assert escore_store.list_streams() == []
    escore_store.append("tally-9", [NewEvent("Tallied", {"amount": 1})])


def test_a_projection_runs_to_the_head(escore_store, escore_run_projection):
    for amount in (1, 2, 3):
        escore_store.append("tally-1", [NewEvent("Tallied", {"amount": amount})])

    status = escore_run_projection(Totals())

    assert status.processed == 3
    rows = escore_store.fetch_all("SELECT id, total FROM escore.totals")  # the store's schema
    assert rows == [("tally-1", 6)]
"""


def test_an_application_gets_databases_stores_and_projection_runs_from_the_plugin(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_app.py").write_text(textwrap.dedent(APP_TESTS))

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env={key: value for key, value in os.environ.items() if key != "PYTHONPATH"},
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout
