"""/api/v1/config: `trimtab apply` (diff, then sync a trimtab.toml); a project's configuration
exported for `trimtab init`; its window lengths (`trimtab window`); DORA figures."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from trimtab.domain.releases import config_sync, dora
from trimtab.domain.releases.config_sync import ConfigDiff, ProjectConfigExport, WindowLengths
from trimtab.domain.releases.dora import DoraFigures
from trimtab.domain.spine.actors import Actor
from trimtab.server.api.deploy_schemas import ConfigText, WindowLengthBody
from trimtab.server.auth import current_actor, store_of

router = APIRouter(tags=["config"])


@router.post("/config/diff", response_model=ConfigDiff)
def diff(body: ConfigText, request: Request, actor: Actor = Depends(current_actor)) -> ConfigDiff:
    with store_of(request).read() as session:
        return config_sync.plan_or_apply(session, actor, body.toml, apply=False)


@router.post("/config/apply", response_model=ConfigDiff)
def apply(body: ConfigText, request: Request, actor: Actor = Depends(current_actor)) -> ConfigDiff:
    with store_of(request).write() as session:
        return config_sync.plan_or_apply(session, actor, body.toml, apply=True)


@router.get("/projects/{slug}/config", response_model=ProjectConfigExport)
def export(
    slug: str, request: Request, actor: Actor = Depends(current_actor)
) -> ProjectConfigExport:
    with store_of(request).read() as session:
        return config_sync.export_config(session, actor, slug)


@router.get("/projects/{slug}/stabilization", response_model=WindowLengths)
def window_lengths(
    slug: str, request: Request, actor: Actor = Depends(current_actor)
) -> WindowLengths:
    with store_of(request).read() as session:
        return config_sync.window_lengths(session, actor, slug)


@router.put("/projects/{slug}/stabilization", response_model=WindowLengths)
def set_window_length(
    slug: str, body: WindowLengthBody, request: Request, actor: Actor = Depends(current_actor)
) -> WindowLengths:
    with store_of(request).write() as session:
        return config_sync.set_window_length(
            session, actor, slug, body.days, environment=body.environment
        )


@router.get("/projects/{slug}/dora", response_model=DoraFigures)
def dora_figures(
    slug: str,
    request: Request,
    environment: str = Query(default="production", max_length=64),
    days: int = Query(default=30, ge=1, le=365),
    actor: Actor = Depends(current_actor),
) -> DoraFigures:
    with store_of(request).read() as session:
        return dora.figures(session, actor, slug, environment, days)
