"""One head again: the error-reports, flags and deploys branches of the schema, joined.

Revision ID: 0400_merge
Revises: 0120_alerts, 0210_dependencies, 0300_deploys
Create Date: 2026-11-26 14:30:00
"""

from collections.abc import Sequence

revision: str = "0400_merge"
down_revision: str | Sequence[str] | None = ("0120_alerts", "0210_dependencies", "0300_deploys")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
