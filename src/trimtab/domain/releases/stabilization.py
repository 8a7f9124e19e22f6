"""Stabilization windows, their lengths, and calendar freezes, stored; the rules live in
core.windows (what blocks a deploy, the refusal messages) and are only fed from here.

A successful deploy opens a window in production (the project's length, 7 days unless set) and
in any other environment that has its own length set (`[stabilization] environments` in
trimtab.toml).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.core import windows as core
from trimtab.core.cron import DurationError, format_duration, parse_duration
from trimtab.domain.errors import Conflict, InvalidInput, NotFound
from trimtab.domain.releases import ledger
from trimtab.domain.releases.verdicts import WindowVerdict
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine import audit, projects
from trimtab.domain.spine.actors import Actor
from trimtab.store.models import (
    FreezeRule,
    Project,
    StabilizationSetting,
    StabilizationWindow,
    utcnow,
)

WINDOW_ENVIRONMENT = "production"


def _absent(value: object) -> bool:
    return value is None


class FreezeSummary(Result):
    """A calendar freeze: recurring (`cron` and `duration`, in `timezone`) or one period
    (`start` to `end`, UTC; only one of the two forms is sent), whether it blocks deploys now
    and its next occurrence."""

    name: str
    reason: str
    cron: str | None = Field(default=None, exclude_if=_absent)
    duration: str | None = Field(default=None, exclude_if=_absent, description="like `62h`")
    start: IsoTime | None = Field(default=None, exclude_if=_absent)
    end: IsoTime | None = Field(default=None, exclude_if=_absent)
    timezone: str
    environments: list[str] = Field(description="Where it applies; empty: everywhere")
    active: bool
    next_start: IsoTime | None
    next_end: IsoTime | None


class FreezeRemoved(Result):
    """The name of the freeze just removed."""

    removed: str


class WindowSummary(Result):
    """A stabilization window a deploy opened, and its latest verdict."""

    id: int
    release: str
    environment: str
    services: list[str]
    opened_at: IsoTime
    ends_at: IsoTime
    open: bool
    verdict_status: str | None
    verdict_at: IsoTime | None
    verdict: WindowVerdict | None


class FreezeStatus(Result):
    """Whether a deploy may go to `environment` now, and the freezes and open windows that
    decide it."""

    environment: str
    deploy_allowed: bool
    refusals: list[str]
    freezes: list[FreezeSummary]
    windows: list[WindowSummary]


def window_days(session: Session, project_id: int, environment: str) -> int | None:
    """How long a window a deploy to `environment` opens; None: no window there."""
    settings = {
        s.environment: s.days
        for s in session.scalars(
            select(StabilizationSetting).where(StabilizationSetting.project_id == project_id)
        )
    }
    if environment in settings:
        return settings[environment]
    if environment == WINDOW_ENVIRONMENT:
        return settings.get("", core.DEFAULT_WINDOW_DAYS)
    return None


def window_settings(session: Session, project_id: int) -> tuple[int, dict[str, int]]:
    """(project default days, per-environment days)."""
    rows = session.scalars(
        select(StabilizationSetting).where(StabilizationSetting.project_id == project_id)
    )
    per_env = {r.environment: r.days for r in rows}
    return per_env.pop("", core.DEFAULT_WINDOW_DAYS), per_env


def set_window_settings(
    session: Session, actor: Actor, project: Project, days: int, per_env: dict[str, int]
) -> None:
    """Replace the project's window lengths (admin; called by `trimtab apply`)."""
    actor.require("admin", project_id=project.id)
    wanted = {"": days, **per_env}
    for value in wanted.values():
        try:
            core.validate_window_days(value)
        except core.WindowError as exc:
            raise InvalidInput(str(exc)) from exc
    before = window_settings(session, project.id)
    for row in session.scalars(
        select(StabilizationSetting).where(StabilizationSetting.project_id == project.id)
    ):
        session.delete(row)
    session.flush()
    for env, value in wanted.items():
        session.add(StabilizationSetting(project_id=project.id, environment=env, days=value))
    session.flush()
    audit.record(
        session,
        actor,
        "stabilization.update",
        target_type="project",
        target_id=project.slug,
        project_id=project.id,
        before={"days": before[0], "environments": before[1]},
        after={"days": days, "environments": per_env},
    )


