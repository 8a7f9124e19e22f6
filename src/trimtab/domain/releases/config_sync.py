"""`trimtab apply`: make the server match a trimtab.toml (core.config_file parses and diffs).

The server's state is read back into the same `ProjectConfig` shape, `diff_config` orders the
changes so no requirement ever points at a missing service, and each change goes through the
same domain functions (and audit entries) as the CLI commands. Admin only: the file defines the
commands the trimtab host runs.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.core.config_file import (
    Change,
    ConfigError,
    DiffError,
    HealthCheck,
    ProjectConfig,
    ServiceConfig,
    diff_config,
    parse_config,
)
from trimtab.domain.errors import InvalidInput
from trimtab.domain.releases import services, stabilization
from trimtab.domain.results import Result
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.store.models import Project


class ConfigDiff(Result):
    """What a trimtab.toml changes on the server, one line per change (`+ service web`,
    `~ service api: downtime: False -> True`), and whether they were made (`applied`)."""

    project: str
    applied: bool
    changes: list[str]


def current_config(session: Session, project: Project) -> ProjectConfig:
    graph = services.graph_of(session, project)
    found = []
    for s in services.project_services(session, project):
        health = None
        if s.health_url is not None:
            health = HealthCheck(
                s.health_url,
                s.health_expect_status,
                s.health_retries,
                s.health_interval_s,
                s.health_timeout_s,
            )
        found.append(
            ServiceConfig(
                s.name,
                s.command,
                s.command is None,
                tuple(sorted(graph[s.name])),
                health,
                s.downtime,
            )
        )
    days, per_env = stabilization.window_settings(session, project.id)
    freezes = tuple(
        stabilization.core_freeze(f) for f in stabilization.freeze_rules(session, project.id)
    )
    return ProjectConfig(project.slug, days, tuple(sorted(per_env.items())), tuple(found), freezes)


def _fields(service: ServiceConfig) -> services.ServiceFields:
    health = service.health
    fields = services.ServiceFields(
        command=service.command,
        depends_on=list(service.depends_on),
        downtime=service.downtime,
        health_url=health.url if health else None,
    )
    if health is not None:
        fields.health_expect_status = health.expect_status
        fields.health_retries = health.retries
        fields.health_interval_s = health.interval_s
        fields.health_timeout_s = health.timeout_s
    return fields


def _apply_one(session: Session, actor: Actor, desired: ProjectConfig, change: Change) -> None:
    what, _, name = change.target.partition(" ")
    slug = desired.name
    if what == "project":
        projects.create_project(session, actor, slug)
    elif what == "stabilization":
        project = projects.get_project(session, actor, slug, scope="admin")
        per_env = dict(desired.stabilization_environments)
        stabilization.set_window_settings(
            session, actor, project, desired.stabilization_days, per_env
        )
    elif what == "service":
        if change.kind == "delete":
            services.delete_service(session, actor, slug, name)
            return
        wanted = next(s for s in desired.services if s.name == name)
        if change.kind == "create":
            services.create_service(
                session, actor, slug, name, _fields(wanted), manual=wanted.manual
            )
        else:
            services.update_service(
                session, actor, slug, name, _fields(wanted), manual=wanted.manual
            )
    elif what == "freeze":
        if change.kind != "create":
            stabilization.remove_freeze(session, actor, slug, name)
        if change.kind != "delete":
            freeze = next(f for f in desired.freezes if f.name == name)
            stabilization.add_freeze(session, actor, slug, freeze)


def plan_or_apply(session: Session, actor: Actor, text: str, *, apply: bool) -> ConfigDiff:
    """The changes `text` asks for; with `apply`, made in this transaction (all or nothing)."""
    actor.require("admin", project_id=actor.project_id)
    try:
        desired = parse_config(text)
    except ConfigError as exc:
        raise InvalidInput(str(exc), code="invalid_config") from exc
    project = session.scalars(select(Project).where(Project.slug == desired.name)).first()
    current = None
    if project is not None:
        project = projects.get_project(session, actor, desired.name, scope="admin")
        current = current_config(session, project)
    try:
        changes = diff_config(desired, current)
    except DiffError as exc:
        raise InvalidInput(str(exc)) from exc
    if apply:
        for change in changes:
            _apply_one(session, actor, desired, change)
    return ConfigDiff(
        project=desired.name, applied=apply, changes=[change.describe() for change in changes]
    )


__all__ = ["ConfigDiff", "current_config", "plan_or_apply"]
