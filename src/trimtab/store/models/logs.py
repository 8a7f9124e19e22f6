"""Sentry structured log lines (`log` envelope items), kept bounded: the body cut to 8 KB, at
most 64 attributes, a daily count per project, pruned after TRIMTAB_LOG_RETENTION_DAYS.

They are read by trace: the lines of an error's trace around it (its `contexts.trace`), and a
search over the traces of an issue's recent events; hence the (project, trace, time) index.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trimtab.store.models.base import Base, JSONDocument, UTCDateTime, utcnow


class LogLine(Base):
    __tablename__ = "log_lines"
    __table_args__ = (
        Index("ix_log_lines_trace", "project_id", "trace_id", "timestamp"),
        Index("ix_log_lines_project_time", "project_id", "timestamp"),
        Index("ix_log_lines_received", "received_at"),
    )

    # 64-bit on PostgreSQL: the table grows with traffic (SQLite's INTEGER key is 64-bit).
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    trace_id: Mapped[str | None] = mapped_column(String(32))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    level: Mapped[str] = mapped_column(String(8))
    environment: Mapped[str | None] = mapped_column(String(64))
    release: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # key -> plain value (string, bool, number), as `core.sentry_logs` bounded them
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
