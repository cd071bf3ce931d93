"""``python -m eventsourcing_core.cli``: the same as the ``escore`` command."""

from eventsourcing_core.cli.main import entry_point

entry_point()
