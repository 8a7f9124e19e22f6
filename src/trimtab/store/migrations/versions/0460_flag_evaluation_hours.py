"""flag evaluation hours: evaluations per flag, environment, variant and hour (the flag page's
chart), from the same reports as the running totals

Revision ID: 0460_flag_evaluation_hours
Revises: 0450_issue_facet_values
Create Date: 2026-12-01 12:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import trimtab.store.models.base

revision: str = "0460_flag_evaluation_hours"
down_revision: str | Sequence[str] | None = "0450_issue_facet_values"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flag_evaluation_hours",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("flag_key", sa.String(length=128), nullable=False),
        sa.Column("variant", sa.String(length=128), nullable=False),
        sa.Column("hour", trimtab.store.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_flag_evaluation_hours_environment_id_environments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_flag_evaluation_hours_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flag_evaluation_hours")),
        sa.UniqueConstraint(
            "environment_id",
            "flag_key",
            "variant",
            "hour",
            name=op.f("uq_flag_evaluation_hours_environment_id_flag_key_variant_hour"),
        ),
    )
    with op.batch_alter_table("flag_evaluation_hours", schema=None) as batch_op:
        batch_op.create_index(
            "ix_flag_evaluation_hours_flag", ["project_id", "flag_key", "hour"], unique=False
        )
        batch_op.create_index("ix_flag_evaluation_hours_hour", ["hour"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("flag_evaluation_hours", schema=None) as batch_op:
        batch_op.drop_index("ix_flag_evaluation_hours_hour")
        batch_op.drop_index("ix_flag_evaluation_hours_flag")

    op.drop_table("flag_evaluation_hours")
