"""GET /api/v1/stream: server-sent events telling connected SDKs and pages about changes.

One connection per SDK. Each event is `event: <kind>` with a JSON `data` line (project,
environment and the change's own fields, such as a flag set's new ETag) and an `id`; the loop
itself (heartbeats, reconnection, closing) is server.sse's, shared with OFREP's stream.

An SDK token watches its own project and environment only (resolved by the one SDK-token check,
domain.spine.tokens.sdk_caller); other callers name a project they may read.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import StreamingResponse

from trimtab.domain.errors import Forbidden
from trimtab.domain.spine import projects, tokens
from trimtab.domain.spine.actors import SDK_SCOPES, Actor
from trimtab.server.auth import current_actor, store_of
from trimtab.server.sse import OPENAPI_RESPONSE, event_stream, sse_event
from trimtab.store.notify import Change

router = APIRouter(tags=["stream"])


def format_event(change: Change) -> bytes:
    payload = {
        "kind": change.kind,
        "project_id": change.project_id,
        "environment": change.environment,
        **change.data,
    }
    return sse_event(change, change.kind, payload)


@router.get("/stream", response_class=StreamingResponse, responses=OPENAPI_RESPONSE)
async def stream(
    request: Request,
    project: str | None = Query(default=None, max_length=64),
    environment: str | None = Query(default=None, max_length=64),
    kinds: str | None = Query(default=None, max_length=500, description="Comma-separated kinds"),
    actor: Actor = Depends(current_actor),
) -> StreamingResponse:
    project_id, environment = await asyncio.to_thread(
        _resolve_scope, request, actor, project, environment
    )
    wanted = {k.strip() for k in kinds.split(",")} if kinds else None

    def render(change: Change) -> bytes | None:
        if environment is not None and change.environment not in (None, environment):
            return None
        if wanted is not None and change.kind not in wanted:
            return None
        return format_event(change)

    return event_stream(store_of(request).notifier.subscribe(project_id), render)


def _resolve_scope(
    request: Request, actor: Actor, project: str | None, environment: str | None
) -> tuple[int, str | None]:
    """Which project (and environment) this caller may watch. SDK tokens: their own only."""
    with store_of(request).read() as session:
        if actor.scopes & SDK_SCOPES:
            caller = tokens.sdk_caller(session, actor)
            return caller.project_id, caller.environment
        if project is None:
            if actor.project_id is None:
                raise Forbidden("name the project to watch: ?project=SLUG")
            return actor.project_id, environment
        found = projects.get_project(session, actor, project)
        if environment is not None:
            projects.get_environment(session, found, environment)
        return found.id, environment
