"""Maintenance notices: what users see while (or before) a service is down.

A notice is active from `starts_at` until it is ended (`ended_at`): by hand (`maintenance off`)
or, for one the runner opened around a downtime step (`source` "auto"), when the step ends.
`expected_end` is only what users are told ("Back at 15:00"); a deploy that overruns keeps the
notice up rather than exposing a half-deployed site.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from trimtab.store.models.base import Base, BigId, UTCDateTime, utcnow


class MaintenanceNotice(Base):
    __tablename__ = "maintenance_notices"
    __table_args__ = (
        Index("ix_maintenance_notices_lookup", "project_id", "environment", "ended_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    environment: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(String(500))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expected_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(16), default="manual")  # manual | auto
    deploy_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("deploys.id", ondelete="SET NULL")
    )
    created_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
