"""`trimtab apply` and `trimtab init`: a project's configuration as a trimtab.toml, both ways.

The server's state is read back into the same `ProjectConfig` shape core.config_file parses.
`apply`: `diff_config` orders the changes so no requirement ever points at a missing service,
and each change goes through the same domain functions (and audit entries) as the CLI
commands; admin only, the file defines the commands the trimtab host runs. `init`: the state
is exported (read scope, as `service list` shows the same) and rendered by core.config_render.
`trimtab window set` changes the window lengths without a file.

A fallback may name a dependency nobody defined (an SDK report registers it later): the
export declares it with default settings, and `apply` creates it if it must change it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.core import windows
from trimtab.core.config_diff import Change, DiffError, diff_config
from trimtab.core.config_file import (
    DEPENDENCY_SETTINGS,
    ConfigError,
    DependencyConfig,
    EnvironmentConfig,
    Fallback,
    HealthCheck,
    ProjectConfig,
    ServiceConfig,
    parse_config,
)
from trimtab.core.config_render import render_config
from trimtab.domain.errors import Forbidden, InvalidInput
from trimtab.domain.flags import dependencies as flag_dependencies
from trimtab.domain.flags import flags
from trimtab.domain.releases import agents, services, stabilization
from trimtab.domain.releases.services import ServiceHealthCheck
from trimtab.domain.results import Result
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import Actor
from trimtab.store.models import Dependency, Project


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
    defined, fallbacks = _dependencies(session, project)
    return ProjectConfig(
        project.slug,
        days,
        tuple(sorted(per_env.items())),
        tuple(found),
        freezes,
        defined,
        fallbacks,
        _environments(project),
    )


def _environments(project: Project) -> tuple[EnvironmentConfig, ...] | None:
    """Every environment's runner, or None while all run locally (the default): then `init`
    writes no `[environments]` table and a file without one changes nothing."""
    ordered = sorted(project.environments, key=lambda e: e.name)
    found = tuple(EnvironmentConfig(e.name, e.runner) for e in ordered)
    return found if any(e.runner != "local" for e in found) else None


def _check_environments(desired: ProjectConfig, project: Project | None) -> None:
    """`apply` sets the runner of environments that exist: it creates none (`trimtab env
    create`); a new project starts with the default ones."""
    names = (
        {e.name for e in project.environments}
        if project is not None
        else set(projects.DEFAULT_ENVIRONMENTS)
    )
    unknown = [e.name for e in desired.environments or () if e.name not in names]
    if unknown:
        raise InvalidInput(
            f"trimtab.toml sets the runner of environment(s) {', '.join(unknown)} that project "
            f"{desired.name!r} does not have; create them first (`trimtab env create NAME "
            f"--project {desired.name}`) or remove them from [environments]",
            code="invalid_config",
        )


def _dependencies(
    session: Session, project: Project
) -> tuple[tuple[DependencyConfig, ...], tuple[Fallback, ...]]:
    """The project's dependencies and the flag configs that fall back on them."""
    rows = session.scalars(select(Dependency).where(Dependency.project_id == project.id))
    found = {
        row.name: DependencyConfig(
            row.name,
            row.description,
            row.probe_url,
            tuple((key, getattr(row, key)) for key in DEPENDENCY_SETTINGS),
        )
        for row in rows
    }
    fallbacks = set()
    for bound in flag_dependencies.bound_flags(session, project.id).values():
        for item in bound:
            names = tuple(sorted(set(item.dependencies)))
            fallbacks.add(Fallback(item.flag, item.environment, item.fallback_variant, names))
            for name in names:
                found.setdefault(name, DependencyConfig(name))  # named, never defined
    return tuple(found[name] for name in sorted(found)), tuple(
        sorted(fallbacks, key=lambda f: (f.flag, f.environment))
    )


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
    elif what == "environment":
        assert change.after is not None
        agents.set_runner(session, actor, slug, name, str(change.after["runner"]))
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
    elif what == "dependency":
        _apply_dependency(session, actor, desired, change.kind, name)
    elif what == "fallback":
        flag, _, environment = name.partition(" in ")
        wanted_fallback = next(
            (f for f in desired.fallbacks if (f.flag, f.environment) == (flag, environment)), None
        )
        value = None if wanted_fallback is None else wanted_fallback.as_dict()
        flags.set_config(
            session, actor, slug, flag, environment, {"fallback": value}, reason="trimtab apply"
        )


def _apply_dependency(
    session: Session, actor: Actor, desired: ProjectConfig, kind: str, name: str
) -> None:
    project = projects.get_project(session, actor, desired.name, scope="admin")
    exists = (
        session.scalars(
            select(Dependency.id).where(
                Dependency.project_id == project.id, Dependency.name == name
            )
        ).first()
        is not None
    )
    if kind == "delete":
        if exists:  # a name only a fallback used has nothing to delete
            flag_dependencies.delete_dependency(session, actor, desired.name, name)
        return
    wanted = next(d for d in desired.dependencies or () if d.name == name)
    fields: dict[str, Any] = {
        "description": wanted.description,
        "probe_url": wanted.probe_url,
        "settings": dict(wanted.settings),
    }
    if exists:
        flag_dependencies.update_dependency(
            session, actor, desired.name, name, clear_probe=wanted.probe_url is None, **fields
        )
    else:
        flag_dependencies.create_dependency(session, actor, desired.name, name, **fields)


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
    _check_environments(desired, project)
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


