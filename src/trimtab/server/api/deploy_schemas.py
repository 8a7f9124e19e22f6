"""Request bodies for services, releases, deploys, maintenance, freezes and config. Bounded."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from trimtab.server.api.schemas import Body, Name

Command = Field(default=None, min_length=1, max_length=1000)
Url = Field(default=None, min_length=1, max_length=500)


class ServiceBody(Body):
    command: str | None = Command
    manual: bool = False
    depends_on: list[str] | None = Field(default=None, max_length=100)
    downtime: bool | None = None
    health_url: str | None = Url
    health_expect_status: int | None = Field(default=None, ge=100, le=599)
    health_retries: int | None = Field(default=None, ge=0, le=100)
    health_interval_s: float | None = Field(default=None, ge=0.01, le=3600)
    health_timeout_s: float | None = Field(default=None, ge=0.1, le=300)


class ServiceCreate(ServiceBody):
    name: str = Name


class ServiceUpdate(ServiceBody):
    """Only fields present are changed; `"health_url": null` removes the health check."""


class ReleaseCreate(Body):
    version: str = Field(min_length=1, max_length=200)
    services: dict[str, str] = Field(default_factory=dict, max_length=200)


class RunStart(Body):
    release: str = Field(min_length=1, max_length=200)
    environment: str = Name
    override: bool = False
    reason: str | None = Field(default=None, max_length=1000)
    auto_rollback: bool = False


class StepConfirm(Body):
    service: str | None = Field(default=None, max_length=64)
    ok: bool = True
    note: str | None = Field(default=None, max_length=1000)


class RunCancel(Body):
    reason: str = Field(min_length=1, max_length=1000)


class RollbackStart(Body):
    environment: str = Name
    service: str | None = Field(default=None, max_length=64)
    to: str | None = Field(default=None, max_length=200)
    release: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=1000)


class MaintenanceOn(Body):
    message: str | None = Field(default=None, max_length=500)
    starts_at: datetime | None = None
    expected_end: datetime | None = None


class FreezeCreate(Body):
    name: str = Field(min_length=1, max_length=100)
    reason: str = Field(default="", max_length=500)
    cron: str | None = Field(default=None, max_length=100)
    duration: str | None = Field(default=None, max_length=20)
    start: datetime | None = None
    end: datetime | None = None
    timezone: str = Field(default="UTC", max_length=64)
    environments: list[str] = Field(default_factory=list, max_length=50)


class ConfigText(Body):
    toml: str = Field(max_length=256 * 1024)


class WindowLengthBody(Body):
    """`days` for the project's window, or with `environment` for that environment's own;
    `days` null with an environment removes its own length. The domain bounds days (1-14)."""

    days: int | None = Field(default=None, ge=-1000, le=1000)
    environment: str | None = Field(default=None, min_length=1, max_length=64)
