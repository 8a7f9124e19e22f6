"""Helpers for the SDK's live tests: a project with an SDK token, flags, a server on a port."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

from tests.support import WAIT, LiveServer, start_server


class Http(Protocol):
    def post(self, url: str, **kwargs: Any) -> Any: ...
    def put(self, url: str, **kwargs: Any) -> Any: ...


def sdk_project(http: Http, slug: str = "shop", environment: str = "production") -> str:
    """Create `slug` with `environment`; return an sdk-server token bound to both."""
    response = http.post("/api/v1/projects", json={"slug": slug, "environments": [environment]})
    assert response.status_code == 201, response.text
    return token(http, ["sdk-server"], slug, environment)


def token(http: Http, scopes: list[str], project: str, environment: str | None) -> str:
    body = {"name": "-".join(scopes), "scopes": scopes, "project": project}
    if environment:
        body["environment"] = environment
    response = http.post("/api/v1/tokens", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def make_flag(
    http: Http,
    key: str,
    *,
    enabled: bool = True,
    slug: str = "shop",
    environment: str = "production",
    **config: Any,
) -> None:
    body = {"key": key, "environments": {environment: {"enabled": enabled, **config}}}
    response = http.post(f"/api/v1/projects/{slug}/flags", json=body)
    assert response.status_code == 201, response.text


def start_on_port(database_url: str, data_dir: Path, port: int) -> LiveServer:
    """`python -m trimtab serve` on a given port (to restart a server where SDKs expect it)."""
    return start_server(database_url, data_dir, port=port)


def wait_for(condition: Any, timeout: float = WAIT, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())
