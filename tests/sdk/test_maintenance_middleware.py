"""Maintenance is on exactly while a downtime step runs; the ASGI and WSGI middleware answer 503
with Retry-After then, and 200 after. A real server runs a real deploy; the test holds the
downtime step open with a file it creates when it has seen what it wants to see."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient

from tests.support import ADMIN_TOKEN, HTTP_TIMEOUT, WAIT, ThreadedServer, run_cli
from trimtab.sdk.maintenance import (
    MaintenanceMiddleware,
    MaintenanceWatcher,
    WSGIMaintenanceMiddleware,
)


async def _asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"movie booking"})


def _wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"movie booking"]


def _wsgi_get(
    app: WSGIMaintenanceMiddleware, path: str, **extra: str
) -> tuple[str, dict[str, str]]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "REMOTE_ADDR": "203.0.113.7",
        "wsgi.input": io.BytesIO(),
        **extra,
    }
    b"".join(app(environ, start_response))
    return seen["status"], seen["headers"]


def _wait(predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_downtime_step__middleware_503_with_retry_after_while_it_runs__200_after(
    threaded_server: ThreadedServer, tmp_path: Path
) -> None:
    started, go = tmp_path / "started", tmp_path / "go"
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    api = f"{threaded_server.url}/api/v1"
    hold = f"touch {started}; while [ ! -f {go} ]; do sleep 0.05; done"
    for path, body in (
        ("/projects", {"slug": "shop"}),
        ("/projects/shop/services", {"name": "billing-api", "command": "true"}),
        (
            "/projects/shop/services",
            {"name": "web-front", "command": hold, "depends_on": ["billing-api"], "downtime": True},
        ),
        (
            "/projects/shop/releases",
            {"version": "shop@2.3.0", "services": {"billing-api": "1.8.0", "web-front": "2.3.0"}},
        ),
    ):
        assert (
            httpx.post(api + path, json=body, headers=headers, timeout=HTTP_TIMEOUT).status_code
            == 201
        )
    watcher = MaintenanceWatcher(threaded_server.url, "shop", "staging", ttl_s=0.1)
    asgi = TestClient(
        MaintenanceMiddleware(
            _asgi_app, watcher=watcher, bypass_secret="s3cret", allow_networks=["10.0.0.0/8"]
        )
    )
    wsgi = WSGIMaintenanceMiddleware(_wsgi_app, watcher=watcher, bypass_secret="s3cret")
    public = f"{threaded_server.url}/api/v1/maintenance/shop/staging"
    try:
        assert asgi.get("/movies").status_code == 200
        assert httpx.get(public, timeout=HTTP_TIMEOUT).json()["active"] is False

        result = run_cli(
            "--json", "deploy", "start", "shop@2.3.0", "-p", "shop", "-e", "staging",
            "--no-follow", url=threaded_server.url, token=ADMIN_TOKEN,
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
        _wait(started.exists, "the downtime step to start")
        assert httpx.get(public, timeout=HTTP_TIMEOUT).json()["active"] is True
        _wait(lambda: asgi.get("/movies").status_code == 503, "the ASGI middleware to close")

        closed = asgi.get("/movies")
        assert int(closed.headers["retry-after"]) > 0
        assert "Down for maintenance" in closed.text
        assert asgi.get("/healthz").status_code == 200
        assert asgi.get("/movies", headers={"X-Trimtab-Bypass": "s3cret"}).status_code == 200
        assert asgi.get("/movies", headers={"Cookie": "trimtab_bypass=wrong"}).status_code == 503
        status, headers = _wsgi_get(wsgi, "/movies")
        assert status.startswith("503") and int(headers["Retry-After"]) > 0
        assert _wsgi_get(wsgi, "/movies", HTTP_COOKIE="trimtab_bypass=s3cret")[0] == "200 OK"

        go.touch()
        _wait(
            lambda: not httpx.get(public, timeout=HTTP_TIMEOUT).json()["active"],
            "maintenance to end",
        )
        _wait(lambda: asgi.get("/movies").status_code == 200, "the ASGI middleware to open")
        assert _wsgi_get(wsgi, "/movies")[0] == "200 OK"
    finally:
        go.touch()
        watcher.close()


def test_middleware__trimtab_unreachable__fails_open() -> None:
    watcher = MaintenanceWatcher("http://127.0.0.1:9", "shop", "production", ttl_s=0.05)
    try:
        app = WSGIMaintenanceMiddleware(_wsgi_app, watcher=watcher)
        watcher.refresh()
        assert _wsgi_get(app, "/")[0] == "200 OK"
    finally:
        watcher.close()


def test_sdk_maintenance__imports_only_httpx_and_the_standard_library() -> None:
    import ast
    import sys

    import trimtab.sdk.maintenance as module

    tree = ast.parse(Path(module.__file__).read_text())
    roots = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
        if not isinstance(node, ast.ImportFrom) or node.module
    }
    assert roots - set(sys.stdlib_module_names) - {"__future__"} == {"httpx"}
