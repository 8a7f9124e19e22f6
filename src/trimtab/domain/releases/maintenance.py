"""Maintenance notices: turned on by hand, scheduled ahead, or by the runner around a downtime
step. Every change is announced on the stream as `maintenance.changed` with the public state,
so pages and middleware learn of it within a second.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.domain.errors import InvalidInput, NotFound
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine import audit, projects
from trimtab.domain.spine.actors import Actor
from trimtab.store.models import Environment, MaintenanceNotice, Project, utcnow
from trimtab.store.notify import Change, announce

DEFAULT_MESSAGE = "We are updating the service. We will be back shortly."
DEFAULT_RETRY_AFTER_S = 60
MAX_AHEAD = timedelta(days=366)


class NoticeSummary(Result):
    """A maintenance notice: by hand (`manual`) or around a downtime step (`auto`)."""

    id: int
    message: str
    starts_at: IsoTime
    expected_end: IsoTime | None
    source: str


class MaintenanceStatus(Result):
    """What a page may show for an environment: the active notice (the latest started, if any),
    when to retry, and the notices scheduled ahead."""

    project: str
    environment: str
    active: bool
    message: str | None
    starts_at: IsoTime | None
    expected_end: IsoTime | None
    retry_after: int | None = Field(description="Seconds; until the expected end if known")
    scheduled: list[NoticeSummary]
    checked_at: IsoTime


class NoMaintenance(Result):
    """The public answer for a project or environment that does not exist: no maintenance,
    and nothing more, so the endpoint cannot be used to probe which projects exist."""

    project: str
    environment: str
    active: Literal[False]
    scheduled: list[NoticeSummary]


def _notices(session: Session, project_id: int, environment: str) -> list[MaintenanceNotice]:
    return list(
        session.scalars(
            select(MaintenanceNotice)
            .where(
                MaintenanceNotice.project_id == project_id,
                MaintenanceNotice.environment == environment,
                MaintenanceNotice.ended_at.is_(None),
            )
            .order_by(MaintenanceNotice.starts_at, MaintenanceNotice.id)
        )
    )


def notice_summary(notice: MaintenanceNotice) -> NoticeSummary:
    return NoticeSummary(
        id=notice.id,
        message=notice.message,
        starts_at=notice.starts_at,
        expected_end=notice.expected_end,
        source=notice.source,
    )


def _audited(notice: MaintenanceNotice) -> dict[str, Any]:
    return notice_summary(notice).model_dump(mode="json")


def public_state(
    session: Session, project: Project, environment: str, now: datetime | None = None
) -> MaintenanceStatus:
    """What users may see: the active notice (the latest started) and those scheduled ahead."""
    now = now or utcnow()
    pending = _notices(session, project.id, environment)
    active = [n for n in pending if n.starts_at <= now]
    ahead = [n for n in pending if n.starts_at > now]
    notice = active[-1] if active else None
    retry_after = DEFAULT_RETRY_AFTER_S
    if notice is not None and notice.expected_end is not None and notice.expected_end > now:
        retry_after = max(1, math.ceil((notice.expected_end - now).total_seconds()))
    return MaintenanceStatus(
        project=project.slug,
        environment=environment,
        active=notice is not None,
        message=notice.message if notice else None,
        starts_at=notice.starts_at if notice else None,
        expected_end=notice.expected_end if notice else None,
        retry_after=retry_after if notice else None,
        scheduled=[notice_summary(n) for n in ahead],
        checked_at=now,
    )


def public_state_by_slug(
    session: Session, slug: str, environment: str
) -> MaintenanceStatus | NoMaintenance:
    """No authentication: an unknown project or environment reads as "no maintenance", so the
    public endpoint cannot be used to probe which projects exist."""
    project = session.scalars(
        select(Project)
        .join(Environment, Environment.project_id == Project.id)
        .where(Project.slug == slug, Environment.name == environment)
    ).first()
    if project is None:
        return NoMaintenance(project=slug, environment=environment, active=False, scheduled=[])
    return public_state(session, project, environment)


def _announce(session: Session, project_id: int, environment: str) -> None:
    session.flush()
    project = session.get(Project, project_id)
    assert project is not None
    # Listeners know the project by its id: the state goes out without the slug.
    state = public_state(session, project, environment).model_dump(mode="json", exclude={"project"})
    announce(session, Change("maintenance.changed", project_id, environment, state))


def _check_message(message: str | None) -> str:
    text = (message or DEFAULT_MESSAGE).strip()
    if not text or len(text) > 500:
        raise InvalidInput("the maintenance message must be 1-500 characters")
    return text


def turn_on(
    session: Session,
    actor: Actor,
    slug: str,
    environment: str,
    *,
    message: str | None = None,
    starts_at: datetime | None = None,
    expected_end: datetime | None = None,
) -> MaintenanceNotice:
    """Turn a notice on now, or schedule it ahead with `starts_at`."""
    project = projects.get_project(session, actor, slug, scope="deploy")
    env = projects.get_environment(session, project, environment, actor=actor, scope="deploy")
    now = utcnow()
    # A time without an offset is read as UTC, never as the server's local time.
    if starts_at is not None and starts_at.tzinfo is None:
        starts_at = starts_at.replace(tzinfo=UTC)
    if expected_end is not None and expected_end.tzinfo is None:
        expected_end = expected_end.replace(tzinfo=UTC)
    start = starts_at or now
    if start > now + MAX_AHEAD:
        raise InvalidInput("maintenance can be scheduled at most a year ahead")
    if expected_end is not None and expected_end <= start:
        raise InvalidInput("the expected end must be after the start")
    notice = MaintenanceNotice(
        project_id=project.id,
        environment=env.name,
        message=_check_message(message),
        starts_at=start,
        expected_end=expected_end,
        source="manual",
        created_by=actor.label,
    )
    session.add(notice)
    session.flush()
    audit.record(
        session,
        actor,
        "maintenance.schedule" if start > now else "maintenance.on",
        target_type="maintenance",
        target_id=notice.id,
        project_id=project.id,
        environment=env.name,
        after=_audited(notice),
    )
    _announce(session, project.id, env.name)
    return notice


def turn_off(
    session: Session, actor: Actor, slug: str, environment: str, *, notice_id: int | None = None
) -> list[MaintenanceNotice]:
    """End the active notices (or one notice by id, also a scheduled one)."""
    project = projects.get_project(session, actor, slug, scope="deploy")
    env = projects.get_environment(session, project, environment, actor=actor, scope="deploy")
    now = utcnow()
    pending = _notices(session, project.id, env.name)
    if notice_id is not None:
        ended = [n for n in pending if n.id == notice_id]
        if not ended:
            raise NotFound(f"no open maintenance notice {notice_id} in {slug}/{environment}")
    else:
        ended = [n for n in pending if n.starts_at <= now]
    for notice in ended:
        notice.ended_at = now
        audit.record(
            session,
            actor,
            "maintenance.off",
            target_type="maintenance",
            target_id=notice.id,
            project_id=project.id,
            environment=env.name,
            before=_audited(notice),
        )
    if ended:
        _announce(session, project.id, env.name)
    return ended


def status(session: Session, actor: Actor, slug: str, environment: str) -> MaintenanceStatus:
    project = projects.get_project(session, actor, slug)
    env = projects.get_environment(session, project, environment, actor=actor, scope="read")
    return public_state(session, project, env.name)


def auto_on(
    session: Session, project_id: int, environment: str, deploy_id: int, message: str
) -> None:
    """The runner's notice around a downtime step (no actor check: the run was authorized)."""
    session.add(
        MaintenanceNotice(
            project_id=project_id,
            environment=environment,
            message=message[:500],
            source="auto",
            deploy_id=deploy_id,
            created_by="system:runner",
        )
    )
    _announce(session, project_id, environment)


def auto_off(session: Session, deploy_id: int) -> None:
    notices = list(
        session.scalars(
            select(MaintenanceNotice).where(
                MaintenanceNotice.deploy_id == deploy_id, MaintenanceNotice.ended_at.is_(None)
            )
        )
    )
    for notice in notices:
        notice.ended_at = utcnow()
    if notices:
        _announce(session, notices[0].project_id, notices[0].environment)
