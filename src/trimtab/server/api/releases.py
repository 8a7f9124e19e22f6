"""/api/v1/projects/{slug}/releases: releases and their windows' verdicts."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from trimtab.domain.releases import releases
from trimtab.domain.releases.releases import ReleaseDetail, ReleaseSummary
from trimtab.domain.spine.actors import Actor
from trimtab.server.api.deploy_schemas import ReleaseCreate
from trimtab.server.auth import current_actor, store_of

router = APIRouter(tags=["releases"])


@router.get("/projects/{slug}/releases", response_model=list[ReleaseSummary])
def list_releases(
    slug: str,
    request: Request,
    limit: int = Query(default=100, ge=1, le=500),
    actor: Actor = Depends(current_actor),
) -> list[ReleaseSummary]:
    with store_of(request).read() as session:
        return [
            releases.release_summary(r) for r in releases.list_releases(session, actor, slug, limit)
        ]


@router.post("/projects/{slug}/releases", status_code=201, response_model=ReleaseSummary)
def create_release(
    slug: str, body: ReleaseCreate, request: Request, actor: Actor = Depends(current_actor)
) -> ReleaseSummary:
    with store_of(request).write() as session:
        release = releases.create_release(session, actor, slug, body.version, body.services)
        return releases.release_summary(release)


@router.get("/projects/{slug}/releases/{version}", response_model=ReleaseDetail)
def get_release(
    slug: str, version: str, request: Request, actor: Actor = Depends(current_actor)
) -> ReleaseDetail:
    with store_of(request).read() as session:
        return releases.release_detail(session, actor, slug, version)
