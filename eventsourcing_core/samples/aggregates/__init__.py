"""Sample domains modelled with eventsourcing_core: users, orders, inventory.

Read them as a tutorial: ``order.py`` (commands and rules), ``inventory.py``
(idempotent commands), ``user.py`` and ``users.py`` (a rule across aggregates,
kept by saving two aggregates in one transaction). They ship with the package
(``eventsourcing_core.samples``), so ``escore demo`` works from any directory.
"""

from __future__ import annotations

from eventsourcing_core.aggregate import Aggregate
from eventsourcing_core.samples.aggregates.inventory import InventoryItem
from eventsourcing_core.samples.aggregates.order import Order
from eventsourcing_core.samples.aggregates.user import User, Username

ALL: list[type[Aggregate]] = [Order, InventoryItem, User, Username]
"""The sample aggregates, as the command line finds them (``[tool.escore] aggregates``)."""
