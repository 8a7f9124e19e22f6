"""GET /api/v1/stream: server-sent events telling connected SDKs and pages about changes.

One connection per SDK. Each event is `event: <kind>` with a JSON `data` line (project,
environment and the change's own fields, such as a flag set's new ETag) and an `id`; the loop
itself (heartbeats, reconnection, closing) is server.sse's, shared with OFREP's stream.

What a caller may watch, and see of each change, is the domain's (domain.spine.watch): an SDK
token its own environment, a browser token flag-set and maintenance signals only, an
environment-bound token its environment only. A token (or dashboard user) holds at most
TRIMTAB_MAX_STREAMS_PER_TOKEN streams at once per process (server.sse.StreamSlots): 429 past it.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import StreamingResponse

from trimtab.domain.spine.actors import Actor
from trimtab.domain.spine.watch import Watch, resolve_watch
from trimtab.server.auth import current_actor, store_of
from trimtab.server.sse import OPENAPI_RESPONSE, event_stream, slots_of, sse_event
from trimtab.store.notify import Change

router = APIRouter(tags=["stream"])


@router.get("/stream", response_class=StreamingResponse, responses=OPENAPI_RESPONSE)
async def stream(
    request: Request,
    project: str | None = Query(default=None, max_length=64),
    environment: str | None = Query(default=None, max_length=64),
    kinds: str | None = Query(default=None, max_length=500, description="Comma-separated kinds"),
    actor: Actor = Depends(current_actor),
) -> StreamingResponse:
    watch = await asyncio.to_thread(_resolve, request, actor, project, environment)
    wanted = frozenset(k.strip() for k in kinds.split(",")) if kinds else None

    def render(change: Change) -> bytes | None:
        payload = watch.payload(change, wanted)
        return None if payload is None else sse_event(change, change.kind, payload)

    give_back = slots_of(request).take(_holder(actor), "this token")
    return event_stream(store_of(request).notifier.subscribe(watch.project_id), render, give_back)


def _holder(actor: Actor) -> str:
    if actor.token_id is not None:
        return f"token:{actor.token_id}"
    if actor.user_id is not None:
        return f"user:{actor.user_id}"
    return actor.label


def _resolve(request: Request, actor: Actor, project: str | None, environment: str | None) -> Watch:
    with store_of(request).read() as session:
        return resolve_watch(session, actor, project, environment)
