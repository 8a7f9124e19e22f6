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
    with op.batch_alter_table("projects") as batch:
        batch.add_column(
            sa.Column("unleash_strict", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("unleash_strict")
