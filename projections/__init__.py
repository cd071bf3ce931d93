"""Sample projections over the sample domains in ``aggregates/``.

- ``UserDirectory``: users by id and by username, with email and status.
- ``OrderSummary``: each order's status, lines and total; per user, orders and spend.
- ``InventoryLevels``: stock on hand per SKU.

Each keeps its tables in the connection's default schema and writes them only
through the ``SqlSession`` of its batch's transaction.
"""

from projections.inventory_levels import InventoryLevels
from projections.order_summary import OrderSummary
from projections.user_directory import UserDirectory

__all__ = ["InventoryLevels", "OrderSummary", "UserDirectory"]
