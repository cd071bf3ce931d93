"""The framework's schema as alembic migrations; installed as ``eventsourcing_core.migrations``.

Run them with ``eventsourcing_core.migrate.upgrade(dsn)``. They keep their own
version table (``escore_alembic_version`` in the store's schema), so a user's
own alembic history is never touched.
"""
