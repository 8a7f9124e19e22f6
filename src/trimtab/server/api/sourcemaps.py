"""/api/v1/projects/{slug}/sourcemaps: the artifact bundles sentry-cli uploaded."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from trimtab.domain.reports import artifacts
from trimtab.domain.reports.artifacts import BundleSummary
from trimtab.domain.spine.actors import Actor
from trimtab.server.auth import current_actor, store_of

router = APIRouter(tags=["source maps"])


@router.get("/projects/{slug}/sourcemaps", response_model=list[BundleSummary])
def list_sourcemaps(
    slug: str,
    request: Request,
    release: str | None = Query(default=None, max_length=200),
    limit: int = Query(default=100, ge=1, le=500),
    actor: Actor = Depends(current_actor),
) -> list[BundleSummary]:
    with store_of(request).read() as session:
        return artifacts.list_bundles(session, actor, slug, release, limit)
