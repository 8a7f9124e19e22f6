"""/api/v1/projects/{slug}/releases/health: crash-free sessions and users per release."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from trimtab.domain.reports import release_health
from trimtab.domain.spine.actors import Actor
from trimtab.server.auth import current_actor, store_of

router = APIRouter(tags=["release health"])


@router.get("/projects/{slug}/releases/health")
def list_release_health(
    slug: str,
    request: Request,
    environment: str | None = Query(default=None, max_length=64),
    release: str | None = Query(default=None, max_length=200),
    actor: Actor = Depends(current_actor),
) -> list[dict[str, Any]]:
    with store_of(request).read() as session:
        rows = release_health.release_health(
            session, actor, slug, environment=environment, release=release
        )
        return [row.to_dict() for row in rows]


@router.get("/projects/{slug}/releases/health/hourly")
def hourly_release_health(
    slug: str,
    request: Request,
    release: str = Query(min_length=1, max_length=200),
    environment: str | None = Query(default=None, max_length=64),
    hours: int = Query(default=48, ge=1, le=release_health.MAX_SERIES_HOURS),
    actor: Actor = Depends(current_actor),
) -> dict[str, Any]:
    with store_of(request).read() as session:
        series = release_health.release_series(
            session,
            actor,
            slug,
            release,
            environment=environment,
            hours=hours,
            now=datetime.now(UTC),
        )
        return {
            "project": slug,
            "release": release,
            "environment": environment,
            "hours": [h.to_dict() for h in series],
        }
