"""The notification outbox: what should reach people (webhooks, chat), written in the same
transaction as the change that caused it, delivered later by the alerts job with retries.

Kinds in use: `issue.new`, `issue.regressed`, `issue.spike`, `release.verdict`,
`flag.auto_off`, `flag.fallback`, `deploy.refused`, `deploy.failed`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from trimtab.store.models.base import Base, BigId, JSONDocument, UTCDateTime, utcnow


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_project_created", "project_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(50))
    environment: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Set by the alerts job once every matching delivery target has been handed the notification
    # (delivered or given up on); the per-target log lives with the alerts capability.
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
