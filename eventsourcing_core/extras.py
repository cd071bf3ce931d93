"""Optional parts behind extras: the one-line error when an extra is missing.

Every integration (``integrations.rabbitmq``, ``metrics``, ``tracing``) and
the embedded server import their package behind ``missing_extra``, so that a
missing extra is one line naming what to install, never a traceback about a
module the user never asked for.
"""

from __future__ import annotations

from eventsourcing_core.errors import EventStoreError


class MissingExtraError(EventStoreError, ImportError):
    """An optional part was asked for without its extra installed."""


def install_hint(extra: str) -> str:
    """The command that installs ``extra``."""
    return f"pip install 'eventsourcing-core[{extra}]'"


def missing_extra(extra: str, package: str) -> MissingExtraError:
    """The one-line error for an optional part whose package is not installed."""
    return MissingExtraError(f"{package} is not installed: {install_hint(extra)}")
