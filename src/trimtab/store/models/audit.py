"""The audit log: append-only, written in the same transaction as the change it records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, event
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from trimtab.store.models.base import Base, BigId, JSONDocument, UTCDateTime, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_log"
    # The log is read newest first, filtered by project, actor or target: each filter with
    # `at` after it, so a filtered page is an index range walk however long the log grows.
    __table_args__ = (
        Index("ix_audit_log_project_id_at", "project_id", "at"),
        Index("ix_audit_log_actor_at", "actor", "at"),
        Index("ix_audit_log_target_type_at", "target_type", "at"),
        Index("ix_audit_log_target_id_at", "target_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), index=True)
    target_type: Mapped[str] = mapped_column(String(50))
    target_id: Mapped[str] = mapped_column(String(200))
    # No foreign key on purpose: the log outlives what it describes (a deleted project's
    # history is still history).
    project_id: Mapped[int | None] = mapped_column(Integer, index=True)
    environment: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[Any] = mapped_column(JSONDocument, nullable=True)
    after: Mapped[Any] = mapped_column(JSONDocument, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text)
    # Set when the change went through a guard by force (an overridden freeze, say), so
    # listings can highlight it.
    overridden: Mapped[bool] = mapped_column(default=False)


def _refuse_change(mapper: Mapper[Any], connection: Any, target: AuditEntry) -> None:
    raise PermissionError("the audit log is append-only")


event.listen(AuditEntry, "before_update", _refuse_change)
event.listen(AuditEntry, "before_delete", _refuse_change)
