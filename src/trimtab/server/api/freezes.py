"""/api/v1/projects/{slug}/freezes: calendar freezes and what blocks a deploy now."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from trimtab.core.windows import Freeze
from trimtab.domain.releases import stabilization
from trimtab.domain.releases.stabilization import FreezeRemoved, FreezeStatus, FreezeSummary
from trimtab.domain.spine.actors import Actor
from trimtab.server.api.deploy_schemas import FreezeCreate
from trimtab.server.auth import current_actor, store_of

router = APIRouter(tags=["freezes"])


def _freeze(body: FreezeCreate) -> Freeze:
    return stabilization.freeze_of(
        body.name,
        body.reason,
        start=body.start,
        end=body.end,
        cron=body.cron,
        duration=body.duration,
        timezone=body.timezone,
        environments=body.environments,
    )


@router.get("/projects/{slug}/freezes", response_model=FreezeStatus)
def freeze_status(
    slug: str,
    request: Request,
    environment: str | None = Query(default=None, max_length=64),
    actor: Actor = Depends(current_actor),
) -> FreezeStatus:
    with store_of(request).read() as session:
        return stabilization.freeze_status(session, actor, slug, environment)


@router.post("/projects/{slug}/freezes", status_code=201, response_model=FreezeSummary)
def add_freeze(
    slug: str, body: FreezeCreate, request: Request, actor: Actor = Depends(current_actor)
) -> FreezeSummary:
    freeze = _freeze(body)
    with store_of(request).write() as session:
        rule = stabilization.add_freeze(session, actor, slug, freeze)
        return stabilization.freeze_summary(rule)


@router.delete("/projects/{slug}/freezes/{name}", response_model=FreezeRemoved)
def remove_freeze(
    slug: str, name: str, request: Request, actor: Actor = Depends(current_actor)
) -> FreezeRemoved:
    with store_of(request).write() as session:
        return stabilization.remove_freeze(session, actor, slug, name[:100])
