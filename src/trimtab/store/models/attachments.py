"""Event attachments (screenshots, log files, minidumps) and user feedback.

Both are bound to an event by the SDK's event id, not by a foreign key: an attachment or a
feedback can arrive before its event (another envelope, another batch) or for an event that
is never stored. An attachment keeps its bytes zstandard-compressed like an event's payload;
one refused by a bound keeps its row without bytes, so the refusal shows where it happened.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trimtab.store.models.base import Base, BigId, UTCDateTime, utcnow


class EventAttachment(Base):
    __tablename__ = "event_attachments"
    __table_args__ = (
        Index("ix_event_attachments_event", "project_id", "event_id"),
        Index("ix_event_attachments_received", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(32))  # hex, without dashes
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(128))
    attachment_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)  # bytes as sent, uncompressed
    stored_size: Mapped[int] = mapped_column(BigInteger, default=0)  # compressed; 0 if refused
    # None when a bound refused it; `refused` then says which.
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    refused: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class UserFeedback(Base):
    """What a user wrote about an error: the `feedback` event or the older `user_report`."""

    __tablename__ = "user_feedback"
    __table_args__ = (
        UniqueConstraint("project_id", "feedback_id"),
        Index("ix_user_feedback_issue", "issue_id", "received_at"),
        Index("ix_user_feedback_event", "project_id", "event_id"),
        Index("ix_user_feedback_received", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    # The feedback's own id (a `feedback` event's id; a user report's event id: one per event).
    feedback_id: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str | None] = mapped_column(String(32))  # the event it is about
    # Set once the event is stored (at once, or when it arrives later).
    issue_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("issues.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(16))  # feedback | user_report
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(String(4096))
    url: Mapped[str | None] = mapped_column(String(500))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
