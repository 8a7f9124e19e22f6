"""hourly rollups: error counts per hour for the dimensions charts read hour by hour

`error_rollup_hours` holds, for `total` and `issue:<id>`, the sums of the minute rows
(`error_rollups`) by UTC hour; ingest writes both in one transaction from now on, and this
migration fills it from the minute rows already stored (`store.rollups.kept_hourly` names the
dimensions; the predicate is repeated here so the migration stays what it was).

Revision ID: 0520_hourly_rollups
Revises: 0510_dashboard_speed
Create Date: 2026-12-01 17:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import trimtab.store.models.base

revision: str = "0520_hourly_rollups"
down_revision: str | Sequence[str] | None = "0510_dashboard_speed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "error_rollup_hours",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("dimension", sa.String(length=300), nullable=False),
        sa.Column("hour", trimtab.store.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_error_rollup_hours_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_error_rollup_hours")),
        sa.UniqueConstraint(
            "project_id",
            "environment",
            "dimension",
            "hour",
            name=op.f("uq_error_rollup_hours_project_id_environment_dimension_hour"),
        ),
    )
    with op.batch_alter_table("error_rollup_hours", schema=None) as batch_op:
        batch_op.create_index(
            "ix_error_rollup_hours_lookup", ["project_id", "dimension", "hour"], unique=False
        )
    if op.get_bind().dialect.name == "sqlite":
        # Naive UTC text, in SQLAlchemy's storage format ('YYYY-MM-DD HH:MM:SS.ffffff').
        hour = "substr(minute, 1, 13) || ':00:00.000000'"
    else:
        hour = "date_trunc('hour', minute AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    op.execute(
        "INSERT INTO error_rollup_hours "
        '("project_id", "environment", "dimension", "hour", "count") '
        f'SELECT project_id, environment, dimension, {hour}, sum("count") FROM error_rollups '
        "WHERE dimension = 'total' OR dimension LIKE 'issue:%' "
        f"GROUP BY project_id, environment, dimension, {hour}"
    )


def downgrade() -> None:
    with op.batch_alter_table("error_rollup_hours", schema=None) as batch_op:
        batch_op.drop_index("ix_error_rollup_hours_lookup")

    op.drop_table("error_rollup_hours")
