"""Data lifecycle: subject keys (crypto-shredding), stream delete/truncate/archive, audit.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from eventsourcing_core.migrations import sqlfiles

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_FOLDER = "0006_data_lifecycle"


def upgrade() -> None:
    sqlfiles.run(_FOLDER)


def downgrade() -> None:
    sqlfiles.run(_FOLDER, downgrade=True)
