"""Optional integrations, each behind an extra of its own.

- ``rabbitmq`` (pika): ``integrations.rabbitmq`` (the relay and idempotent consumers),
  ``integrations.rabbitmq_confirms`` (batched publisher confirms);
- ``metrics`` (prometheus-client): ``integrations.metrics``;
- ``tracing`` (opentelemetry-api): ``integrations.tracing``.

Importing ``eventsourcing_core`` imports none of them; importing one whose
extra is missing raises ``MissingExtraError``, one line naming the extra to
install (``missing_extra``, shared by every integration and the embedded server).
"""

from __future__ import annotations

from eventsourcing_core.errors import EventStoreError


class MissingExtraError(EventStoreError, ImportError):
    """An optional integration was asked for without its extra installed."""


def install_hint(extra: str) -> str:
    """The command that installs ``extra``."""
    return f"pip install 'eventsourcing-core[{extra}]'"


def missing_extra(extra: str, package: str) -> MissingExtraError:
    """The one-line error for an integration whose package is not installed."""
    return MissingExtraError(f"{package} is not installed: {install_hint(extra)}")
