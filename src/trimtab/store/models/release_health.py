"""Release health: sessions as the SDKs report them, counted once each.

Two shapes arrive (see `core.sessions`): single sessions, updated several times while they run
(one row each here, keyed by the SDK's session id, holding the worst state seen so far), and
pre-counted aggregates from server SDKs in request mode (added into one row per release,
environment, hour and user). Crash-free rates are computed from both at read time.

User identities (`did`) are kept as digests, as for issue users: distinct counts need equality,
not the identity itself.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from trimtab.store.models.base import Base, BigId, UTCDateTime, utcnow


class HealthSession(Base):
    """One user session. The state flags only ever go from False to True, so updates that
    arrive late or twice cannot make a crashed session look healthy again."""

    __tablename__ = "health_sessions"
    __table_args__ = (
        UniqueConstraint("project_id", "session_id"),
        Index("ix_health_sessions_release", "project_id", "release", "environment", "hour"),
        Index("ix_health_sessions_hour", "project_id", "hour"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(String(64))
    release: Mapped[str] = mapped_column(String(200))
    # "" rather than NULL for "no environment", as in the rollups.
    environment: Mapped[str] = mapped_column(String(64), default="")
    user_key: Mapped[str | None] = mapped_column(String(64))
    started: Mapped[datetime] = mapped_column(UTCDateTime())
    hour: Mapped[datetime] = mapped_column(UTCDateTime())  # `started` truncated, for series
    last_update: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    duration: Mapped[float | None] = mapped_column(Float)
    errored: Mapped[bool] = mapped_column(Boolean, default=False)
    crashed: Mapped[bool] = mapped_column(Boolean, default=False)
    abnormal: Mapped[bool] = mapped_column(Boolean, default=False)
    ended: Mapped[bool] = mapped_column(Boolean, default=False)


class HealthBucket(Base):
    """Pre-counted sessions (a `sessions` item) per release, environment, hour and user
    ("" when the SDK sent no user)."""

    __tablename__ = "health_buckets"
    __table_args__ = (
        UniqueConstraint("project_id", "release", "environment", "hour", "user_key"),
        Index("ix_health_buckets_hour", "project_id", "hour"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    release: Mapped[str] = mapped_column(String(200))
    environment: Mapped[str] = mapped_column(String(64), default="")
    hour: Mapped[datetime] = mapped_column(UTCDateTime())
    user_key: Mapped[str] = mapped_column(String(64), default="")
    exited: Mapped[int] = mapped_column(BigInteger, default=0)
    errored: Mapped[int] = mapped_column(BigInteger, default=0)
    abnormal: Mapped[int] = mapped_column(BigInteger, default=0)
    crashed: Mapped[int] = mapped_column(BigInteger, default=0)
