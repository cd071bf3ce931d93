"""The event store contract (``eventsourcing_core.testing.store_contract``) on both backends.

The ``store`` fixture (``tests/conftest.py``) gives each backend in turn.
"""

from __future__ import annotations

from eventsourcing_core.testing.store_contract import StoreContract, TransactionContract


class TestStoreContract(StoreContract):
    """Appends, retries, reads and listings, on the in-memory and PostgreSQL stores."""


class TestTransactionContract(TransactionContract):
    """Multi-stream appends and transactions, on the in-memory and PostgreSQL stores."""
