"""The projection runner contract (``eventsourcing_core.testing.projection_contract``).

It runs on the in-memory runner and on PostgreSQL's ``ProjectionRunner``: the
``store`` fixture below gives each backend in turn, and the contract's
``make_runner`` picks the runner that fits the store. (Its own fixture, not
the store contract's in ``conftest.py``: projection runners are synchronous.)
"""

from __future__ import annotations

import pytest

from eventsourcing_core import EventStore, InMemoryEventStore, PostgresEventStore
from eventsourcing_core.testing.projection_contract import ProjectionRunnerContract


@pytest.fixture(params=["memory", "postgres"])
def store(request: pytest.FixtureRequest) -> EventStore:
    """The in-memory store, then PostgreSQL: each with the runner made for it."""
    if request.param == "memory":
        return InMemoryEventStore()
    postgres: PostgresEventStore = request.getfixturevalue("quiet_pg_store")
    return postgres


class TestProjectionRunnerContract(ProjectionRunnerContract):
    """Catch-up, filters, resets, failures, parking and side effects, on both runners."""
