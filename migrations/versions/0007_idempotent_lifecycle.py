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
_REPLACED = (
    ("forget_subject(text)", "forget_subject(text, uuid)"),
    ("delete_stream(text)", "delete_stream(text, uuid)"),
    ("truncate_stream(text, bigint)", "truncate_stream(text, bigint, uuid)"),
)
"""Revision 0006's functions and the ones of this revision that replace them."""
_RESTORED = ("07_forget_subject.sql", "08_delete_stream.sql", "09_truncate_stream.sql")
"""Revision 0006's files that define the functions this revision replaced."""


def upgrade() -> None:
    sqlfiles.run(_FOLDER)
    sqlfiles.replace_functions(_REPLACED)


def downgrade() -> None:
    # 0006's functions first (their signatures differ from this revision's), so
    # the grants can move onto them before this revision's functions go.
    sqlfiles.run("0006_data_lifecycle", only=_RESTORED)
    sqlfiles.replace_functions([(new, old) for old, new in _REPLACED])
    sqlfiles.run(_FOLDER, downgrade=True)
