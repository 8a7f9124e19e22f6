"""dashboard speed: the version ledger's "what runs where" and where a release went, by index

`ledger.status` (the releases, project and services pages) read every successful row of each
service and environment to keep the newest; with `ix_deploys_ledger` it is one seek per pair,
and the rows in flight another. Where the releases listed went (`overview.release_rows`) read
the whole ledger: `ix_deploys_release` finds their rows.

Revision ID: 0510_dashboard_speed
Revises: 0500_unleash_strict
Create Date: 2026-12-01 16:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0510_dashboard_speed"
down_revision: str | Sequence[str] | None = "0500_unleash_strict"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_deploys_ledger",
        "deploys",
        ["project_id", "result", "environment", "service", "finished_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_deploys_release", "deploys", ["release_id", "result", "environment"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_deploys_release", table_name="deploys")
    op.drop_index("ix_deploys_ledger", table_name="deploys")
