"""The global log's read bound as a function, called only when a row needs it.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from eventsourcing_core.migrations import sqlfiles

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_FOLDER = "0005_read_bound_function"


def upgrade() -> None:
    sqlfiles.run(_FOLDER)


def downgrade() -> None:
    sqlfiles.run(_FOLDER, downgrade=True)
