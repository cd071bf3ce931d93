"""Optional integrations, each behind an extra of its own.

- ``rabbitmq`` (pika): ``integrations.rabbitmq`` (the relay and idempotent consumers),
  ``integrations.rabbitmq_confirms`` (batched publisher confirms);
- ``metrics`` (prometheus-client): ``integrations.metrics``;
- ``tracing`` (opentelemetry-api): ``integrations.tracing``.

Importing ``eventsourcing_core`` imports none of them; importing one whose
extra is missing raises ``MissingExtraError``, one line naming the extra to
install (``eventsourcing_core.extras``, shared with the embedded server).
"""

from __future__ import annotations

from eventsourcing_core.extras import MissingExtraError, install_hint, missing_extra

__all__ = ["MissingExtraError", "install_hint", "missing_extra"]
