"""Error events sent to a live server as a Sentry SDK sends them: one envelope per event."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from tests.support import HTTP_TIMEOUT, LiveServer


def send_event(server: LiveServer, project: dict[str, Any], event: dict[str, Any]) -> str:
    """POST `event` in an envelope with the project's DSN key; returns its event id."""
    key = httpx.URL(project["dsn"]).username
    body = b"\n".join([b"{}", b'{"type":"event"}', orjson.dumps(event)])
    response = httpx.post(
        f"{server.url}/api/{project['id']}/envelope/?sentry_key={key}",
        content=body,
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return str(event["event_id"])
