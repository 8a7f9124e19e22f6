"""Server-sent events: the one loop behind every change stream (trimtab's `/api/v1/stream`,
OFREP's `eventStreams`).

A surface subscribes to the store's notifier (which already fans changes out across nodes) and
passes a `render` that turns a change into its own protocol's event, or None to skip it. The loop
sends a comment line every `HEARTBEAT_S`, which keeps proxies from closing an idle stream and
lets the server notice a client that went away; `retry: 1000` makes clients reconnect within a
second. A client that was away refetches on reconnect (with its ETag), so nothing is lost.

Each open stream holds a connection and a subscription, so one holder (a token, a dashboard
user, a client address) may hold at most `TRIMTAB_MAX_STREAMS_PER_TOKEN` at once in a process
(`StreamSlots`); the slot is given back when the response ends, however it ends.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from trimtab.domain.errors import RateLimited
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
RETRY_AFTER_FULL_S = 5  # a 429 for too many streams: try again after this many seconds


def sse_event(change: Change, event: str, data: Any) -> bytes:
    """One SSE event: the change's sequence number as `id`, `data` as one JSON line."""
    return f"id: {change.seq}\nevent: {event}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


class StreamSlots:
    """Open streams per holder in this process, at most `limit` each (0: no limit)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._open: Counter[str] = Counter()

    def take(self, holder: str, what: str) -> Callable[[], None]:
        """A slot for `holder`, or RateLimited (429) naming `what` holds too many. Returns the
        function that gives the slot back (once, however often it is called)."""
        with self._lock:
            if self.limit and self._open[holder] >= self.limit:
                raise RateLimited(
                    f"{what} already has {self.limit} streams open on this server "
                    "(TRIMTAB_MAX_STREAMS_PER_TOKEN); close one, or share one stream",
                    retry_after=RETRY_AFTER_FULL_S,
                )
            self._open[holder] += 1
        given_back = False

        def give_back() -> None:
            nonlocal given_back
            with self._lock:
                if given_back:
                    return
                given_back = True
                self._open[holder] -= 1
                if self._open[holder] <= 0:
                    del self._open[holder]

        return give_back

    def open_count(self, holder: str) -> int:
        with self._lock:
            return self._open[holder]


def slots_of(request: Request) -> StreamSlots:
    slots: StreamSlots = request.app.state.stream_slots
    return slots


class _EventStreamResponse(StreamingResponse):
    """Runs `on_close` when the response ends, even if its body never started (a client gone
    before the first byte): a generator's `finally` would not run then."""

    def __init__(self, content: AsyncIterator[bytes], on_close: Callable[[], None]) -> None:
        super().__init__(content, media_type=MEDIA_TYPE, headers=HEADERS)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()


def event_stream(
    subscription: Subscription, render: Render, on_close: Callable[[], None] | None = None
) -> StreamingResponse:
    """Stream `subscription`'s changes as `render` formats them; when the client goes, close it
    and call `on_close` (a `StreamSlots` slot's give-back)."""

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b": connected\nretry: 1000\n\n"
            while True:
                change = await subscription.get(HEARTBEAT_S)
                if change is None:
                    yield b": heartbeat\n\n"
                    continue
                if subscription.overflowed:
                    # Changes were dropped or missed: end the stream; the client reconnects
                    # (retry: 1000) and reads the current state rather than miss one silently.
                    return
                event = render(change)
                if event is not None:
                    yield event
        finally:
            subscription.close()

    def closed() -> None:
        subscription.close()
        if on_close is not None:
            on_close()

    return _EventStreamResponse(events(), closed)
