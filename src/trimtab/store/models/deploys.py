"""Releases and deploys: services and their requirements, releases, the version ledger, deploy
runs, stabilization windows and freezes.

The ledger (`deploys`) is the one record of what runs where. A deploy run (a release deploy, a
rollback) is a plan of waves; each of its steps *is* a ledger row, created `pending` when the run
starts, so the runner claims steps straight from the ledger and nothing can run that the ledger
does not show. Environments are stored by name, as in the audit log and the rollups, so the
ledger reads the same after an environment is renamed or removed.
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
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from trimtab.store.models.base import Base, BigId, JSONDocument, UTCDateTime, utcnow

# Ledger results. pending/running/waiting_confirm are steps of a run not finished yet.
STEP_RESULTS = (
    "pending",
    "running",
    "waiting_confirm",
    "success",
    "failed",
    "skipped",
    "cancelled",
)
RUN_STATES = ("running", "waiting_confirm", "success", "failed", "cancelled")
OUTPUT_TAIL_BYTES = 8192


class Service(Base):
    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    # A template (core.commands); None means manual: another team deploys it and confirms.
    command: Mapped[str | None] = mapped_column(String(1000))
    downtime: Mapped[bool] = mapped_column(Boolean, default=False)
    health_url: Mapped[str | None] = mapped_column(String(500))
    health_expect_status: Mapped[int] = mapped_column(Integer, default=200)
    health_retries: Mapped[int] = mapped_column(Integer, default=3)
    health_interval_s: Mapped[float] = mapped_column(Float, default=5.0)
    health_timeout_s: Mapped[float] = mapped_column(Float, default=5.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ServiceRequirement(Base):
    """`service` must be deployed after `depends_on` (core.planning keeps the graph a DAG)."""

    __tablename__ = "service_dependencies"
    __table_args__ = (UniqueConstraint("service_id", "depends_on_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    depends_on_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )


class Release(Base):
    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("project_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(200))  # "shop@2.3.0"
    services: Mapped[dict[str, str]] = mapped_column(JSONDocument, default=dict)  # name -> version
    # [{"id": sha, "repository": ..., "message": ..., "author": ..., "timestamp": iso}]
    commits: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    ref: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DeployRun(Base):
    """A release deploy or a rollback: waves of steps (ledger rows) run by a runner."""

    __tablename__ = "deploy_runs"
    __table_args__ = (Index("ix_deploy_runs_project_created", "project_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    environment: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # "release" or "rollback"
    release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(20), default="running")
    waves: Mapped[list[list[str]]] = mapped_column(JSONDocument, default=list)
    actor: Mapped[str] = mapped_column(String(300))
    overridden: Mapped[bool] = mapped_column(Boolean, default=False)
    override_reason: Mapped[str | None] = mapped_column(String(1000))
    # Roll the finished steps back by itself if a step fails (`deploy start --yes`).
    auto_rollback: Mapped[bool] = mapped_column(Boolean, default=False)
    rollback_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("deploy_runs.id", ondelete="SET NULL")
    )
    error: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Deploy(Base):
    """The version ledger: one service deployed (or rolled back) once in one environment."""

    __tablename__ = "deploys"
    __table_args__ = (
        Index("ix_deploys_lookup", "project_id", "environment", "service", "id"),
        Index("ix_deploys_result", "result"),
        # What runs where (`ledger.status`, `ledger.successful`): the newest successful row of
        # a service in an environment is one index seek, and the rows in flight another.
        Index(
            "ix_deploys_ledger",
            "project_id",
            "result",
            "environment",
            "service",
            "finished_at",
            "id",
        ),
        # Where each release went (the releases list, a release's page, sentry-cli's deploys).
        Index("ix_deploys_release", "release_id", "result", "environment"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    environment: Mapped[str] = mapped_column(String(64))
    service: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(200))
    commit: Mapped[str | None] = mapped_column(String(64))
    # The rendered shell line run (None: manual, or recorded from outside, e.g. sentry-cli).
    command: Mapped[str | None] = mapped_column(String(2000))
    actor: Mapped[str] = mapped_column(String(300))
    result: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    output_tail: Mapped[str] = mapped_column(Text, default="")
    release_id: Mapped[int | None] = mapped_column(
        ForeignKey("releases.id", ondelete="SET NULL"), index=True
    )
    release_version: Mapped[str | None] = mapped_column(String(200))
    rollback_of_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("deploys.id", ondelete="SET NULL"), index=True
    )
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("deploy_runs.id", ondelete="CASCADE"), index=True
    )
    wave: Mapped[int] = mapped_column(Integer, default=0)
    # Which runner holds the step while it runs ("local:<host>:<pid>", later an agent's name).
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    # An agent's claim holds until then; its heartbeats renew it (domain.releases.agents).
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # How many bytes of output an agent has sent for the step: each heartbeat carries only what
    # follows, at this offset, so a resend after a lost answer is recognized, never appended twice.
    output_offset: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    confirmed_by: Mapped[str | None] = mapped_column(String(300))


class StabilizationSetting(Base):
    """Window length per project and environment; environment "" is the project default."""

    __tablename__ = "stabilization_settings"
    __table_args__ = (UniqueConstraint("project_id", "environment"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    environment: Mapped[str] = mapped_column(String(64), default="")
    days: Mapped[int] = mapped_column(Integer)


class StabilizationWindow(Base):
    """Opened by a successful deploy run; holds the latest verdict (core.verdict) for it."""

    __tablename__ = "stabilization_windows"
    __table_args__ = (Index("ix_stabilization_windows_open", "project_id", "ends_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    environment: Mapped[str] = mapped_column(String(64))
    release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id", ondelete="SET NULL"))
    release_version: Mapped[str] = mapped_column(String(200))
    services: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("deploy_runs.id", ondelete="SET NULL"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    verdict_status: Mapped[str | None] = mapped_column(String(32))
    verdict: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    verdict_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set once the end-of-window verdict went to the notification outbox.
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FreezeRule(Base):
    """A calendar freeze (core.windows.Freeze): one-off start/end, or cron + duration."""

    __tablename__ = "freezes"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(500), default="")
    cron: Mapped[str | None] = mapped_column(String(100))
    duration_s: Mapped[int | None] = mapped_column(Integer)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    environments: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    created_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DeployAgent(Base):
    """A `trimtab agent` seen by the server: its project, environment and last heartbeat."""

    __tablename__ = "deploy_agents"
    __table_args__ = (UniqueConstraint("project_id", "environment", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    environment: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    services: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    token_id: Mapped[int | None] = mapped_column(Integer)
    current_deploy_id: Mapped[int | None] = mapped_column(BigId)
    last_heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
