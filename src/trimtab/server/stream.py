"""GET /api/v1/stream: server-sent events telling connected SDKs and pages about changes.

One connection per SDK. Each event is `event: <kind>` with a JSON `data` line (project,
environment and the change's own fields, such as a flag set's new ETag) and an `id`. A comment
line every `HEARTBEAT_S` keeps proxies from closing an idle stream and lets the server notice a
client that went away. An SDK that was disconnected simply refetches with its ETag on reconnect,
so missing events while away loses nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import StreamingResponse

from trimtab.domain.errors import Forbidden
from trimtab.domain.spine import projects
from trimtab.domain.spine.actors import SDK_SCOPES, Actor
from trimtab.server.auth import current_actor, store_of
from trimtab.store.models import Environment
from trimtab.store.notify import Change

HEARTBEAT_S = 15.0
router = APIRouter(tags=["stream"])


def format_event(change: Change) -> bytes:
    payload = {
        "kind": change.kind,
        "project_id": change.project_id,
        "environment": change.environment,
        **change.data,
    }
    return (
        f"id: {change.seq}\nevent: {change.kind}\ndata: ".encode() + orjson.dumps(payload) + b"\n\n"
    )


@router.get("/stream")
async def stream(
    request: Request,
    project: str | None = Query(default=None, max_length=64),
    environment: str | None = Query(default=None, max_length=64),
    kinds: str | None = Query(default=None, max_length=500, description="Comma-separated kinds"),
    actor: Actor = Depends(current_actor),
) -> StreamingResponse:
    store = store_of(request)
    project_id, environment = await asyncio.to_thread(
        _resolve_scope, request, actor, project, environment
    )
    wanted = {k.strip() for k in kinds.split(",")} if kinds else None
    subscription = store.notifier.subscribe(project_id)

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b": connected\nretry: 1000\n\n"
            while True:
                change = await subscription.get(HEARTBEAT_S)
                if change is None:
                    yield b": heartbeat\n\n"
                    continue
                if environment is not None and change.environment not in (None, environment):
                    continue
                if wanted is not None and change.kind not in wanted:
                    continue
                yield format_event(change)
        finally:
            subscription.close()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def _resolve_scope(
    request: Request, actor: Actor, project: str | None, environment: str | None
) -> tuple[int, str | None]:
    """Which project (and environment) this caller may watch. SDK tokens: their own only."""
    with store_of(request).read() as session:
        if actor.scopes & SDK_SCOPES:
            if actor.project_id is None or actor.environment_id is None:
                raise Forbidden("SDK tokens must be bound to a project and an environment")
            env = session.get(Environment, actor.environment_id)
            assert env is not None  # the foreign key guarantees it
            return actor.project_id, env.name
        if project is None:
            if actor.project_id is None:
                raise Forbidden("name the project to watch: ?project=SLUG")
            return actor.project_id, environment
        found = projects.get_project(session, actor, project)
        if environment is not None:
            projects.get_environment(session, found, environment)
        return found.id, environment
