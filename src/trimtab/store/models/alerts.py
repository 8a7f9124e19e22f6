"""Alerts: webhook targets, the rules that send notifications to them, and the delivery log.

A notification (the outbox, see `notifications`) becomes one delivery per matching target; the
delivery row keeps the rendered body, the attempts and their outcome, so retries send the same
content and people can see what reached their chat and what did not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trimtab.store.models.base import Base, BigId, JSONDocument, UTCDateTime, utcnow


class AlertTarget(Base):
    __tablename__ = "alert_targets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2000))
    format: Mapped[str] = mapped_column(String(16), default="json")  # json | slack
    # The HMAC signing secret. Kept as given (not hashed): the server must compute signatures
    # with it. The API shows it once, at creation, and never again.
    secret: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")


class AlertRule(Base):
    __tablename__ = "alert_rules"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(50))  # a notification kind, "deploy.*" or "*"
    environment: Mapped[str | None] = mapped_column(String(64))  # None: every environment
    target_id: Mapped[int] = mapped_column(ForeignKey("alert_targets.id", ondelete="CASCADE"))
    # Spike rules: at least `spike_count` events of one issue within `spike_minutes`; then
    # quiet for `cooldown_minutes` for that issue.
    spike_count: Mapped[int | None] = mapped_column(Integer)
    spike_minutes: Mapped[int | None] = mapped_column(Integer)
    cooldown_minutes: Mapped[int] = mapped_column(Integer, default=60)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SpikeMark(Base):
    """When a spike rule last fired for an issue, so a lasting spike alerts once per cooldown."""

    __tablename__ = "alert_spike_marks"
    __table_args__ = (UniqueConstraint("rule_id", "issue_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"))
    issue_id: Mapped[int] = mapped_column(BigId, ForeignKey("issues.id", ondelete="CASCADE"))
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime())


DELIVERY_STATUSES = ("pending", "delivered", "failed")


class AlertDelivery(Base):
    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("notification_id", "target_id"),
        Index("ix_alert_deliveries_due", "status", "next_attempt_at"),
        Index("ix_alert_deliveries_project_created", "project_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(ForeignKey("alert_targets.id", ondelete="CASCADE"))
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alert_rules.id", ondelete="SET NULL"))
    # NULL for test messages, and once retention has removed the notification.
    notification_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("notifications.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[dict[str, Any]] = mapped_column(JSONDocument)  # exactly what is POSTed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
