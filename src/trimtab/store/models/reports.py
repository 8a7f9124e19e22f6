"""Error reports: issues (groups of events), events (raw payload kept compressed), facets
(counts per release, environment and tag value) and error-rate rollups.

The rollup table is shared by three capabilities, which is why it lives here and not in one of
them: ingest counts every stored event under several dimensions per minute — `total`,
`release:<r>`, `flag:<key>=<result>`, `dependency:<name>`, `issue:<id>` — and the stabilization
verdict, guarded flags and dependency health read rates from it without scanning events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from trimtab.store.models.base import Base, BigId, JSONDocument, UTCDateTime, utcnow

ISSUE_STATUSES = ("unresolved", "resolved", "resolved_in_next_release", "ignored")


class Issue(Base):
    __tablename__ = "issues"
    __table_args__ = (
        UniqueConstraint("project_id", "fingerprint"),
        Index("ix_issues_project_last_seen", "project_id", "last_seen"),
        Index("ix_issues_project_first_seen", "project_id", "first_seen"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255))
    culprit: Mapped[str] = mapped_column(String(255), default="")
    level: Mapped[str] = mapped_column(String(16), default="error")
    platform: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), default="unresolved")
    # resolved: {"in_release": "shop@2.3.1"} or {"next_release": true, "after": "shop@2.3.0"};
    # ignored: {"until_count": 100, "count_at_ignore": 12} or {"until": "2026-12-01T00:00:00Z"}
    status_detail: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    event_count: Mapped[int] = mapped_column(BigInteger, default=0)
    user_count: Mapped[int] = mapped_column(Integer, default=0)
    first_release: Mapped[str | None] = mapped_column(String(200))
    last_release: Mapped[str | None] = mapped_column(String(200))
    first_environment: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    regressed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    regressed_in_release: Mapped[str | None] = mapped_column(String(200))


class IssueUser(Base):
    """One row per distinct user per issue, so `Issue.user_count` is exact, not estimated."""

    __tablename__ = "issue_users"
    __table_args__ = (UniqueConstraint("issue_id", "user_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    issue_id: Mapped[int] = mapped_column(BigId, ForeignKey("issues.id", ondelete="CASCADE"))
    user_key: Mapped[str] = mapped_column(String(64))  # a digest of the user's identity


class IssueFacet(Base):
    """How many of an issue's events carried `key=value`: releases, environments, tags."""

    __tablename__ = "issue_facets"
    __table_args__ = (
        UniqueConstraint("issue_id", "key", "value"),
        # The issue list filtered by release or environment: the issues that saw a value,
        # without reading every facet row when few issues did (an old release).
        Index("ix_issue_facets_key_value", "key", "value", "issue_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    issue_id: Mapped[int] = mapped_column(BigId, ForeignKey("issues.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(200))
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("project_id", "event_id"),
        Index("ix_events_issue_received", "issue_id", "received_at"),
        Index("ix_events_project_received", "project_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    issue_id: Mapped[int] = mapped_column(BigId, ForeignKey("issues.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(32))  # the SDK's uuid, hex without dashes
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    level: Mapped[str] = mapped_column(String(16), default="error")
    environment: Mapped[str | None] = mapped_column(String(64))
    release: Mapped[str | None] = mapped_column(String(200))
    user_key: Mapped[str | None] = mapped_column(String(64))
    # The event exactly as the SDK sent it (JSON), zstandard-compressed: no field is lost.
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    payload_size: Mapped[int] = mapped_column(Integer)  # uncompressed bytes


class ErrorRollup(Base):
    """Events per minute per dimension (see the module docstring)."""

    __tablename__ = "error_rollups"
    __table_args__ = (
        UniqueConstraint("project_id", "environment", "dimension", "minute"),
        Index("ix_error_rollups_lookup", "project_id", "dimension", "minute"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    # "" rather than NULL for "no environment", so the unique constraint holds on every backend.
    environment: Mapped[str] = mapped_column(String(64), default="")
    dimension: Mapped[str] = mapped_column(String(300))
    minute: Mapped[datetime] = mapped_column(UTCDateTime())
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class ErrorRollupHour(Base):
    """Events per hour for the dimensions charts read hour by hour (`total`, `issue:<id>`):
    the sums of `ErrorRollup` rows by hour, written by ingest in the same transaction."""

    __tablename__ = "error_rollup_hours"
    __table_args__ = (
        UniqueConstraint("project_id", "environment", "dimension", "hour"),
        Index("ix_error_rollup_hours_lookup", "project_id", "dimension", "hour"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    environment: Mapped[str] = mapped_column(String(64), default="")
    dimension: Mapped[str] = mapped_column(String(300))
    hour: Mapped[datetime] = mapped_column(UTCDateTime())
    count: Mapped[int] = mapped_column(BigInteger, default=0)
