"""Feature flags: definitions per project, configs per environment, segments, the flag-set
revision every evaluation surface caches by, scheduled changes and ramps, evaluation counts (in
total and per hour) and Unleash client registrations.

A flag's *definition* (key, type, variants, description, owner, tags) is project-wide; what it
serves is configured per environment (`FlagConfig`), in exactly the shape
`trimtab.core.evaluation` evaluates, so the store never holds a config the SDK could not read.

`FlagSetRevision` is bumped in the transaction of every change that alters what an environment
serves (a flag, a segment, dependency health). Its number is the ETag of the flag set, so every
node answers 304 or refetches by comparing one small indexed row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trimtab.store.models.base import Base, BigId, JSONDocument, UTCDateTime, utcnow

SCHEDULE_KINDS = ("on", "off", "rollout", "ramp")
SCHEDULE_STATUSES = ("pending", "done", "cancelled", "failed")


class Flag(Base):
    __tablename__ = "flags"
    __table_args__ = (UniqueConstraint("project_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(128))
    # One of core.flags.config.FLAG_TYPES (the core validates every config against its type).
    type: Mapped[str] = mapped_column(String(16), default="boolean")
    description: Mapped[str] = mapped_column(String(1000), default="")
    owner: Mapped[str] = mapped_column(String(200), default="")
    tags: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    # name -> value, validated by core.evaluation for the flag's type.
    variants: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FlagConfig(Base):
    """What one flag serves in one environment (core.evaluation's config minus the definition)."""

    __tablename__ = "flag_configs"
    __table_args__ = (
        UniqueConstraint("flag_id", "environment_id"),
        Index("ix_flag_configs_environment", "environment_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flag_id: Mapped[int] = mapped_column(ForeignKey("flags.id", ondelete="CASCADE"))
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    default_variant: Mapped[str] = mapped_column(String(128))
    off_variant: Mapped[str] = mapped_column(String(128))
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    prerequisites: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    fallback: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    salt: Mapped[str] = mapped_column(String(200))
    updated_by: Mapped[str] = mapped_column(String(200), default="")
    # When what this environment serves last changed: the stale report's "fully on for N days".
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The last kill / off reason, shown on the flag so nobody turns it back on unknowingly.
    off_reason: Mapped[str | None] = mapped_column(String(1000))


class Segment(Base):
    """A named, reusable list of constraints that rules refer to (project-wide)."""

    __tablename__ = "flag_segments"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(1000), default="")
    constraints: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FlagSetRevision(Base):
    """The version of one environment's flag set; ETag `"<environment_id>-<revision>"`."""

    __tablename__ = "flag_set_revisions"

    environment_id: Mapped[int] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str] = mapped_column(String(300), default="")
    # An unguessable name for the environment's OFREP change stream, so browsers (EventSource
    # cannot send headers) subscribe by URL without the SDK token appearing in it or in logs.
    channel: Mapped[str] = mapped_column(String(64), default="")


class FlagSchedule(Base):
    """A change applied later by the flag-schedules job: on / off / rollout at a time, or a ramp
    of rollout steps (`steps`: [{at, percentage}], see core.schedules)."""

    __tablename__ = "flag_schedules"
    __table_args__ = (Index("ix_flag_schedules_status_next", "status", "next_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flag_id: Mapped[int] = mapped_column(ForeignKey("flags.id", ondelete="CASCADE"), index=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    # on / off / rollout: when; ramp: the first step (and the job's next wake-up in next_at).
    at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    percentage: Mapped[float | None] = mapped_column()
    steps: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONDocument)
    rule_id: Mapped[str] = mapped_column(String(128), default="rollout")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    next_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(String(1000))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The percentage a ramp last wrote, so a step is applied once.
    applied_percentage: Mapped[float | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(String(1000))


class FlagEvaluationStat(Base):
    """How often and when a flag was last evaluated in an environment, from every surface
    (OFREP, Unleash metrics, SDK reports). Feeds the stale report and the flag page."""

    __tablename__ = "flag_evaluation_stats"
    __table_args__ = (UniqueConstraint("environment_id", "flag_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    flag_key: Mapped[str] = mapped_column(String(128))
    evaluations: Mapped[int] = mapped_column(BigInteger, default=0)
    # variant name -> count since the flag was first evaluated.
    variants: Mapped[dict[str, int]] = mapped_column(JSONDocument, default=dict)
    first_evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FlagEvaluationHour(Base):
    """Evaluations of a flag per environment, variant and hour, from the same reports as
    `FlagEvaluationStat` (the flag page's chart). Rows per hour are bounded by the flags and
    variants reported; retention removes hours past the horizon like the other series."""

    __tablename__ = "flag_evaluation_hours"
    __table_args__ = (
        UniqueConstraint("environment_id", "flag_key", "variant", "hour"),
        Index("ix_flag_evaluation_hours_flag", "project_id", "flag_key", "hour"),
        Index("ix_flag_evaluation_hours_hour", "hour"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    flag_key: Mapped[str] = mapped_column(String(128))
    variant: Mapped[str] = mapped_column(String(128))
    hour: Mapped[datetime] = mapped_column(UTCDateTime())
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class UnleashClientRegistration(Base):
    """An Unleash SDK instance that registered (`POST /api/client/register`)."""

    __tablename__ = "unleash_clients"
    __table_args__ = (UniqueConstraint("environment_id", "app_name", "instance_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    app_name: Mapped[str] = mapped_column(String(200))
    instance_id: Mapped[str] = mapped_column(String(200))
    sdk_version: Mapped[str] = mapped_column(String(200), default="")
    strategies: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    interval_ms: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
