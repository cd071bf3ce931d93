"""The projection runner contract (``eventsourcing_core.testing.projection_contract``).

It runs on the in-memory runner and on PostgreSQL's ``ProjectionRunner`` (the
``store`` fixture of ``tests/conftest.py`` gives each backend in turn, and the
contract's ``make_runner`` picks the runner that fits the store).
"""

from __future__ import annotations

from eventsourcing_core.testing.projection_contract import ProjectionRunnerContract


class TestProjectionRunnerContract(ProjectionRunnerContract):
    """Catch-up, filters, resets, failures, parking and side effects, on both runners."""
