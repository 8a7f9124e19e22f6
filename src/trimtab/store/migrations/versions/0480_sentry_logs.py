"""sentry logs: log lines of `log` envelope items, and the per-day counts of what ingest
received but did not store (per project, data category and outcome)

Revision ID: 0480_sentry_logs
Revises: 0470_bigint_ids
Create Date: 2026-12-01 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import trimtab.store.models.base

revision: str = "0480_sentry_logs"
down_revision: str | Sequence[str] | None = "0470_bigint_ids"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "log_lines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column(
            "timestamp", trimtab.store.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "received_at", trimtab.store.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("environment", sa.String(length=64), nullable=True),
        sa.Column("release", sa.String(length=200), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_log_lines_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_lines")),
    )
    with op.batch_alter_table("log_lines", schema=None) as batch_op:
        batch_op.create_index(
            "ix_log_lines_trace", ["project_id", "trace_id", "timestamp"], unique=False
        )
        batch_op.create_index(
            "ix_log_lines_project_time", ["project_id", "timestamp"], unique=False
        )
        batch_op.create_index("ix_log_lines_received", ["received_at"], unique=False)

    op.create_table(
        "ingest_usage_days",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("day", trimtab.store.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=80), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_ingest_usage_days_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_usage_days")),
        sa.UniqueConstraint(
            "project_id",
            "day",
            "category",
            "outcome",
            name=op.f("uq_ingest_usage_days_project_id_day_category_outcome"),
        ),
    )


def downgrade() -> None:
    op.drop_table("ingest_usage_days")
    with op.batch_alter_table("log_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_log_lines_received")
        batch_op.drop_index("ix_log_lines_project_time")
        batch_op.drop_index("ix_log_lines_trace")
    op.drop_table("log_lines")
