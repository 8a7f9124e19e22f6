"""every environment has its flag-set revision row

Revision rows used to be made by the first read of an environment's rule set; they are now made
with the environment, and reads never write. Environments made before get theirs here: revision
0 and a fresh, unguessable OFREP stream channel each.

Revision ID: 0410_revision_rows
Revises: 0400_merge
Create Date: 2026-12-01 07:00:00
"""

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from trimtab.store.models.base import UTCDateTime

revision: str = "0410_revision_rows"
down_revision: str | Sequence[str] | None = "0400_merge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

environments = sa.table("environments", sa.column("id"), sa.column("project_id"))
revisions = sa.table(
    "flag_set_revisions",
    sa.column("environment_id"),
    sa.column("project_id"),
    sa.column("revision"),
    sa.column("updated_at", UTCDateTime()),
    sa.column("reason"),
    sa.column("channel"),
)


def upgrade() -> None:
    connection = op.get_bind()
    missing = connection.execute(
        sa.select(environments.c.id, environments.c.project_id).where(
            ~sa.exists().where(revisions.c.environment_id == environments.c.id)
        )
    ).all()
    now = datetime.now(UTC)
    rows = [
        {
            "environment_id": environment_id,
            "project_id": project_id,
            "revision": 0,
            "updated_at": now,
            "reason": "",
            "channel": secrets.token_urlsafe(24),
        }
        for environment_id, project_id in missing
    ]
    if rows:
        connection.execute(revisions.insert(), rows)


def downgrade() -> None:
    pass  # the rows are harmless to an older trimtab, which made them on first read
