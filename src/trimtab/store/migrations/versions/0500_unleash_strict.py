"""unleash strict: a project may refuse flags Unleash SDKs cannot be served identically

Revision ID: 0500_unleash_strict
Revises: 0490_attachments_feedback
Create Date: 2026-12-01 16:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0500_unleash_strict"
down_revision: str | Sequence[str] | None = "0490_attachments_feedback"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN, never a batch: on SQLite a batch recreates `projects`, and dropping
    # the old table cascades (foreign_keys=ON) to every environment and what hangs off it.
    # create_constraint=False: a CHECK on the Boolean is what would force the recreate.
    op.add_column(
        "projects",
        sa.Column(
            "unleash_strict",
            sa.Boolean(create_constraint=False),
            nullable=False,
            server_default=sa.false(),
        ),
    )


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+) for the same reason: no table recreate.
    op.execute("ALTER TABLE projects DROP COLUMN unleash_strict")
