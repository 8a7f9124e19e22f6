"""Reading the version ledger: what runs where, a service's history, what a rollback restores.

"What runs" is the latest *successful* ledger row of a service in an environment; failed and
unfinished rows never change it. A rollback row points at the row it undid (`rollback_of`), and
an undone row is never a rollback target again, so rolling back twice walks further back instead
of redoing what was undone.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.store.models import Deploy, Release

MAX_LIST = 1000


class LedgerEntry(Result):
    """One row of the version ledger: a version of a service deployed (or on its way) in an
    environment, by whom, with what result; `rollback_of` is the row it undid."""

    id: int
    environment: str
    service: str
    version: str
    release: str | None
    commit: str | None
    actor: str
    result: str
    started_at: IsoTime | None
    finished_at: IsoTime | None
    rollback_of: int | None
    run_id: int | None
    wave: int
    command: str | None
    confirmed_by: str | None


def ledger_entry(deploy: Deploy) -> LedgerEntry:
    return LedgerEntry(
        id=deploy.id,
        environment=deploy.environment,
        service=deploy.service,
        version=deploy.version,
        release=deploy.release_version,
        commit=deploy.commit,
        actor=deploy.actor,
        result=deploy.result,
        started_at=deploy.started_at,
        finished_at=deploy.finished_at,
        rollback_of=deploy.rollback_of_id,
        run_id=deploy.run_id,
        wave=deploy.wave,
        command=deploy.command,
        confirmed_by=deploy.confirmed_by,
    )


class ServiceStatus(Result):
    """What runs of one service in one environment, and what is on its way there."""

    environment: str
    service: str
    version: str | None
    release: str | None
    deployed_by: str | None
    deployed_at: IsoTime | None
    rollback: bool
    in_flight: str | None = Field(description="`VERSION (state)` of a step deploying it now")
    run_id: int | None = Field(default=None, description="The run that deployed what runs")


def successful(
    session: Session, project_id: int, environment: str, service: str, limit: int = MAX_LIST
) -> list[Deploy]:
    """Successful rows of one service in one environment, newest first."""
    return list(
        session.scalars(
            select(Deploy)
            .where(
                Deploy.project_id == project_id,
                Deploy.environment == environment,
                Deploy.service == service,
                Deploy.result == "success",
            )
            .order_by(Deploy.finished_at.desc(), Deploy.id.desc())
            .limit(limit)
        )
    )


def current(session: Session, project_id: int, environment: str, service: str) -> Deploy | None:
    # One row, not the service's history: status pages call this per service and environment.
    rows = successful(session, project_id, environment, service, limit=1)
    return rows[0] if rows else None


def rollback_target(
    session: Session,
    project_id: int,
    environment: str,
    service: str,
    to_version: str | None = None,
) -> tuple[Deploy | None, Deploy | None]:
    """(what runs now, the row to restore): the latest earlier success of another version that
    was not itself undone, or the latest success of `to_version`."""
    rows = successful(session, project_id, environment, service)
    if not rows:
        return None, None
    now = rows[0]
    undone = {r.rollback_of_id for r in rows if r.rollback_of_id is not None}
    for row in rows[1:]:
        if to_version is not None:
            if row.version == to_version:
                return now, row
        elif row.version != now.version and row.id not in undone:
            return now, row
    return now, None


def history(
    session: Session,
    actor: Actor,
    slug: str,
    *,
    service: str | None = None,
    environment: str | None = None,
    limit: int = 100,
) -> list[Deploy]:
    project = projects.get_project(session, actor, slug)
    query = (
        select(Deploy)
        .where(Deploy.project_id == project.id)
        .order_by(Deploy.id.desc())
        .limit(min(max(limit, 1), MAX_LIST))
    )
    if service is not None:
        query = query.where(Deploy.service == service)
    environment = projects.environment_view(session, actor, project, environment)
    if environment is not None:
        query = query.where(Deploy.environment == environment)
    return list(session.scalars(query))


IN_FLIGHT = ("pending", "running", "waiting_confirm")


def status(
    session: Session, actor: Actor, slug: str, environment: str | None = None
) -> list[ServiceStatus]:
    """One row per service and environment: the version running, who deployed it and when,
    and what is in flight if a run is deploying it now. Two queries whatever the number of
    services and environments (a page showing every environment pays no round trip each)."""
    project = projects.get_project(session, actor, slug)
    envs = [e.name for e in project.environments]
    environment = projects.environment_view(session, actor, project, environment)
    if environment is not None:
        envs = [environment]
    running = {(d.environment, d.service): d for d in _running(session, project.id, envs)}
    busy: dict[tuple[str, str], Deploy] = {}
    for row in session.scalars(
        select(Deploy)
        .where(
            Deploy.project_id == project.id,
            Deploy.environment.in_(envs),
            Deploy.result.in_(IN_FLIGHT),
        )
        .order_by(Deploy.id.desc())
        .limit(MAX_LIST)
    ):
        busy.setdefault((row.environment, row.service), row)
    order = {name: i for i, name in enumerate(envs)}
    rows: list[ServiceStatus] = []
    for env, name in sorted(running.keys() | busy.keys(), key=lambda k: (order[k[0]], k[1])):
        now, moving = running.get((env, name)), busy.get((env, name))
        rows.append(
            ServiceStatus(
                environment=env,
                service=name,
                version=now.version if now else None,
                release=now.release_version if now else None,
                deployed_by=now.actor if now else None,
                deployed_at=now.finished_at if now else None,
                rollback=bool(now and now.rollback_of_id),
                in_flight=f"{moving.version} ({moving.result})" if moving else None,
                run_id=now.run_id if now else None,
            )
        )
    return rows


def _running(session: Session, project_id: int, environments: list[str]) -> list[Deploy]:
    """`current` of every service (including ones since removed from the project) in each of
    `environments`, in one statement: the (environment, service) pairs with ledger rows, and
    for each the newest successful row."""
    pairs = (
        select(Deploy.environment, Deploy.service)
        .where(Deploy.project_id == project_id, Deploy.environment.in_(environments))
        .distinct()
        .subquery("pairs")
    )
    newer = aliased(Deploy)
    newest = (
        select(newer.id)
        .where(
            newer.project_id == project_id,
            newer.environment == pairs.c.environment,
            newer.service == pairs.c.service,
            newer.result == "success",
        )
        .order_by(newer.finished_at.desc(), newer.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return list(
        session.scalars(select(Deploy).where(Deploy.id.in_(select(newest).select_from(pairs))))
    )


def deployed_environments(session: Session, actor: Actor, release_ids: list[int]) -> set[str]:
    """The environments any of these releases reached (sentry-cli's `deployCount`): the
    actor's own alone, when it is bound to one."""
    query = select(Deploy.environment).where(Deploy.release_id.in_(release_ids))
    bound = projects.bound_environment(session, actor)
    if bound is not None:
        query = query.where(Deploy.environment == bound)
    return set(session.scalars(query))


def successful_deploys(
    session: Session, actor: Actor, release_ids: list[int], limit: int = 500
) -> list[Deploy]:
    """The successful steps of these releases, newest first (sentry-cli's deploy list); in
    the actor's environment only, when it is bound to one."""
    query = select(Deploy).where(Deploy.release_id.in_(release_ids), Deploy.result == "success")
    bound = projects.bound_environment(session, actor)
    if bound is not None:
        query = query.where(Deploy.environment == bound)
    return list(session.scalars(query.order_by(Deploy.id.desc()).limit(limit)))


def release_deploys(session: Session, release: Release) -> list[Deploy]:
    return list(
        session.scalars(
            select(Deploy)
            .where(Deploy.release_id == release.id)
            .order_by(Deploy.id)
            .limit(MAX_LIST)
        )
    )


def deploys_between(
    session: Session,
    project_id: int,
    environments: Collection[str],
    start: datetime,
    end: datetime,
    limit: int = 200,
) -> list[Deploy]:
    """Successful ledger rows of these environments finished in [start, end), oldest first
    (the deploy markers on an issue's charts)."""
    if not environments:
        return []
    return list(
        session.scalars(
            select(Deploy)
            .where(
                Deploy.project_id == project_id,
                Deploy.environment.in_(sorted(environments)),
                Deploy.result == "success",
                Deploy.finished_at >= start,
                Deploy.finished_at < end,
            )
            .order_by(Deploy.finished_at, Deploy.id)
            .limit(limit)
        )
    )
