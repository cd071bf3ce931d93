"""Sample projections over the sample domains in ``eventsourcing_core.samples.aggregates``.

- ``UserDirectory``: users by id and by username, with email and status.
- ``OrderSummary``: each order's status, lines and total; per user, orders and spend.
- ``InventoryLevels``: stock on hand per SKU.
- ``WelcomeEmail``: a side effect, the welcome email, sent once per registration.
- ``InventoryAllocation``: a process manager, deducting stock for placed orders.

Each keeps its tables in the read-model schema (the store's schema unless the
worker is told otherwise) and writes them only through the ``SqlSession`` of
its batch's transaction.
"""

from eventsourcing_core.projection import Projection
from eventsourcing_core.samples.projections.inventory_allocation import InventoryAllocation
from eventsourcing_core.samples.projections.inventory_levels import InventoryLevels
from eventsourcing_core.samples.projections.order_summary import OrderSummary
from eventsourcing_core.samples.projections.user_directory import UserDirectory
from eventsourcing_core.samples.projections.welcome_email import (
    EmailSender,
    LoggingSender,
    WelcomeEmail,
)
from eventsourcing_core.store import EventStore


def build(store: EventStore) -> list[Projection]:
    """The sample projections, as the command line finds them (``[tool.escore] projections``)."""
    return [
        UserDirectory(),
        OrderSummary(),
        InventoryLevels(),
        WelcomeEmail(LoggingSender()),
        InventoryAllocation(store),
    ]


__all__ = [
    "build",
    "EmailSender",
    "InventoryAllocation",
    "InventoryLevels",
    "LoggingSender",
    "OrderSummary",
    "UserDirectory",
    "WelcomeEmail",
]
