"""/api/v1/projects/{slug}/freezes: calendar freezes and what blocks a deploy now."""

from __future__ import annotations

from datetime import UTC

from fastapi import APIRouter, Depends, Query, Request

from trimtab.core.cron import DurationError, parse_duration
from trimtab.core.windows import Freeze, WindowError
from trimtab.domain.errors import InvalidInput
from trimtab.domain.releases import stabilization
from trimtab.domain.releases.stabilization import FreezeRemoved, FreezeStatus, FreezeSummary
from trimtab.domain.spine.actors import Actor
from trimtab.server.api.deploy_schemas import FreezeCreate
from trimtab.server.auth import current_actor, store_of

router = APIRouter(tags=["freezes"])


def _freeze(body: FreezeCreate) -> Freeze:
    try:
        duration = parse_duration(body.duration) if body.duration else None
        start = body.start
        end = body.end
        # A time without an offset is read as UTC, not as the server's local time.
        if start is not None and start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        if end is not None and end.tzinfo is None:
            end = end.replace(tzinfo=UTC)
        return Freeze(
            name=body.name,
            reason=body.reason,
            start=start,
            end=end,
            cron=body.cron,
            duration=duration,
            timezone=body.timezone,
            environments=tuple(body.environments),
        )
    except (WindowError, DurationError) as exc:
        raise InvalidInput(str(exc)) from exc


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
