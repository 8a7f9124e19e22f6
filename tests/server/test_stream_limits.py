"""A token holds at most TRIMTAB_MAX_STREAMS_PER_TOKEN change streams at once (OFREP event
streams: per client address); one more is refused with 429, and a closed stream frees its slot.

Real HTTP (a threaded uvicorn), so closing a stream is a real disconnect. Waits are on
conditions with generous deadlines, never on durations.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.support import ADMIN_TOKEN, ThreadedServer, free_port
from trimtab.server.app import create_app
from trimtab.server.sse import StreamSlots
from trimtab.settings import Settings
from trimtab.store.db import Store

LIMIT = 2
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def server(settings: Settings, store: Store) -> Iterator[ThreadedServer]:
    port = free_port()
    settings = dataclasses.replace(
        settings, max_streams_per_token=LIMIT, public_url=f"http://127.0.0.1:{port}"
    )
    app = create_app(settings, store=store)
    with ThreadedServer(app, port) as running:
        running.app = app  # type: ignore[attr-defined]
        yield running


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _open(stack: ExitStack, http: httpx.Client, url: str, headers: dict[str, str]) -> ExitStack:
    """Open one stream (its own ExitStack, so it can be closed alone); wait for ': connected'."""
    one = stack.enter_context(ExitStack())
    response = one.enter_context(http.stream("GET", url, headers=headers))
    assert response.status_code == 200, response.read()
    lines = response.iter_lines()
    assert next(lines).startswith(": connected")
    one.callback(lines.close)  # held until the stream is closed: a dropped iterator closes it
    return one


def _token(http: httpx.Client, name: str, scopes: list[str]) -> tuple[dict[str, str], str]:
    """Headers carrying a new token bound to shop/production, and its holder in StreamSlots."""
    body = {"name": name, "scopes": scopes, "project": "shop", "environment": "production"}
    created = http.post("/api/v1/tokens", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    token = created.json()
    return {"Authorization": f"Bearer {token['token']}"}, f"token:{token['id']}"


def test_stream__one_more_than_the_limit__429_until_one_closes(server: ThreadedServer) -> None:
    slots: StreamSlots = server.app.state.stream_slots  # type: ignore[attr-defined]
    with httpx.Client(base_url=server.url, timeout=30) as http, ExitStack() as stack:
        assert http.post("/api/v1/projects", json={"slug": "shop"}, headers=ADMIN).is_success
        reader, holder = _token(http, "reader", ["read"])
        streams = [_open(stack, http, "/api/v1/stream", reader) for _ in range(LIMIT)]
        refused = http.get("/api/v1/stream", headers=reader)
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert "TRIMTAB_MAX_STREAMS_PER_TOKEN" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) > 0
        other, _ = _token(http, "other", ["read"])
        _open(stack, http, "/api/v1/stream", other)  # another token is counted apart
        streams[0].close()
        _wait_for(lambda: slots.open_count(holder) < LIMIT, "the closed stream's slot")
        _open(stack, http, "/api/v1/stream", reader)
        assert http.get("/api/v1/stream", headers=reader).status_code == 429


def test_ofrep_stream__one_more_than_the_limit_from_an_address__429_until_one_closes(
    server: ThreadedServer,
) -> None:
    slots: StreamSlots = server.app.state.stream_slots  # type: ignore[attr-defined]
    with httpx.Client(base_url=server.url, timeout=30) as http, ExitStack() as stack:
        assert http.post("/api/v1/projects", json={"slug": "shop"}, headers=ADMIN).is_success
        sdk, _ = _token(http, "browser", ["sdk-client"])
        bulk = http.post("/ofrep/v1/evaluate/flags", json={"context": {}}, headers=sdk)
        (stream,) = bulk.json()["eventStreams"]
        url = stream["url"]
        streams = [_open(stack, http, url, {}) for _ in range(LIMIT)]
        refused = http.get(url)
        assert refused.status_code == 429
        assert "TRIMTAB_MAX_STREAMS_PER_TOKEN" in refused.json()["errorDetails"]
        assert int(refused.headers["retry-after"]) > 0
        streams[0].close()
        _wait_for(lambda: slots.open_count("address:127.0.0.1") < LIMIT, "the slot")
        _open(stack, http, url, {})
