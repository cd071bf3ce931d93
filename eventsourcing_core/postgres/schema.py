"""Names of the store's PostgreSQL schema objects, without importing alembic.

The store, its statements and the command line need these names on every
start; the migrations (``eventsourcing_core.migrate``, alembic and SQLAlchemy)
load only when something migrates.
"""

DEFAULT_SCHEMA = "escore"
"""The PostgreSQL schema that holds the store's tables and functions by default."""

VERSION_TABLE = "escore_alembic_version"
"""The alembic version table of the framework's own migration history."""
