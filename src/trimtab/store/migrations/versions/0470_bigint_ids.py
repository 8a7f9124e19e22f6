"""bigint ids: the tables that grow with traffic get 64-bit ids on PostgreSQL

Their ids (and the columns pointing at them) were int4 there, with int4 sequences: ingest would
stop after 2^31 events, and sooner for upserted tables (every INSERT ... ON CONFLICT takes a
number from the sequence, stored or not). On SQLite an INTEGER PRIMARY KEY is the 64-bit rowid
already: nothing to do there.

On PostgreSQL `ALTER COLUMN ... TYPE bigint` rewrites each table under an exclusive lock: on a
large store this takes a while, during which the table can be neither read nor written.

Revision ID: 0470_bigint_ids
Revises: 0460_flag_evaluation_hours
Create Date: 2026-12-01 16:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0470_bigint_ids"
down_revision: str | Sequence[str] | None = "0460_flag_evaluation_hours"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> its columns that become bigint: its own id, and the ids it holds of the tables here.
COLUMNS: dict[str, tuple[str, ...]] = {
    "issues": ("id",),
    "issue_users": ("id", "issue_id"),
    "issue_facets": ("id", "issue_id"),
    "events": ("id", "issue_id"),
    "error_rollups": ("id",),
    "health_sessions": ("id",),
    "health_buckets": ("id",),
    "notifications": ("id",),
    "alert_deliveries": ("id", "notification_id"),
    "alert_spike_marks": ("id", "issue_id"),
    "audit_log": ("id",),
    "login_failures": ("id",),
    "flag_evaluation_stats": ("id",),
    "flag_evaluation_hours": ("id",),
    "flag_evaluation_buckets": ("id",),
    "unleash_clients": ("id",),
    "dependency_report_buckets": ("id",),
    "dependency_reporters": ("id",),
    "deploys": ("id", "rollback_of_id"),
    "maintenance_notices": ("deploy_id",),
}


def _retype(sql_type: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in COLUMNS.items():
        changes = ", ".join(f'ALTER COLUMN "{c}" TYPE {sql_type}' for c in columns)
        op.execute(f'ALTER TABLE "{table}" {changes}')
        if "id" in columns:
            # A serial's sequence keeps its own type (and so its maximum) when the column changes.
            op.execute(
                f"DO $$ DECLARE seq text := pg_get_serial_sequence('\"{table}\"', 'id'); "
                f"BEGIN IF seq IS NOT NULL THEN EXECUTE format('ALTER SEQUENCE %s AS {sql_type}', "
                "seq); END IF; END $$"
            )


def upgrade() -> None:
    _retype("bigint")


def downgrade() -> None:
    # Fails (and changes nothing) once an id past 2^31 - 1 is stored or handed out.
    _retype("integer")
