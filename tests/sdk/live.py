"""Helpers for the SDK's live tests: a project with an SDK token, flags, a server on a port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Protocol

import httpx

from tests.support import ADMIN_PASSWORD, ADMIN_TOKEN, LiveServer


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
    env = {
        **os.environ,
        "TRIMTAB_DATABASE_URL": database_url,
        "TRIMTAB_DATA_DIR": str(data_dir),
        "TRIMTAB_ADMIN_TOKEN": ADMIN_TOKEN,
        "TRIMTAB_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"server-{port}-{time.monotonic_ns()}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trimtab",
                "serve",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, env, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"trimtab serve exited early:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"trimtab serve not ready in 30 s:\n{server.log()}")


def wait_for(condition: Any, timeout: float = 10.0, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())