# --- export (`trimtab init`) -------------------------------------------------------------


class ServiceEntry(Result):
    """A service as trimtab.toml declares it."""

    name: str
    command: str | None
    manual: bool
    depends_on: list[str]
    downtime: bool
    health: ServiceHealthCheck | None


class WindowLengths(Result):
    """Stabilization window lengths in days: `days` is the project's, which production uses
    unless `environments` gives it its own; only production and the environments listed in
    `environments` open a window."""

    project: str
    days: int
    environments: dict[str, int]


class FreezeEntry(Result):
    """A freeze as trimtab.toml declares it: recurring (`cron`, `duration`) or one period
    (`start`, `end`, ISO 8601 in UTC)."""

    name: str
    reason: str
    cron: str | None
    duration: str | None
    start: str | None
    end: str | None
    timezone: str
    environments: list[str]


class FallbackEntry(Result):
    """A flag, in one environment, that serves `variant` while the dependency fails."""

    flag: str
    environment: str
    variant: str


class DependencyEntry(Result):
    """A dependency as trimtab.toml declares it: every setting, and the flags bound to it."""

    name: str
    description: str
    probe_url: str | None
    settings: dict[str, int | float | None]
    flags: list[FallbackEntry]


class ProjectConfigExport(Result):
    """A project's configuration in the trimtab.toml model, and `toml`: the commented file
    `trimtab init` writes (what `trimtab apply` reads back as no change). `runners`: who runs
    each environment's deploy steps (local or agent)."""

    project: str
    stabilization: WindowLengths
    runners: dict[str, str]
    services: list[ServiceEntry]
    freezes: list[FreezeEntry]
    dependencies: list[DependencyEntry]
    toml: str


def _freeze_entry(data: dict[str, Any]) -> FreezeEntry:
    return FreezeEntry(
        name=data["name"],
        reason=data["reason"],
        cron=data.get("cron"),
        duration=data.get("duration"),
        start=data.get("start"),
        end=data.get("end"),
        timezone=data["timezone"],
        environments=data["environments"],
    )


def export_config(session: Session, actor: Actor, slug: str) -> ProjectConfigExport:
    """The project's services, window lengths, freezes, dependencies and fallbacks (read)."""
    project = projects.get_project(session, actor, slug)
    if actor.environment_id is not None:
        # The file holds every environment's fallbacks and windows: not for a token that must
        # see one environment only.
        raise Forbidden("the project's configuration spans every environment: export it unbound")
    config = current_config(session, project)
    return ProjectConfigExport(
        project=config.name,
        stabilization=WindowLengths(
            project=config.name,
            days=config.stabilization_days,
            environments=dict(config.stabilization_environments),
        ),
        runners={e.name: e.runner for e in project.environments},
        services=[
            ServiceEntry(
                name=s.name,
                command=s.command,
                manual=s.manual,
                depends_on=list(s.depends_on),
                downtime=s.downtime,
                health=None if s.health is None else ServiceHealthCheck(**vars(s.health)),
            )
            for s in config.services
        ],
        freezes=[_freeze_entry(f.as_dict()) for f in config.freezes],
        dependencies=[
            DependencyEntry(
                name=d.name,
                description=d.description,
                probe_url=d.probe_url,
                settings=dict(d.settings),
                flags=[
                    FallbackEntry(flag=f.flag, environment=f.environment, variant=f.variant)
                    for f in config.fallbacks
                    if d.name in f.dependencies
                ],
            )
            for d in config.dependencies or ()
        ],
        toml=render_config(config),
    )


# --- window lengths (`trimtab window`) ------------------------------------------------------


def window_lengths(session: Session, actor: Actor, slug: str) -> WindowLengths:
    project = projects.get_project(session, actor, slug)
    days, per_env = stabilization.window_settings(session, project.id)
    return WindowLengths(project=project.slug, days=days, environments=per_env)


def set_window_length(
    session: Session,
    actor: Actor,
    slug: str,
    days: int | None,
    *,
    environment: str | None = None,
) -> WindowLengths:
    """Set the project's window length (`environment` None), or one environment's; `days` None
    with an environment removes its own length (production then uses the project's, other
    environments open no window). Admin, audited as `stabilization.update`."""
    project = projects.get_project(session, actor, slug, scope="admin")
    current, per_env = stabilization.window_settings(session, project.id)
    if days is not None:
        try:
            windows.validate_window_days(days)
        except windows.WindowError as exc:
            raise InvalidInput(str(exc)) from exc
    if environment is None:
        if days is None:
            raise InvalidInput("give the number of days (the project's window has no unset)")
        current = days
    else:
        projects.get_environment(session, project, environment)
        if days is None:
            per_env.pop(environment, None)
        else:
            per_env[environment] = days
    if (current, per_env) != stabilization.window_settings(session, project.id):
        stabilization.set_window_settings(session, actor, project, current, per_env)
    return WindowLengths(project=project.slug, days=current, environments=per_env)


__all__ = [
    "ConfigDiff",
    "ProjectConfigExport",
    "WindowLengths",
    "current_config",
    "export_config",
    "plan_or_apply",
    "set_window_length",
    "window_lengths",
]
