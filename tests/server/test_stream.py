"""The SSE stream delivers a committed change to a connected client within the same second."""

from __future__ import annotations

import threading
import time

import httpx

from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT, WAIT, ThreadedServer, read_events
from trimtab.store.notify import Change, announce


def test_stream__committed_change__delivered_with_its_fields(
    threaded_server: ThreadedServer,
) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    created = httpx.post(
        f"{threaded_server.url}/api/v1/projects",
        json={"slug": "shop"},
        headers=headers,
        timeout=HTTP_TIMEOUT,
    )
    project_id = created.json()["id"]
    found: list[dict[str, object]] = []
    ready = threading.Event()
    reader = threading.Thread(
        target=read_events,
        args=(
            f"{threaded_server.url}/api/v1/stream?project=shop&environment=production",
            headers,
            found,
            ready,
        ),
    )
    reader.start()
    assert ready.wait(5)
    time.sleep(0.05)  # the subscription is registered before ": connected" is sent
    store = threaded_server.app.state.store  # type: ignore[attr-defined]
    with store.write() as session:
        announce(session, Change("flags.changed", project_id, "staging", {"etag": "old"}))
        announce(session, Change("flags.changed", project_id, "production", {"etag": "abc"}))
    reader.join(5)
    assert found == [
        {
            "kind": "flags.changed",
            "project_id": project_id,
            "environment": "production",
            "etag": "abc",
        }
    ]


def test_stream__sdk_token__only_its_own_environment_whatever_it_asks(
    threaded_server: ThreadedServer,
) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    created = httpx.post(
        f"{threaded_server.url}/api/v1/projects",
        json={"slug": "shop"},
        headers=headers,
        timeout=HTTP_TIMEOUT,
    )
    project_id = created.json()["id"]
    body = {"name": "sdk", "scopes": ["sdk-client"], "project": "shop", "environment": "staging"}
    secret = httpx.post(
        f"{threaded_server.url}/api/v1/tokens", json=body, headers=headers, timeout=HTTP_TIMEOUT
    )
    found: list[dict[str, object]] = []
    ready = threading.Event()
    reader = threading.Thread(
        target=read_events,
        args=(
            f"{threaded_server.url}/api/v1/stream?environment=production",
            {"Authorization": f"Bearer {secret.json()['token']}"},
            found,
            ready,
        ),
    )
    reader.start()
    assert ready.wait(5)
    time.sleep(0.05)  # the subscription is registered before ": connected" is sent
    store = threaded_server.app.state.store  # type: ignore[attr-defined]
    with store.write() as session:
        announce(session, Change("flags.changed", project_id, "production", {"etag": "p"}))
        announce(session, Change("flags.changed", project_id, "staging", {"etag": "s"}))
    reader.join(5)
    assert [event["etag"] for event in found] == ["s"]


def test_stream__openapi__declares_an_event_stream(threaded_server: ThreadedServer) -> None:
    document = httpx.get(f"{threaded_server.url}/api/v1/openapi.json", timeout=HTTP_TIMEOUT).json()
    answer = document["paths"]["/api/v1/stream"]["get"]["responses"]["200"]
    assert list(answer["content"]) == ["text/event-stream"]


def test_stream__no_token__401(threaded_server: ThreadedServer) -> None:
    assert (
        httpx.get(
            f"{threaded_server.url}/api/v1/stream?project=shop", timeout=HTTP_TIMEOUT
        ).status_code
        == 401
    )


def test_stream__unbound_token_without_project__403(threaded_server: ThreadedServer) -> None:
    response = httpx.get(
        f"{threaded_server.url}/api/v1/stream",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 403


def test_stream__dependency_defined_and_changed__dependencies_changed_events(
    threaded_server: ThreadedServer,
) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=threaded_server.url, headers=headers, timeout=HTTP_TIMEOUT) as http:
        assert http.post("/api/v1/projects", json={"slug": "shop"}).status_code == 201
        found: list[dict[str, object]] = []
        ready = threading.Event()
        url = f"{threaded_server.url}/api/v1/stream?project=shop&kinds=dependencies.changed"
        reader = threading.Thread(
            target=read_events,
            args=(url, headers, found, ready, lambda event: event.get("state") is None),
        )
        reader.start()
        assert ready.wait(WAIT)
        time.sleep(0.05)  # the subscription is registered before ": connected" is sent
        base = "/api/v1/projects/shop/dependencies"
        assert http.post(base, json={"name": "billing-api"}).status_code == 201
        assert http.patch(f"{base}/billing-api", json={"up_after": 4}).status_code == 200
        assert http.delete(f"{base}/billing-api").status_code == 200
        reader.join(WAIT)
    assert not reader.is_alive()
    seen = [(e["kind"], e["dependency"], e["state"]) for e in found]
    assert seen == [
        ("dependencies.changed", "billing-api", "healthy"),
        ("dependencies.changed", "billing-api", "healthy"),
        ("dependencies.changed", "billing-api", None),
    ]
