"""Optional integrations, each behind an extra: ``metrics`` (Prometheus), ``tracing`` (OTel).

Importing ``eventsourcing_core`` imports none of them; importing one whose
extra is missing raises ``MissingExtraError`` naming the extra to install.
"""

from __future__ import annotations

from eventsourcing_core.errors import EventStoreError


class MissingExtraError(EventStoreError, ImportError):
    """An optional integration was asked for without its extra installed."""


def missing_extra(extra: str, package: str) -> MissingExtraError:
    """The one-line error for an integration whose package is not installed."""
    return MissingExtraError(
        f"{package} is not installed: pip install 'eventsourcing-core[{extra}]'"
    )
