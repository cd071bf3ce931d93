"""The event store contract (``eventsourcing_core.testing.store_contract``) on every backend.

The ``store`` fixture (``tests/conftest.py``) gives each backend in turn.
"""

from __future__ import annotations

from eventsourcing_core.testing.store_contract import (
    PersonalDataContract,
    StoreContract,
    TransactionContract,
)


class TestStoreContract(StoreContract):
    """Appends, retries, reads and listings, on every store (sync, async; memory, PostgreSQL)."""


class TestTransactionContract(TransactionContract):
    """Multi-stream appends and transactions, on every store (sync, async; memory, PostgreSQL)."""


class TestPersonalDataContract(PersonalDataContract):
    """Crypto-shredding (sealing, opening on every read path, forget), on every store."""
