"""/api/v1/projects/{slug}/services: services, their deploy commands, checks and dependencies."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from trimtab.domain.releases import services
from trimtab.domain.releases.services import ServiceDeleted, ServiceDetail
from trimtab.domain.spine.actors import Actor
from trimtab.server.api.deploy_schemas import ServiceBody, ServiceCreate, ServiceUpdate
from trimtab.server.auth import current_actor, store_of

router = APIRouter(tags=["services"])


def _fields(body: ServiceBody) -> services.ServiceFields:
    given = {k: getattr(body, k) for k in body.model_fields_set if k not in ("name", "manual")}
    # Only the command and the health URL can be cleared; another null means "leave it".
    for key in [k for k, v in given.items() if v is None and k not in ("command", "health_url")]:
        given.pop(key)
    return services.ServiceFields(**given)


@router.get("/projects/{slug}/services", response_model=list[ServiceDetail])
def list_services(
    slug: str, request: Request, actor: Actor = Depends(current_actor)
) -> list[ServiceDetail]:
    with store_of(request).read() as session:
        _, found = services.list_services(session, actor, slug)
        return [services.service_detail(session, s) for s in found]


@router.post("/projects/{slug}/services", status_code=201, response_model=ServiceDetail)
def create_service(
    slug: str, body: ServiceCreate, request: Request, actor: Actor = Depends(current_actor)
) -> ServiceDetail:
    with store_of(request).write() as session:
        service = services.create_service(
            session, actor, slug, body.name, _fields(body), manual=body.manual
        )
        return services.service_detail(session, service)


@router.get("/projects/{slug}/services/{name}", response_model=ServiceDetail)
def get_service(
    slug: str, name: str, request: Request, actor: Actor = Depends(current_actor)
) -> ServiceDetail:
    with store_of(request).read() as session:
        project, _ = services.list_services(session, actor, slug)
        return services.service_detail(session, services.get_service(session, project, name))


@router.patch("/projects/{slug}/services/{name}", response_model=ServiceDetail)
def update_service(
    slug: str,
    name: str,
    body: ServiceUpdate,
    request: Request,
    actor: Actor = Depends(current_actor),
) -> ServiceDetail:
    with store_of(request).write() as session:
        service = services.update_service(
            session, actor, slug, name, _fields(body), manual=body.manual
        )
        return services.service_detail(session, service)


@router.delete("/projects/{slug}/services/{name}", response_model=ServiceDeleted)
def delete_service(
    slug: str, name: str, request: Request, actor: Actor = Depends(current_actor)
) -> ServiceDeleted:
    with store_of(request).write() as session:
        return services.delete_service(session, actor, slug, name)
