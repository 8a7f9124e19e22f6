"""Scheduled flag changes and ramps, applied later by the `flag-schedules` job.

A schedule is one of: turn on / off at a time, set the rollout percentage at a time, or a ramp
(`[{at, percentage}, ...]`, 5% -> 25% -> 100% over days) that the job follows with
`core.schedules.ramp_percentage`. The job applies each due change through the same domain
functions a person would use (validated, audited, pushed), acting as `system:scheduler`.
Scheduling is an operational action like a flip, so `deploy` tokens may do it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.core.flags.values import parse_datetime
from trimtab.core.schedules import ScheduleError, next_ramp_change, ramp_percentage, validate_ramp
from trimtab.domain.errors import DomainError, InvalidInput, NotFound
from trimtab.domain.flags import flags
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine import audit
from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.projects import get_environment, get_project
from trimtab.store.db import Store, get_row
from trimtab.store.models import Environment, Flag, FlagSchedule, Project, utcnow
from trimtab.store.models.flags import SCHEDULE_KINDS

log = logging.getLogger("trimtab.flags")

SCHEDULER = Actor("system", "scheduler", frozenset({"admin"}))
MAX_STEPS = 50
MAX_PENDING_PER_FLAG = 50
# A one-off change dated this far in the past is a typo, not a plan.
PAST_TOLERANCE = timedelta(minutes=5)
DUE_BATCH = 100


def _when(value: str | datetime | None, what: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        raise InvalidInput(f"{what}: an ISO 8601 date-time, like 2026-05-01T09:00:00+09:00")
    return parsed


def create_schedule(
    session: Session,
    actor: Actor,
    project_slug: str,
    key: str,
    environment: str,
    kind: str,
    *,
    at: str | datetime | None = None,
    percentage: float | None = None,
    steps: Sequence[dict[str, Any]] | None = None,
    rule_id: str = flags.ROLLOUT_RULE,
    reason: str | None = None,
    now: datetime | None = None,
) -> FlagSchedule:
    project = get_project(session, actor, project_slug, scope=flags.OPERATION_SCOPE)
    env = get_environment(session, project, environment, actor=actor, scope=flags.OPERATION_SCOPE)
    flag = flags.get_flag(session, project, key)
    if flag.archived_at is not None:
        raise InvalidInput(f"flag {key!r} is archived")
    now = now or utcnow()
    if kind not in SCHEDULE_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(SCHEDULE_KINDS)}")
    pending = session.scalars(
        select(FlagSchedule.id).where(
            FlagSchedule.flag_id == flag.id, FlagSchedule.status == "pending"
        )
    ).all()
    if len(pending) >= MAX_PENDING_PER_FLAG:
        raise InvalidInput(f"at most {MAX_PENDING_PER_FLAG} pending schedules per flag")
    flags._name(rule_id, "rule id")
    schedule = FlagSchedule(
        flag_id=flag.id,
        environment_id=env.id,
        kind=kind,
        rule_id=rule_id,
        reason=flags._reason(reason),
        created_by=actor.label,
    )
    if kind == "ramp":
        if not steps or len(steps) > MAX_STEPS:
            raise InvalidInput(f"a ramp has 1-{MAX_STEPS} steps {{at, percentage}}")
        try:
            normalized = validate_ramp(steps)
        except ScheduleError as exc:
            raise InvalidInput(f"ramp: {exc}") from exc
        for i, step in enumerate(normalized):
            _check_percentage(step["percentage"], f"steps[{i}].percentage")
            step["at"] = _when(step["at"], f"steps[{i}].at").isoformat()
        schedule.steps = normalized
        schedule.at = _when(normalized[0]["at"], "steps[0].at")
        schedule.next_at = schedule.at
    else:
        if steps is not None:
            raise InvalidInput("steps belong to a ramp")
        when = _when(at, "at")
        if when < now - PAST_TOLERANCE:
            raise InvalidInput("at is in the past")
        if kind == "rollout":
            if percentage is None:
                raise InvalidInput("a scheduled rollout needs a percentage")
            schedule.percentage = _check_percentage(percentage, "percentage")
        elif percentage is not None:
            raise InvalidInput("a percentage belongs to a rollout or ramp")
        schedule.at = when
        schedule.next_at = when
    session.add(schedule)
    session.flush()
    audit.record(
        session,
        actor,
        "flag.schedule",
        target_type="flag",
        target_id=key,
        project_id=project.id,
        environment=env.name,
        after=schedule_summary(schedule, key, env.name).model_dump(mode="json"),
        reason=schedule.reason,
    )
    return schedule


def _check_percentage(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise InvalidInput(f"{what}: a number from 0 to 100")
    return float(value)


def list_schedules(
    session: Session, actor: Actor, project_slug: str, key: str, *, pending_only: bool = False
) -> list[ScheduleSummary]:
    project = get_project(session, actor, project_slug)
    flag = flags.get_flag(session, project, key)
    names = {env.id: env.name for env in project.environments}
    query = select(FlagSchedule).where(FlagSchedule.flag_id == flag.id)
    if pending_only:
        query = query.where(FlagSchedule.status == "pending")
    rows = session.scalars(query.order_by(FlagSchedule.id))
    return [
        schedule_summary(s, key, names.get(s.environment_id, "?"))
        for s in rows
        if actor.reaches_environment(s.environment_id)
    ]


def cancel_schedule(
    session: Session, actor: Actor, project_slug: str, key: str, schedule_id: int
) -> ScheduleSummary:
    project = get_project(session, actor, project_slug, scope=flags.OPERATION_SCOPE)
    flag = flags.get_flag(session, project, key)
    schedule = get_row(session, FlagSchedule, schedule_id)
    if schedule is None or schedule.flag_id != flag.id:
        raise NotFound(f"flag {key!r} has no schedule {schedule_id}")
    actor.require(
        flags.OPERATION_SCOPE, project_id=project.id, environment_id=schedule.environment_id
    )
    env = session.get(Environment, schedule.environment_id)
    env_name = env.name if env else "?"
    if schedule.status == "pending":
        schedule.status = "cancelled"
        audit.record(
            session,
            actor,
            "flag.schedule.cancel",
            target_type="flag",
            target_id=key,
            project_id=project.id,
            environment=env_name,
            after={"schedule": schedule.id},
        )
    return schedule_summary(schedule, key, env_name)


class RampStep(Result):
    """From `at` (ISO 8601 text, as given) the rollout is `percentage`."""

    at: str
    percentage: int | float


class ScheduleSummary(Result):
    """A scheduled change: `at` and `percentage` for on / off / rollout, `steps` for a ramp;
    `next_at` is when the job acts next, `applied_*` what it did last."""

    id: int
    flag: str
    environment: str
    kind: str
    at: IsoTime | None
    percentage: float | None
    steps: list[RampStep] | None
    rule_id: str
    status: str
    next_at: IsoTime | None
    reason: str | None
    created_by: str
    applied_at: IsoTime | None
    applied_percentage: float | None
    error: str | None


def schedule_summary(schedule: FlagSchedule, key: str, environment: str) -> ScheduleSummary:
    return ScheduleSummary(
        id=schedule.id,
        flag=key,
        environment=environment,
        kind=schedule.kind,
        at=schedule.at,
        percentage=schedule.percentage,
        steps=None if schedule.steps is None else [RampStep(**step) for step in schedule.steps],
        rule_id=schedule.rule_id,
        status=schedule.status,
        next_at=schedule.next_at,
        reason=schedule.reason,
        created_by=schedule.created_by,
        applied_at=schedule.applied_at,
        applied_percentage=schedule.applied_percentage,
        error=schedule.error,
    )


# --- the job ---------------------------------------------------------------------------------


def apply_due(store: Store, now: datetime | None = None) -> int:
    """Apply every due schedule, each in its own transaction. Returns how many were applied."""
    now = now or utcnow()
    with store.read() as session:
        due = session.scalars(
            select(FlagSchedule.id)
            .where(FlagSchedule.status == "pending", FlagSchedule.next_at <= now)
            .order_by(FlagSchedule.next_at, FlagSchedule.id)
            .limit(DUE_BATCH)
        ).all()
    applied = 0
    for schedule_id in due:
        try:
            with store.write() as session:
                if apply_step(session, schedule_id, now):
                    applied += 1
        except DomainError as exc:
            # The change was refused (flag archived, variant gone…): record why, stop retrying.
            log.warning("scheduled flag change %s failed: %s", schedule_id, exc.detail)
            with store.write() as session:
                schedule = session.get(FlagSchedule, schedule_id)
                if schedule is not None and schedule.status == "pending":
                    schedule.status = "failed"
                    schedule.error = exc.detail[:1000]
    return applied


def apply_step(session: Session, schedule_id: int, now: datetime) -> bool:
    """Apply one schedule if it is still pending (in the caller's transaction)."""
    # Row-locked (PostgreSQL): two nodes, or a cancel, reading it at once apply it at most once.
    schedule = session.get(FlagSchedule, schedule_id, with_for_update=True)
    if schedule is None or schedule.status != "pending":
        return False  # another node or a cancel got there first
    flag = session.get(Flag, schedule.flag_id)
    env = session.get(Environment, schedule.environment_id)
    if flag is None or env is None:
        return False
    project = session.get(Project, flag.project_id)
    assert project is not None  # foreign key
    reason = f"scheduled #{schedule.id}" + (f": {schedule.reason}" if schedule.reason else "")
    if schedule.kind in ("on", "off"):
        flags.set_enabled(
            session, SCHEDULER, project.slug, flag.key, env.name, schedule.kind == "on", reason
        )
        schedule.status = "done"
    elif schedule.kind == "rollout":
        assert schedule.percentage is not None
        flags.rollout(
            session,
            SCHEDULER,
            project.slug,
            flag.key,
            env.name,
            _whole(schedule.percentage),
            rule_id=schedule.rule_id,
            reason=reason,
        )
        schedule.applied_percentage = schedule.percentage
        schedule.status = "done"
    else:
        steps = schedule.steps or []
        percentage = ramp_percentage(steps, now)
        if percentage is not None and percentage != schedule.applied_percentage:
            flags.rollout(
                session,
                SCHEDULER,
                project.slug,
                flag.key,
                env.name,
                _whole(percentage),
                rule_id=schedule.rule_id,
                reason=f"{reason} (ramp step {percentage}%)",
            )
            schedule.applied_percentage = percentage
        schedule.next_at = next_ramp_change(steps, now)
        if schedule.next_at is None:
            schedule.status = "done"
    schedule.applied_at = now
    return True


def _whole(value: float) -> float:
    # Store 25 rather than 25.0, so a config reads the way it was written.
    return int(value) if float(value).is_integer() else value