def open_window(
    session: Session,
    project_id: int,
    environment: str,
    *,
    release_version: str,
    release_id: int | None,
    services: list[str],
    run_id: int | None,
    at: datetime,
) -> StabilizationWindow | None:
    days = window_days(session, project_id, environment)
    if days is None:
        return None
    shape = core.open_window(release_version, environment, services, at, days)
    window = StabilizationWindow(
        project_id=project_id,
        environment=environment,
        release_id=release_id,
        release_version=release_version,
        services=list(shape.services),
        run_id=run_id,
        opened_at=shape.opened_at,
        ends_at=shape.ends_at,
    )
    session.add(window)
    session.flush()
    return window


def end_windows_of_undone_releases(
    session: Session, project_id: int, environment: str, now: datetime
) -> list[StabilizationWindow]:
    """After a rollback: end, now, the open windows of releases that no longer run here.

    A window belongs to what runs now. Once none of a window's services runs its release's
    version any more (the rollback restored what ran before), the window has nothing left to
    stabilize: it would only refuse the fixed release's redeploy. It ends at the moment of the
    rollback, so its verdict covers the time the release ran. A release still running on some
    of its services keeps its window.
    """
    ended = []
    for window in open_windows(session, project_id, now):
        if window.environment != environment or window.release_id is None:
            continue
        running = [ledger.current(session, project_id, environment, s) for s in window.services]
        if not any(row is not None and row.release_id == window.release_id for row in running):
            window.ends_at = now
            ended.append(window)
    session.flush()
    return ended


def open_windows(session: Session, project_id: int, now: datetime) -> list[StabilizationWindow]:
    return list(
        session.scalars(
            select(StabilizationWindow)
            .where(StabilizationWindow.project_id == project_id, StabilizationWindow.ends_at > now)
            .order_by(StabilizationWindow.ends_at)
        )
    )


def core_window(window: StabilizationWindow) -> core.StabilizationWindow:
    return core.StabilizationWindow(
        release=window.release_version,
        environment=window.environment,
        services=tuple(window.services),
        opened_at=window.opened_at,
        ends_at=window.ends_at,
    )


def core_freeze(rule: FreezeRule) -> core.Freeze:
    return core.Freeze(
        name=rule.name,
        reason=rule.reason,
        start=rule.starts_at,
        end=rule.ends_at,
        cron=rule.cron,
        duration=timedelta(seconds=rule.duration_s) if rule.duration_s is not None else None,
        timezone=rule.timezone,
        environments=tuple(rule.environments),
    )


def freeze_rules(session: Session, project_id: int) -> list[FreezeRule]:
    return list(
        session.scalars(
            select(FreezeRule).where(FreezeRule.project_id == project_id).order_by(FreezeRule.name)
        )
    )


def check_deploy(
    session: Session,
    project_id: int,
    environment: str,
    now: datetime,
    *,
    override: bool,
    reason: str | None,
) -> core.Decision:
    """core.windows.check_deploy_allowed over the project's stored windows and freezes."""
    windows = [core_window(w) for w in open_windows(session, project_id, now)]
    freezes = [core_freeze(f) for f in freeze_rules(session, project_id)]
    return _decide(windows, freezes, environment, now, override=override, reason=reason)


def _decide(
    windows: list[core.StabilizationWindow],
    freezes: list[core.Freeze],
    environment: str,
    now: datetime,
    *,
    override: bool,
    reason: str | None,
) -> core.Decision:
    try:
        return core.check_deploy_allowed(
            now, windows, freezes, override, reason, environment=environment
        )
    except core.OverrideReasonRequired as exc:
        raise InvalidInput(str(exc)) from exc


def _utc(value: datetime | None) -> datetime | None:
    # A time without an offset is read as UTC, not as the server's local time.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def freeze_of(
    name: str,
    reason: str = "",
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    cron: str | None = None,
    duration: str | None = None,
    timezone: str = "UTC",
    environments: Sequence[str] = (),
) -> core.Freeze:
    """A freeze as a caller typed it (an API body, a dashboard form): one period from `start`
    to `end`, or recurring (`cron`, `duration` like `62h`, `timezone`); InvalidInput says what
    is wrong with it."""
    try:
        return core.Freeze(
            name=name,
            reason=reason,
            start=_utc(start),
            end=_utc(end),
            cron=cron,
            duration=parse_duration(duration) if duration else None,
            timezone=timezone,
            environments=tuple(environments),
        )
    except (core.WindowError, DurationError) as exc:
        raise InvalidInput(str(exc)) from exc


