"""Services of a project: how each is deployed, how it is checked, what it depends on.

Who may change what: the deploy command and the health-check URL decide what the trimtab host
runs and fetches, so only admin tokens set them (a deploy token triggers deploys but never
defines them). Other settings (requirements, downtime, check retries) need the deploy scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trimtab.core.commands import CommandError, template_placeholders
from trimtab.core.names import InvalidName, check_name
from trimtab.core.planning import PlanningError, validate_requirements_change
from trimtab.core.urls import InvalidUrl, check_url
from trimtab.domain.errors import Conflict, InvalidInput, NotFound
from trimtab.domain.results import IsoTime, Result
from trimtab.domain.spine import audit, projects
from trimtab.domain.spine.actors import Actor
from trimtab.store.models import Project, Service, ServiceRequirement, utcnow

_UNSET: Any = object()


@dataclass
class ServiceFields:
    """What a create or update sets; `_UNSET` fields are left as they are on update."""

    command: str | None = _UNSET
    depends_on: list[str] = _UNSET
    downtime: bool = _UNSET
    health_url: str | None = _UNSET
    health_expect_status: int = _UNSET
    health_retries: int = _UNSET
    health_interval_s: float = _UNSET
    health_timeout_s: float = _UNSET

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not _UNSET}


class ServiceHealthCheck(Result):
    """How a service is checked after its deploy: GET `url` until it answers `expect_status`,
    `retries` more times at most, `interval_s` apart, each waiting `timeout_s`."""

    url: str
    expect_status: int
    retries: int
    interval_s: float
    timeout_s: float


class ServiceDetail(Result):
    """A service: its deploy command (None: `manual`, another team deploys it and confirms),
    the services it depends on, its health check and whether its deploy means downtime."""

    name: str
    command: str | None
    manual: bool
    depends_on: list[str]
    health: ServiceHealthCheck | None
    downtime: bool
    created_at: IsoTime
    updated_at: IsoTime


class ServiceDeleted(Result):
    """The name of the service just deleted."""

    deleted: str


def _check_command(command: str | None) -> str | None:
    if command is None:
        return None
    try:
        template_placeholders(command)
    except CommandError as exc:
        raise InvalidInput(str(exc)) from exc
    return command


def _check_health_url(url: str | None) -> str | None:
    if url is None:
        return None
    try:
        return check_url(url, "a health URL")
    except InvalidUrl as exc:
        raise InvalidInput(str(exc)) from None


def _check_ranges(values: dict[str, Any]) -> None:
    bounds = {
        "health_expect_status": (100, 599),
        "health_retries": (0, 100),
        "health_interval_s": (0.01, 3600),
        "health_timeout_s": (0.1, 300),
    }
    for key, (low, high) in bounds.items():
        if key in values and not low <= values[key] <= high:
            raise InvalidInput(f"{key} must be from {low} to {high}, got {values[key]}")


def project_services(session: Session, project: Project) -> list[Service]:
    return list(
        session.scalars(
            select(Service).where(Service.project_id == project.id).order_by(Service.name)
        )
    )


def graph_of(session: Session, project: Project) -> dict[str, set[str]]:
    """The project's requirement graph in the form core.planning takes."""
    services = project_services(session, project)
    names = {s.id: s.name for s in services}
    graph: dict[str, set[str]] = {s.name: set() for s in services}
    if names:
        edges = session.execute(
            select(ServiceRequirement.service_id, ServiceRequirement.depends_on_id).where(
                ServiceRequirement.service_id.in_(list(names))
            )
        )
        for service_id, dep_id in edges:
            graph[names[service_id]].add(names[dep_id])
    return graph


def get_service(session: Session, project: Project, name: str) -> Service:
    service = session.scalars(
        select(Service).where(Service.project_id == project.id, Service.name == name)
    ).first()
    if service is None:
        known = ", ".join(s.name for s in project_services(session, project)) or "(none)"
        raise NotFound(f"project {project.slug!r} has no service {name!r}; services: {known}")
    return service


def _set_requirements(
    session: Session, project: Project, service: Service, deps: list[str]
) -> None:
    graph = graph_of(session, project)
    try:
        validate_requirements_change(graph, service.name, deps)
    except PlanningError as exc:
        raise InvalidInput(str(exc), code="invalid_dependencies") from exc
    for row in session.scalars(
        select(ServiceRequirement).where(ServiceRequirement.service_id == service.id)
    ):
        session.delete(row)
    session.flush()
    for dep in sorted(set(deps)):
        target = get_service(session, project, dep)
        session.add(ServiceRequirement(service_id=service.id, depends_on_id=target.id))
    session.flush()


