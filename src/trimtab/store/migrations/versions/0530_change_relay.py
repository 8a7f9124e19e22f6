"""change relay: announced changes for the other server processes on one SQLite file

Revision ID: 0530_change_relay
Revises: 0520_hourly_rollups
Create Date: 2026-12-01 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trimtab.store.models.base import BigId, JSONDocument, UTCDateTime

revision: str = "0530_change_relay"
down_revision: str | Sequence[str] | None = "0520_hourly_rollups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "change_relay",
        sa.Column("id", BigId, nullable=False),
        sa.Column("node", sa.String(length=32), nullable=False),
        sa.Column("change", JSONDocument, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_change_relay_created_at", "change_relay", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_change_relay_created_at", table_name="change_relay")
    op.drop_table("change_relay")
