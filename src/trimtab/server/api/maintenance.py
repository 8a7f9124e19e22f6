"""Maintenance notices: the public JSON that pages and middleware read, and the switches."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response

from trimtab.domain.releases import maintenance
from trimtab.domain.releases.maintenance import MaintenanceStatus, NoMaintenance
from trimtab.domain.spine.actors import Actor
from trimtab.server.api.deploy_schemas import MaintenanceOn
from trimtab.server.auth import current_actor, store_of
from trimtab.store.models import MAX_ROW_ID

router = APIRouter(tags=["maintenance"])


@router.get("/maintenance/{slug}/{environment}", response_model=MaintenanceStatus | NoMaintenance)
def public_notice(
    slug: str, environment: str, request: Request, response: Response
) -> MaintenanceStatus | NoMaintenance:
    """No authentication: what any visitor's page may show. Cached briefly; any origin."""
    with store_of(request).read() as session:
        state = maintenance.public_state_by_slug(session, slug[:64], environment[:64])
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "public, max-age=5"
    return state


@router.get("/projects/{slug}/maintenance/{environment}", response_model=MaintenanceStatus)
def maintenance_status(
    slug: str, environment: str, request: Request, actor: Actor = Depends(current_actor)
) -> MaintenanceStatus:
    with store_of(request).read() as session:
        return maintenance.status(session, actor, slug, environment)


@router.post(
    "/projects/{slug}/maintenance/{environment}",
    status_code=201,
    response_model=MaintenanceStatus,
)
def maintenance_on(
    slug: str,
    environment: str,
    body: MaintenanceOn,
    request: Request,
    actor: Actor = Depends(current_actor),
) -> MaintenanceStatus:
    with store_of(request).write() as session:
        maintenance.turn_on(
            session,
            actor,
            slug,
            environment,
            message=body.message,
            starts_at=body.starts_at,
            expected_end=body.expected_end,
        )
        return maintenance.status(session, actor, slug, environment)


@router.delete("/projects/{slug}/maintenance/{environment}", response_model=MaintenanceStatus)
def maintenance_off(
    slug: str,
    environment: str,
    request: Request,
    notice_id: int | None = Query(default=None, alias="id", ge=1, le=MAX_ROW_ID),
    actor: Actor = Depends(current_actor),
) -> MaintenanceStatus:
    with store_of(request).write() as session:
        maintenance.turn_off(session, actor, slug, environment, notice_id=notice_id)
        return maintenance.status(session, actor, slug, environment)
