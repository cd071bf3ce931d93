"""Sample domains modelled with eventsourcing_core: users, orders, inventory.

Read them as a tutorial: ``order.py`` (commands and rules), ``inventory.py``
(idempotent commands), ``user.py`` and ``users.py`` (a rule across aggregates,
kept by saving two aggregates in one transaction). They live in this
repository, not in the installed wheel.
"""

from __future__ import annotations

from aggregates.inventory import InventoryItem
from aggregates.order import Order
from aggregates.user import User, Username
from eventsourcing_core.aggregate import Aggregate

ALL: list[type[Aggregate]] = [Order, InventoryItem, User, Username]
"""The sample aggregates, as the command line finds them (``[tool.escore] aggregates``)."""
