"""issue facet values: the issues that saw a release or environment, found by the value

The issue list filtered by a release few recent issues saw (an old one) read every facet row
on PostgreSQL (a sequential scan of issue_facets); this index finds them directly.

Revision ID: 0450_issue_facet_values
Revises: 0440_sourcemaps
Create Date: 2026-12-01 13:08:55.604512
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0450_issue_facet_values"
down_revision: str | Sequence[str] | None = "0440_sourcemaps"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_issue_facets_key_value", "issue_facets", ["key", "value", "issue_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_issue_facets_key_value", table_name="issue_facets")
