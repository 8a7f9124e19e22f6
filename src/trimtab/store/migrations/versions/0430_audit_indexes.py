"""audit log indexes: project, actor, target type and target id, each followed by `at`

The audit page filters by project, actor or target and lists newest first with a limit; with
these, a filtered page reads an index range instead of the whole log.

Revision ID: 0430_audit_indexes
Revises: 0420_dependency_reporters
Create Date: 2026-12-01 12:55:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0430_audit_indexes"
down_revision: str | Sequence[str] | None = "0420_dependency_reporters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_project_id_at", ["project_id", "at"], unique=False)
        batch_op.create_index("ix_audit_log_actor_at", ["actor", "at"], unique=False)
        batch_op.create_index("ix_audit_log_target_type_at", ["target_type", "at"], unique=False)
        batch_op.create_index("ix_audit_log_target_id_at", ["target_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_target_id_at")
        batch_op.drop_index("ix_audit_log_target_type_at")
        batch_op.drop_index("ix_audit_log_actor_at")
        batch_op.drop_index("ix_audit_log_project_id_at")
