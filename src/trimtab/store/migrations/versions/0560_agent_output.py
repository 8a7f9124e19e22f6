"""agent output offsets: a deploy step's heartbeats send only the output after this offset

Revision ID: 0560_agent_output
Revises: 0550_ingest_quota
Create Date: 2026-12-01 19:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0560_agent_output"
down_revision: str | Sequence[str] | None = "0550_ingest_quota"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD/DROP COLUMN, never a batch (a table rebuild on SQLite): see 0500_unleash_strict.
    op.add_column(
        "deploys",
        sa.Column("output_offset", sa.BigInteger(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    op.execute("ALTER TABLE deploys DROP COLUMN output_offset")
