"""Dependencies a project's flags can be bound to, their health, and guarded-flag rules.

A `Dependency` (billing-api, pay-library) is healthy or unhealthy project-wide. Its health is
decided by checks combining three signals — an HTTP probe the server runs, failures SDK guards
report (`DependencyReportBucket`, summed per 5 seconds; `DependencyReporter`, each SDK
instance's latest breaker state), and the error reports tagged with it
(the `dependency:<name>` error rollup) — with hysteresis: `down_after` bad checks in a row to go
down, `up_after` good ones to come back. Every transition is kept (`DependencyTransition`).

A `AutoOffRule` is an auto-off rule for one flag in one environment; `FlagEvaluationBucket`
holds evaluation counts per minute (from SDK metrics) so a guard can compare error rates with
the flag on and off over the same window.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

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

from trimtab.store.models.base import Base, BigId, JSONDocument, UTCDateTime, utcnow

HEALTH_STATES = ("healthy", "unhealthy")
BREAKER_STATES = ("closed", "open", "half_open")
REPORT_BUCKET_S = 5


class Dependency(Base):
    __tablename__ = "dependencies"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(1000), default="")
    # (a) the probe: GET probe_url every check; healthy when it answers expected_status in time.
    probe_url: Mapped[str | None] = mapped_column(String(2000))
    probe_expected_status: Mapped[int] = mapped_column(Integer, default=200)
    probe_timeout_s: Mapped[float] = mapped_column(Float, default=5.0)
    # How often the server checks this dependency (probe + the other signals), in seconds.
    interval_s: Mapped[int] = mapped_column(Integer, default=10)
    # (b) SDK reports: bad at failure_rate with min_calls over the last window_s, or when at
    # least open_reports SDK instances have the breaker open now (DependencyReporter).
    window_s: Mapped[int] = mapped_column(Integer, default=30)
    failure_rate: Mapped[float] = mapped_column(Float, default=0.5)
    min_calls: Mapped[int] = mapped_column(Integer, default=10)
    open_reports: Mapped[int] = mapped_column(Integer, default=1)
    # (c) error reports tagged with the dependency: bad at max_errors within error_window_s.
    max_errors: Mapped[int | None] = mapped_column(Integer)
    error_window_s: Mapped[int] = mapped_column(Integer, default=300)
    # Hysteresis.
    down_after: Mapped[int] = mapped_column(Integer, default=2)
    up_after: Mapped[int] = mapped_column(Integer, default=3)
    state: Mapped[str] = mapped_column(String(16), default="healthy")
    state_since: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    state_reason: Mapped[str] = mapped_column(String(500), default="")
    bad_streak: Mapped[int] = mapped_column(Integer, default=0)
    good_streak: Mapped[int] = mapped_column(Integer, default=0)
    next_check_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The last check's signals, shown by `dependency status`.
    last_signals: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DependencyTransition(Base):
    """healthy -> unhealthy or back: when, why, and the signals that decided it."""

    __tablename__ = "dependency_transitions"
    __table_args__ = (Index("ix_dependency_transitions_dependency_at", "dependency_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dependency_id: Mapped[int] = mapped_column(ForeignKey("dependencies.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str] = mapped_column(String(500))
    signals: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)


class DependencyReportBucket(Base):
    """What SDK guards reported for one dependency in one environment, per 5-second bucket."""

    __tablename__ = "dependency_report_buckets"
    __table_args__ = (UniqueConstraint("dependency_id", "environment", "bucket"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dependency_id: Mapped[int] = mapped_column(ForeignKey("dependencies.id", ondelete="CASCADE"))
    environment: Mapped[str] = mapped_column(String(64))
    bucket: Mapped[datetime] = mapped_column(UTCDateTime())
    successes: Mapped[int] = mapped_column(BigInteger, default=0)
    failures: Mapped[int] = mapped_column(BigInteger, default=0)
    timeouts: Mapped[int] = mapped_column(BigInteger, default=0)
    open_reports: Mapped[int] = mapped_column(Integer, default=0)
    reports: Mapped[int] = mapped_column(Integer, default=0)


class DependencyReporter(Base):
    """The latest breaker state one SDK instance reported for one dependency: its breaker counts
    as open until the same instance reports it closed or goes quiet (see dependency_health)."""

    __tablename__ = "dependency_reporters"
    __table_args__ = (
        UniqueConstraint("dependency_id", "environment", "reporter"),
        Index("ix_dependency_reporters_last_report_at", "last_report_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dependency_id: Mapped[int] = mapped_column(ForeignKey("dependencies.id", ondelete="CASCADE"))
    environment: Mapped[str] = mapped_column(String(64))
    # The token and the instance id the SDK sends: `token:<id>/<instance>`.
    reporter: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))
    # How often this instance re-reports (what it said, else the SDK's default): stale after 3x.
    interval_s: Mapped[float] = mapped_column(Float)
    last_report_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AutoOffRule(Base):
    """Auto-off rule for one flag in one environment (see domain.flags.auto_off)."""

    __tablename__ = "flag_guards"
    __table_args__ = (UniqueConstraint("flag_id", "environment_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    flag_id: Mapped[int] = mapped_column(ForeignKey("flags.id", ondelete="CASCADE"))
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Trip when errors carrying the flag as on reach max_errors within window_s ...
    max_errors: Mapped[int | None] = mapped_column(Integer)
    window_s: Mapped[int] = mapped_column(Integer, default=600)
    # ... or, with compare, when they clearly exceed those with it off: at least min_errors,
    # error rate (per exposure) at least min_ratio times the off rate, one-sided p < alpha.
    compare: Mapped[bool] = mapped_column(Boolean, default=True)
    min_errors: Mapped[int] = mapped_column(Integer, default=10)
    min_ratio: Mapped[float] = mapped_column(Float, default=2.0)
    alpha: Mapped[float] = mapped_column(Float, default=0.001)
    tripped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    tripped_reason: Mapped[str | None] = mapped_column(String(1000))
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_result: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FlagEvaluationBucket(Base):
    """Evaluations per flag, variant and minute (from SDK metrics): a guard's exposure."""

    __tablename__ = "flag_evaluation_buckets"
    __table_args__ = (
        UniqueConstraint("environment_id", "flag_key", "variant", "minute"),
        Index("ix_flag_evaluation_buckets_minute", "minute"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    flag_key: Mapped[str] = mapped_column(String(128))
    variant: Mapped[str] = mapped_column(String(128))
    minute: Mapped[datetime] = mapped_column(UTCDateTime())
    count: Mapped[int] = mapped_column(BigInteger, default=0)
