"""/api/v1/projects/{slug}/releases/health: crash-free sessions and users per release."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Query, Request

from trimtab.domain.reports import release_health
from trimtab.domain.reports.release_health import ReleaseHealthSeries, ReleaseHealthSummary
from trimtab.domain.spine.actors import Actor
from trimtab.server.auth import current_actor, store_of

router = APIRouter(tags=["release health"])


@router.get("/projects/{slug}/releases/health", status_code=200)
def list_release_health(
    slug: str,
    request: Request,
    environment: str | None = Query(default=None, max_length=64),
    release: str | None = Query(default=None, max_length=200),
    actor: Actor = Depends(current_actor),
) -> list[ReleaseHealthSummary]:
    with store_of(request).read() as session:
        return release_health.release_health(
            session, actor, slug, environment=environment, release=release
        )


@router.get("/projects/{slug}/releases/health/hourly", status_code=200)
def hourly_release_health(
    slug: str,
    request: Request,
    release: str = Query(min_length=1, max_length=200),
    environment: str | None = Query(default=None, max_length=64),
    hours: int = Query(default=48, ge=1, le=release_health.MAX_SERIES_HOURS),
    actor: Actor = Depends(current_actor),
) -> ReleaseHealthSeries:
    with store_of(request).read() as session:
        return release_health.release_series(
            session,
            actor,
            slug,
            release,
            environment=environment,
            hours=hours,
            now=datetime.now(UTC),
        )
