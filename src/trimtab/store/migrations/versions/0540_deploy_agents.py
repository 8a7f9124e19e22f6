"""deploy agents: environments run by `trimtab agent`, step leases, the agents seen

Revision ID: 0540_deploy_agents
Revises: 0530_change_relay
Create Date: 2026-12-01 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import trimtab.store.models.base

revision: str = "0540_deploy_agents"
down_revision: str | Sequence[str] | None = "0530_change_relay"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD/DROP COLUMN, never a batch (a table rebuild on SQLite): see 0500_unleash_strict.
    op.add_column(
        "environments",
        sa.Column("runner", sa.String(length=16), server_default="local", nullable=False),
    )
    op.add_column(
        "deploys",
        sa.Column(
            "lease_expires_at", trimtab.store.models.base.UTCDateTime(timezone=True), nullable=True
        ),
    )
    op.create_table(
        "deploy_agents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "services",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column(
            "current_deploy_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "last_heartbeat_at",
            trimtab.store.models.base.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "created_at", trimtab.store.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "environment", "name"),
    )


def downgrade() -> None:
    op.drop_table("deploy_agents")
    op.execute("ALTER TABLE deploys DROP COLUMN lease_expires_at")
    op.execute("ALTER TABLE environments DROP COLUMN runner")
