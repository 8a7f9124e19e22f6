"""Server-sent events: the one loop behind every change stream (trimtab's `/api/v1/stream`,
OFREP's `eventStreams`).

A surface subscribes to the store's notifier (which already fans changes out across nodes) and
passes a `render` that turns a change into its own protocol's event, or None to skip it. The loop
sends a comment line every `HEARTBEAT_S`, which keeps proxies from closing an idle stream and
lets the server notice a client that went away; `retry: 1000` makes clients reconnect within a
second. A client that was away refetches on reconnect (with its ETag), so nothing is lost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from starlette.responses import StreamingResponse

from trimtab.store.notify import Change, Subscription

HEARTBEAT_S = 15.0
MEDIA_TYPE = "text/event-stream"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# For OpenAPI: what a route answering with `event_stream` declares as its 200.
OPENAPI_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events, one per change, and a comment line as heartbeat",
        "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
    }
}

Render = Callable[[Change], bytes | None]


def sse_event(change: Change, event: str, data: Any) -> bytes:
    """One SSE event: the change's sequence number as `id`, `data` as one JSON line."""
    return f"id: {change.seq}\nevent: {event}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


def event_stream(subscription: Subscription, render: Render) -> StreamingResponse:
    """Stream `subscription`'s changes as `render` formats them; closes it when the client goes."""

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b": connected\nretry: 1000\n\n"
            while True:
                change = await subscription.get(HEARTBEAT_S)
                if change is None:
                    yield b": heartbeat\n\n"
                    continue
                event = render(change)
                if event is not None:
                    yield event
        finally:
            subscription.close()

    return StreamingResponse(events(), media_type=MEDIA_TYPE, headers=HEADERS)
