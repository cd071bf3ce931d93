"""Lifecycle operations and forget take an operation id: a retry after a lost reply is recognised.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from eventsourcing_core.migrations import sqlfiles

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_FOLDER = "0007_idempotent_lifecycle"
_COPY_GRANTS = "00_copy_grants.sql"
_RESTORED = ("07_forget_subject.sql", "08_delete_stream.sql", "09_truncate_stream.sql")
"""Revision 0006's files that define the functions this revision replaced."""


def upgrade() -> None:
    sqlfiles.run(_FOLDER)


def downgrade() -> None:
    # 0006's functions first (their signatures differ from 0007's), and the
    # grant-copying helper, so that downgrade.sql can move the grants onto
    # them before dropping 0007's.
    sqlfiles.run("0006_data_lifecycle", only=_RESTORED)
    sqlfiles.run(_FOLDER, only=(_COPY_GRANTS,))
    sqlfiles.run(_FOLDER, downgrade=True)
