"""attachments and user feedback: event attachments (zstd bytes, bound by event id) and
what users wrote about an error (feedback events and user reports)

Revision ID: 0490_attachments_feedback
Revises: 0480_sentry_logs
Create Date: 2026-12-01 16:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import trimtab.store.models.base

revision: str = "0490_attachments_feedback"
down_revision: str | Sequence[str] | None = "0480_sentry_logs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_attachments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("attachment_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("stored_size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("refused", sa.String(length=200), nullable=True),
        sa.Column(
            "received_at", trimtab.store.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_event_attachments_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_attachments")),
    )
    with op.batch_alter_table("event_attachments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_event_attachments_event", ["project_id", "event_id"], unique=False
        )
        batch_op.create_index("ix_event_attachments_received", ["received_at"], unique=False)

    op.create_table(
        "user_feedback",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("feedback_id", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=True),
        sa.Column("issue_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=200), nullable=True),
        sa.Column("message", sa.String(length=4096), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column(
            "received_at", trimtab.store.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_user_feedback_issue_id_issues"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_user_feedback_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_feedback")),
        sa.UniqueConstraint(
            "project_id", "feedback_id", name=op.f("uq_user_feedback_project_id_feedback_id")
        ),
    )
    with op.batch_alter_table("user_feedback", schema=None) as batch_op:
        batch_op.create_index("ix_user_feedback_event", ["project_id", "event_id"], unique=False)
        batch_op.create_index("ix_user_feedback_issue", ["issue_id", "received_at"], unique=False)
        batch_op.create_index("ix_user_feedback_received", ["received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("user_feedback", schema=None) as batch_op:
        batch_op.drop_index("ix_user_feedback_received")
        batch_op.drop_index("ix_user_feedback_issue")
        batch_op.drop_index("ix_user_feedback_event")
    op.drop_table("user_feedback")

    with op.batch_alter_table("event_attachments", schema=None) as batch_op:
        batch_op.drop_index("ix_event_attachments_received")
        batch_op.drop_index("ix_event_attachments_event")
    op.drop_table("event_attachments")