def _apply(session: Session, project: Project, service: Service, values: dict[str, Any]) -> None:
    _check_ranges(values)
    for key, value in values.items():
        if key == "depends_on":
            continue
        if key == "command":
            value = _check_command(value)
        elif key == "health_url":
            value = _check_health_url(value)
        setattr(service, key, value)
    service.updated_at = utcnow()
    session.flush()
    if "depends_on" in values:
        _set_requirements(session, project, service, values["depends_on"])


def create_service(
    session: Session, actor: Actor, slug: str, name: str, fields: ServiceFields, *, manual: bool
) -> Service:
    project = projects.get_project(session, actor, slug, scope="admin")
    try:
        name = check_name(name, "service name")
    except InvalidName as exc:
        raise InvalidInput(str(exc)) from exc
    values = fields.given()
    command = values.get("command")
    if manual and command is not None:
        raise InvalidInput("give either --command or --manual, not both")
    if not manual and command is None:
        raise InvalidInput(
            "a service needs --command TEMPLATE (e.g. './deploy.sh {service} {version} {env}') "
            "or --manual (another team deploys it and confirms)"
        )
    existing = session.scalars(
        select(Service).where(Service.project_id == project.id, Service.name == name)
    ).first()
    if existing is not None:
        raise Conflict(f"project {slug!r} already has a service {name!r}")
    service = Service(project_id=project.id, name=name, command=None)
    session.add(service)
    session.flush()
    _apply(session, project, service, values)
    audit.record(
        session,
        actor,
        "service.create",
        target_type="service",
        target_id=f"{slug}/{name}",
        project_id=project.id,
        after=_audited(session, service),
    )
    return service


def update_service(
    session: Session,
    actor: Actor,
    slug: str,
    name: str,
    fields: ServiceFields,
    *,
    manual: bool = False,
) -> Service:
    values = fields.given()
    if manual:
        if values.get("command") is not None:
            raise InvalidInput("give either --command or --manual, not both")
        values["command"] = None
    # What the host runs or fetches is for admins only.
    defines_host_action = "command" in values or "health_url" in values
    project = projects.get_project(
        session, actor, slug, scope="admin" if defines_host_action else "deploy"
    )
    service = get_service(session, project, name)
    before = _audited(session, service)
    _apply(session, project, service, values)
    after = _audited(session, service)
    if before != after:
        audit.record(
            session,
            actor,
            "service.update",
            target_type="service",
            target_id=f"{slug}/{name}",
            project_id=project.id,
            before=before,
            after=after,
        )
    return service


def delete_service(session: Session, actor: Actor, slug: str, name: str) -> ServiceDeleted:
    project = projects.get_project(session, actor, slug, scope="admin")
    service = get_service(session, project, name)
    dependents = sorted(n for n, deps in graph_of(session, project).items() if name in deps)
    if dependents:
        raise Conflict(f"service {name!r} is still a requirement of {', '.join(dependents)}")
    before = _audited(session, service)
    session.delete(service)
    session.flush()
    audit.record(
        session,
        actor,
        "service.delete",
        target_type="service",
        target_id=f"{slug}/{name}",
        project_id=project.id,
        before=before,
    )
    return ServiceDeleted(deleted=name)


def list_services(session: Session, actor: Actor, slug: str) -> tuple[Project, list[Service]]:
    project = projects.get_project(session, actor, slug)
    return project, project_services(session, project)


def health_check(service: Service) -> ServiceHealthCheck | None:
    if service.health_url is None:
        return None
    return ServiceHealthCheck(
        url=service.health_url,
        expect_status=service.health_expect_status,
        retries=service.health_retries,
        interval_s=service.health_interval_s,
        timeout_s=service.health_timeout_s,
    )


def service_detail(session: Session, service: Service) -> ServiceDetail:
    deps = session.scalars(
        select(Service.name)
        .join(ServiceRequirement, ServiceRequirement.depends_on_id == Service.id)
        .where(ServiceRequirement.service_id == service.id)
        .order_by(Service.name)
    )
    return ServiceDetail(
        name=service.name,
        command=service.command,
        manual=service.command is None,
        depends_on=list(deps),
        health=health_check(service),
        downtime=service.downtime,
        created_at=service.created_at,
        updated_at=service.updated_at,
    )


def _audited(session: Session, service: Service) -> dict[str, Any]:
    """The service as the audit log keeps it: the JSON the API shows."""
    return service_detail(session, service).model_dump(mode="json")