def add_freeze(session: Session, actor: Actor, slug: str, freeze: core.Freeze) -> FreezeRule:
    project = projects.get_project(session, actor, slug, scope="admin")
    if any(f.name == freeze.name for f in freeze_rules(session, project.id)):
        raise Conflict(f"project {slug!r} already has a freeze {freeze.name!r}")
    duration = freeze.schedule()[1] if freeze.cron is not None else None
    rule = FreezeRule(
        project_id=project.id,
        name=freeze.name[:100],
        reason=freeze.reason[:500],
        cron=freeze.cron,
        duration_s=int(duration.total_seconds()) if duration is not None else None,
        starts_at=freeze.start,
        ends_at=freeze.end,
        timezone=freeze.timezone,
        environments=list(freeze.environments),
        created_by=actor.label,
    )
    session.add(rule)
    session.flush()
    audit.record(
        session,
        actor,
        "freeze.add",
        target_type="freeze",
        target_id=f"{slug}/{freeze.name}",
        project_id=project.id,
        after=freeze.as_dict(),
    )
    return rule


def remove_freeze(session: Session, actor: Actor, slug: str, name: str) -> FreezeRemoved:
    project = projects.get_project(session, actor, slug, scope="admin")
    rule = next((f for f in freeze_rules(session, project.id) if f.name == name), None)
    if rule is None:
        raise NotFound(f"project {slug!r} has no freeze {name!r}")
    before = core_freeze(rule).as_dict()
    session.delete(rule)
    session.flush()
    audit.record(
        session,
        actor,
        "freeze.remove",
        target_type="freeze",
        target_id=f"{slug}/{name}",
        project_id=project.id,
        before=before,
    )
    return FreezeRemoved(removed=name)


def freeze_summary(rule: FreezeRule, now: datetime | None = None) -> FreezeSummary:
    now = now or utcnow()
    freeze = core_freeze(rule)
    occurrence = core.next_occurrence(freeze, now)
    if rule.duration_s is not None:
        duration = format_duration(timedelta(seconds=rule.duration_s))
    elif freeze.cron is not None:
        duration = format_duration(freeze.schedule()[1])
    else:
        duration = None
    return FreezeSummary(
        name=freeze.name,
        reason=freeze.reason,
        cron=freeze.cron,
        duration=duration,
        start=freeze.start.astimezone(UTC) if freeze.cron is None and freeze.start else None,
        end=freeze.end.astimezone(UTC) if freeze.cron is None and freeze.end else None,
        timezone=freeze.timezone,
        environments=list(freeze.environments),
        active=core.current_occurrence(freeze, now) is not None,
        next_start=occurrence.start if occurrence else None,
        next_end=occurrence.end if occurrence else None,
    )


def window_summary(window: StabilizationWindow) -> WindowSummary:
    now = utcnow()
    return WindowSummary(
        id=window.id,
        release=window.release_version,
        environment=window.environment,
        services=window.services,
        opened_at=window.opened_at,
        ends_at=window.ends_at,
        open=window.opened_at <= now < window.ends_at,
        verdict_status=window.verdict_status,
        verdict_at=window.verdict_at,
        verdict=WindowVerdict.model_validate(window.verdict) if window.verdict else None,
    )


def freeze_status(
    session: Session, actor: Actor, slug: str, environment: str | None = None
) -> FreezeStatus:
    """Freezes (active now or next), open windows, and whether a deploy may go now: to
    `environment`, else the actor's own when it is bound to one, else production."""
    project = projects.get_project(session, actor, slug)
    environment = projects.environment_view(session, actor, project, environment)
    return freeze_statuses(session, actor, slug, [environment or WINDOW_ENVIRONMENT])[0]


def freeze_statuses(
    session: Session, actor: Actor, slug: str, environments: list[str]
) -> list[FreezeStatus]:
    """`freeze_status` of each of `environments` (the actor's to read: the caller checked),
    with the project's windows and freezes read once for all of them."""
    project = projects.get_project(session, actor, slug)
    now = utcnow()
    rules = freeze_rules(session, project.id)
    windows = open_windows(session, project.id, now)
    core_windows, core_freezes = [core_window(w) for w in windows], [core_freeze(f) for f in rules]
    freezes = [freeze_summary(f, now) for f in rules]
    # A window's verdict names its environment's issues: a bound actor gets its own windows.
    bound = projects.bound_environment(session, actor)
    summaries = [window_summary(w) for w in windows if bound in (None, w.environment)]
    statuses = []
    for environment in environments:
        decision = _decide(
            core_windows, core_freezes, environment, now, override=False, reason=None
        )
        statuses.append(
            FreezeStatus(
                environment=environment,
                deploy_allowed=decision.allowed,
                refusals=[r.message for r in decision.refusals],
                freezes=freezes,
                windows=summaries,
            )
        )
    return statuses
