"""ingest quota: events accepted per DSN key per minute, shared by every server process

Revision ID: 0550_ingest_quota
Revises: 0540_deploy_agents
Create Date: 2026-12-01 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trimtab.store.models.base import BigId, UTCDateTime

revision: str = "0550_ingest_quota"
down_revision: str | Sequence[str] | None = "0540_deploy_agents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ingest_quota_windows",
        sa.Column("id", BigId, nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("window_start", UTCDateTime(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_quota_windows")),
        sa.UniqueConstraint(
            "public_key",
            "window_start",
            name=op.f("uq_ingest_quota_windows_public_key_window_start"),
        ),
    )
    op.create_index(
        op.f("ix_ingest_quota_windows_window_start"),
        "ingest_quota_windows",
        ["window_start"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_ingest_quota_windows_window_start"), table_name="ingest_quota_windows")
    op.drop_table("ingest_quota_windows")
